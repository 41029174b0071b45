#include "app_fixture.h"

#include <QElapsedTimer>
#include <QThreadPool>
#include <cstdlib>

#include "vslide/storage/hdf5_slide.h"

namespace vslide::app::testing {

bool ensure_app(std::string* why) {
  static std::unique_ptr<XvfbServer> xvfb;
  static std::string failure;
  static bool tried = false;
  if (!tried) {
    tried = true;
    auto x = XvfbServer::start(1600, 1000);
    if (!x.ok()) {
      failure = x.status().to_string();
    } else {
      xvfb = std::move(*x);
      setenv("DISPLAY", xvfb->display().c_str(), 1);
      setenv("QT_QPA_PLATFORM", "xcb", 1);
      static int argc = 1;
      static char name[] = "app_tests";
      static char* argv[] = {name, nullptr};
      new QApplication(argc, argv);  // lives for the test program
    }
  }
  if (why) *why = failure;
  return xvfb != nullptr;
}

ScanConfig small_scan(int channels, int z) {
  ScanConfig c;
  c.rows = 3;
  c.cols = 4;
  c.channels = channels;
  c.z_planes = z;
  c.tile_width = 320;
  c.tile_height = 256;
  c.overlap = 0.1;
  c.shear_deg = 0.2;
  c.seed = 5;
  return c;
}

void write_scan(const ScanConfig& c, const std::string& path, bool finish) {
  SyntheticScanner scanner(c);
  CreateOptions o;
  o.overwrite = true;
  auto slide = Hdf5Slide::create(path, scanner.header(), scanner.geometry(), scanner.channels(), o);
  if (!slide.ok()) std::abort();
  for (const auto& f : scanner.fields()) {
    (void)(*slide)->write_field(f);
    for (int t = 0; t < c.timepoints; ++t)
      for (int z = 0; z < c.z_planes; ++z)
        for (int ch = 0; ch < c.channels; ++ch) {
          const TileKey k{f.row, f.col, ch, z, t, 0};
          (void)(*slide)->write_plane(k, scanner.render(k).view());
        }
  }
  if (finish) (void)(*slide)->finish();
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  QElapsedTimer t;
  t.start();
  while (!done()) {
    if (t.elapsed() > timeout.count()) return false;
    QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
  }
  return true;
}

bool settle(MainWindow& w, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        return w.canvas()->settled() && QThreadPool::globalInstance()->activeThreadCount() == 0;
      },
      timeout);
}

}  // namespace vslide::app::testing
