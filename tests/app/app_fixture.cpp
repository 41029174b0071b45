#include "app_fixture.h"

#include <QElapsedTimer>
#include <QTest>
#include <cstring>
#include <QThreadPool>
#include <cstdlib>

#include "vslide/storage/hdf5_slide.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide/view/view_state.h"

namespace vslide::app::testing {

using namespace vslide::view;

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

void write_scan(const ScanConfig& c, const std::string& path, bool finish, const Registration* registration) {
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
  if (registration) {
    const Status s = (*slide)->write_registration(*registration);
    EXPECT_TRUE(s.ok()) << s.to_string();
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

std::unique_ptr<MainWindow> open_window(const std::string& slide, int w, int h) {
  WindowOptions o;
  auto win = std::make_unique<MainWindow>(o);
  win->resize(w, h);
  win->show();
  EXPECT_TRUE(QTest::qWaitForWindowExposed(win.get()));
  win->activateWindow();
  EXPECT_TRUE(QTest::qWaitForWindowActive(win.get()));
  const Status s = win->model()->open_now(slide);
  EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(settle(*win));
  return win;
}

RgbImage shown_frame(MainWindow& w) {
  const QImage shown = w.canvas()->frame_image().convertToFormat(QImage::Format_RGB888);
  RgbImage got;
  got.width = shown.width();
  got.height = shown.height();
  got.pixels.resize(size_t(got.width) * size_t(got.height) * 3);
  for (int y = 0; y < got.height; ++y) std::memcpy(got.at(0, y), shown.constScanLine(y), size_t(got.width) * 3);
  return got;
}

void expect_matches_cpu(MainWindow& w, const std::string& path) {
  ASSERT_TRUE(settle(w));
  const QImage shown = w.canvas()->frame_image().convertToFormat(QImage::Format_RGB888);
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok());
  SlideView view(**slide);
  ASSERT_TRUE(apply_view_state(w.model()->state(), view).ok());
  const Viewport vp = w.model()->viewport();
  ASSERT_EQ(shown.width(), vp.width_px);
  ASSERT_EQ(shown.height(), vp.height_px);
  auto plan = view.plan_complete(vp);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  style_plan(w.model()->state(), &*plan);
  auto ref = render_cpu(*plan);
  ASSERT_TRUE(ref.ok());
  RgbImage got;
  got.width = shown.width();
  got.height = shown.height();
  got.pixels.resize(size_t(got.width) * size_t(got.height) * 3);
  for (int y = 0; y < got.height; ++y) std::memcpy(got.at(0, y), shown.constScanLine(y), size_t(got.width) * 3);
  const ImageDiff d = compare_images(got, *ref);
  EXPECT_LE(d.max_abs, 1) << d.pixels_differing << " pixels differ";
  size_t lit = 0;
  for (uint8_t v : got.pixels) lit += v > 16;
  EXPECT_GT(lit, got.pixels.size() / 20) << "the frame is nearly black";
}

}  // namespace vslide::app::testing
