// The window tests' main: gtest, plus a helper mode the live-slide test
// runs as a separate process (a scanner writing a slide while the window
// reads it): app_tests --live-writer PATH FIELDS_FIRST DELAY_MS
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <thread>

#include "app_fixture.h"
#include "vslide/storage/hdf5_slide.h"

namespace {

int live_writer(const char* path, int first, int delay_ms) {
  using namespace vslide;
  const ScanConfig c = app::testing::small_scan(2, 1);
  SyntheticScanner scanner(c);
  CreateOptions o;
  o.overwrite = true;
  o.swmr = true;
  auto slide = Hdf5Slide::create(path, scanner.header(), scanner.geometry(), scanner.channels(), o);
  if (!slide.ok()) return 2;
  int n = 0;
  for (const auto& f : scanner.fields()) {
    if (!(*slide)->write_field(f).ok()) return 3;
    for (int ch = 0; ch < c.channels; ++ch) {
      const TileKey k{f.row, f.col, ch, 0, 0, 0};
      if (!(*slide)->write_plane(k, scanner.render(k).view()).ok()) return 4;
    }
    if (!(*slide)->flush().ok()) return 5;
    if (++n == first) {
      // Tell the test the first fields are readable, then keep scanning.
      std::string ready = std::string(path) + ".ready";
      if (FILE* fp = std::fopen(ready.c_str(), "w")) std::fclose(fp);
    }
    if (n >= first) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  }
  // Not finish(): it reopens the file, which HDF5's file lock refuses while
  // a reader (the window) has it open (reported to storage's owner). The
  // fields are flushed; the slide stays "scanning", as after a writer crash.
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--live-writer") == 0) {
    return live_writer(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  }
  // No session bus under Xvfb: without an address libdbus "autolaunches" one,
  // forking this multithreaded process (Qt's accessibility bridge asks for the
  // bus when the first dock widget is made). Under AddressSanitizer the forked
  // child can block forever on an allocator lock another thread held at the
  // fork (seen: WindowTest.DragWheelAndKeysEditTheViewState hung in CI). An
  // address that is not a bus makes the bridge give up at once; the `vslide
  // view` processes the tests start inherit it.
  setenv("DBUS_SESSION_BUS_ADDRESS", "disabled:", 0);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
