// A writer killed with SIGKILL leaves a file readable up to its last flushed tile,
// and recovery (OpenMode::kAppend) can complete it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/testing.h"
#include "slide_fixture.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide {
namespace {

void killed_writer(const std::string& path, bool swmr, const MosaicGeometry& g) {
  CreateOptions opt;
  opt.swmr = swmr;
  auto s = Hdf5Slide::create(path, testing::test_header(), g, default_channels(g.channels), opt);
  if (!s.ok()) _exit(3);
  for (int c = 0; c < g.cols; ++c) {
    if (!(*s)->write_field(FieldOfView{0, c, c * 10.0, 0, 0, 0}).ok()) _exit(4);
    for (int ch = 0; ch < g.channels; ++ch) {
      if (!(*s)->write_plane(TileKey{0, c, ch}, testing::test_plane(g, TileKey{0, c, ch})).ok()) _exit(5);
    }
    if (c == 2 && !(*s)->flush().ok()) _exit(6);
    if (c == 3) kill(getpid(), SIGKILL);  // field 3 written but never flushed
  }
  _exit(7);
}

TEST(Crash, KilledWriterLeavesReadableFile) {
  for (bool swmr : {true, false}) {
    testing::TempDir dir;
    auto g = testing::test_geometry(1, 6, 2, 1, 1, 32, 32);
    const std::string path = dir.file("killed.h5");
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) killed_writer(path, swmr, g);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited with " << WEXITSTATUS(status);

    auto r = Hdf5Slide::open(path);
    ASSERT_TRUE(r.ok()) << "swmr=" << swmr << ": " << r.status().to_string();
    EXPECT_EQ((*r)->state(), SlideState::kScanning);
    const size_t complete = (*r)->index()->fields_complete();
    EXPECT_GE(complete, 3u) << "swmr=" << swmr;
    for (const auto& e : (*r)->index()->entries()) {
      for (int ch = 0; ch < g.channels; ++ch) {
        if (!e.planes[size_t(ch)]) continue;
        auto img = (*r)->read(TileKey{0, e.field.col, ch});
        ASSERT_TRUE(img.ok()) << img.status().to_string();
        EXPECT_TRUE(*img == testing::test_plane(g, TileKey{0, e.field.col, ch}));
      }
    }
    r->reset();

    auto rec = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(rec.ok()) << "swmr=" << swmr << ": " << rec.status().to_string();
    for (int c = 0; c < g.cols; ++c) {
      if ((*rec)->index()->find(0, c) && (*rec)->index()->find(0, c)->planes[1]) continue;
      ASSERT_TRUE((*rec)->write_field(FieldOfView{0, c, c * 10.0, 0, 0, 0}).ok());
      for (int ch = 0; ch < g.channels; ++ch) {
        ASSERT_TRUE((*rec)->write_plane(TileKey{0, c, ch}, testing::test_plane(g, TileKey{0, c, ch})).ok());
      }
    }
    ASSERT_TRUE((*rec)->finish(SlideState::kRecovered).ok());
    rec->reset();
    auto done = Hdf5Slide::open(path);
    ASSERT_TRUE(done.ok()) << done.status().to_string();
    EXPECT_EQ((*done)->state(), SlideState::kRecovered);
    EXPECT_EQ((*done)->index()->fields_complete(), 6u);
    for (int c = 0; c < g.cols; ++c) {
      auto img = (*done)->read(TileKey{0, c, 1});
      ASSERT_TRUE(img.ok()) << img.status().to_string();
      EXPECT_TRUE(*img == testing::test_plane(g, TileKey{0, c, 1}));
    }
  }
}

}  // namespace
}  // namespace vslide
