// A live slide grows in the window while a writer process scans it; a
// corrupt tile is a placeholder with a message and navigation goes on; a
// file that is not a slide is refused with a reason.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QLabel>
#include <QTest>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "app_fixture.h"
#include "vslide/storage/hdf5_slide.h"

extern char** environ;

namespace vslide::app {
namespace {

using namespace vslide::view;
using namespace vslide::app::testing;

class LiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!ensure_app(&why)) GTEST_SKIP() << "no X server: " << why;
    setenv("VSLIDE_DISPLAY_DIR", dir_.file("display").c_str(), 1);
  }
  vslide::testing::TempDir dir_;
};

TEST_F(LiveTest, ALiveSlideGrowsWhileTheWriterScans) {
  const std::string path = dir_.file("live.h5");
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<std::string> args = {self, "--live-writer", path, "2", "150"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), environ), 0);
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(path + ".ready"); }, std::chrono::seconds(30)));

  MainWindow w(WindowOptions{});
  w.resize(700, 500);
  w.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&w));
  ViewerModel* m = w.model();
  m->set_live_period_ms(100);
  ASSERT_TRUE(m->open_now(path).ok());
  EXPECT_TRUE(m->live());
  const size_t first = m->view()->tree().size();
  EXPECT_GE(first, 2u);
  EXPECT_LT(first, 12u);
  // New fields show without a reopen, and the view follows to the end.
  ASSERT_TRUE(wait_until([&] { return m->view()->tree().size() > first; }, std::chrono::seconds(20)));
  // (An SWMR reader does not see the writer's final state attribute, so the
  // window keeps polling a finished slide; harmless.)
  ASSERT_TRUE(wait_until([&] { return m->view()->tree().size() == 12u; }, std::chrono::seconds(30)))
      << m->view()->tree().size() << " fields";
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_TRUE(settle(w));
  EXPECT_EQ(w.canvas()->last_info().tiles_visible, 12u);
}

// Flips a byte inside one stored chunk on disk (found by its bytes).
void corrupt_chunk(const std::string& path, const StoredTile& tile) {
  std::ifstream in(path, std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto& bytes = tile.blocks.at(0).bytes;
  const auto pos = file.find(std::string(bytes.begin(), bytes.end()));
  ASSERT_NE(pos, std::string::npos);
  file[pos + bytes.size() / 2] ^= 0x5a;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << file;
}

TEST_F(LiveTest, ACorruptTileIsAPlaceholderAndNavigationGoesOn) {
  const std::string path = dir_.file("bad.h5");
  write_scan(small_scan(2, 1), path);
  {
    auto slide = Hdf5Slide::open(path);
    ASSERT_TRUE(slide.ok());
    auto st = (*slide)->read_chunk(TileKey{1, 1, 0});
    ASSERT_TRUE(st.ok());
    slide->reset();
    corrupt_chunk(path, *st);
  }
  MainWindow w(WindowOptions{});
  w.resize(700, 500);
  w.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&w));
  ViewerModel* m = w.model();
  ViewState s;
  ASSERT_TRUE(m->open_now(path).ok());
  s = m->state();
  s.zoom = 1;  // raw tiles: the corrupt one is read
  auto slide = Hdf5Slide::open(path);
  const auto* f = (*slide)->index()->find(1, 1);
  s.center_x_um = f->field.stage_x_um + 20;
  s.center_y_um = f->field.stage_y_um + 20;
  m->set_state(s);
  ASSERT_TRUE(settle(w));
  EXPECT_EQ(w.canvas()->last_info().placeholders, 1u);
  EXPECT_NE(w.status_label()->text().indexOf("tile (1,1)"), -1) << w.status_label()->text().toStdString();
  // Navigation goes on: pan away, zoom, all complete.
  QTest::mousePress(w.canvas(), Qt::LeftButton, {}, QPoint(300, 300));
  QTest::mouseMove(w.canvas(), QPoint(100, 300));
  QTest::mouseRelease(w.canvas(), Qt::LeftButton, {}, QPoint(100, 300));
  EXPECT_NE(m->state().center_x_um, s.center_x_um);
  ASSERT_TRUE(settle(w));
  m->fit();
  ASSERT_TRUE(settle(w));
  EXPECT_LE(w.canvas()->last_info().placeholders, 1u);  // a coarse layer computed from the raw tile fails too
}

TEST_F(LiveTest, AFileThatIsNotASlideIsRefusedWithAReason) {
  const std::string path = dir_.file("notes.h5");
  std::ofstream(path) << "this is not an HDF5 slide\n";
  MainWindow w(WindowOptions{});
  ViewerModel* m = w.model();
  QString why;
  QObject::connect(m, &ViewerModel::openFailed, [&](const QString&, const QString& reason, bool) { why = reason; });
  EXPECT_FALSE(m->open_now(path).ok());
  EXPECT_FALSE(m->has_slide());
  EXPECT_NE(why.indexOf("notes.h5"), -1) << why.toStdString();
}

}  // namespace
}  // namespace vslide::app
