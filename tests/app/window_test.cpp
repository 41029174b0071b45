// Interaction tests on the real window under Xvfb (Mesa llvmpipe): input
// edits the ViewState as it should, the canvas shows what the CPU reference
// renderer draws for the same state, the readout reads raw tiles, a live
// slide grows, a corrupt tile does not stop navigation.
#include <gtest/gtest.h>

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QSpinBox>
#include <QLabel>
#include <QPushButton>
#include <QTest>
#include <QWheelEvent>
#include <cmath>
#include <fstream>
#include <iterator>

#include "app_fixture.h"
#include "vslide/app/channel_panel.h"
#include "vslide/app/side_panels.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/view/cpu_renderer.h"

namespace vslide::app {
namespace {

using namespace vslide::view;
using namespace vslide::app::testing;
using std::chrono::milliseconds;

class WindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!ensure_app(&why)) GTEST_SKIP() << "no X server: " << why;
    setenv("VSLIDE_DISPLAY_DIR", dir_.file("display").c_str(), 1);
    path_ = dir_.file("slide.h5");
    write_scan(small_scan(), path_);
  }
  vslide::testing::TempDir dir_;
  std::string path_;
};

TEST_F(WindowTest, DragWheelAndKeysEditTheViewState) {
  auto w = open_window(path_);
  ViewerModel* m = w->model();
  ViewerCanvas* c = w->canvas();
  const Viewport fit = m->viewport();
  EXPECT_EQ(m->state().zoom, 0);  // fitted

  // Drag 100 px right and 40 px down: the slide moves with the mouse.
  QTest::mousePress(c, Qt::LeftButton, {}, QPoint(300, 300));
  QTest::mouseMove(c, QPoint(350, 320));
  QTest::mouseMove(c, QPoint(400, 340));
  QTest::mouseRelease(c, Qt::LeftButton, {}, QPoint(400, 340));
  EXPECT_NEAR(m->state().center_x_um, fit.center_x_um - 100 / fit.px_per_um(), 1e-6);
  EXPECT_NEAR(m->state().center_y_um, fit.center_y_um - 40 / fit.px_per_um(), 1e-6);

  // One wheel notch up zooms in by sqrt(2) about the cursor: the slide
  // point under the cursor stays under it.
  const Viewport before = m->viewport();
  const QPointF at(200, 150);
  const double wx = before.rect_um().x0 + at.x() / before.px_per_um();
  QWheelEvent wheel(at, c->mapToGlobal(at), QPoint(), QPoint(0, 120), Qt::NoButton, Qt::NoModifier,
                    Qt::NoScrollPhase, false);
  QApplication::sendEvent(c, &wheel);
  const Viewport after = m->viewport();
  EXPECT_NEAR(after.zoom, before.zoom * std::sqrt(2.0), 1e-9);
  EXPECT_NEAR(after.rect_um().x0 + at.x() / after.px_per_um(), wx, 1e-6);

  c->setFocus();
  QTest::keyClick(c, Qt::Key_Plus);
  EXPECT_NEAR(m->viewport().zoom, after.zoom * std::sqrt(2.0), 1e-9);
  QTest::keyClick(c, Qt::Key_Minus);
  EXPECT_NEAR(m->viewport().zoom, after.zoom, 1e-9);
  const double cx = m->state().center_x_um;
  QTest::keyClick(c, Qt::Key_Left);  // pan left: the view moves towards smaller x
  EXPECT_NEAR(m->state().center_x_um, cx - 100 / m->viewport().px_per_um(), 1e-6);
  QTest::mouseDClick(c, Qt::LeftButton, {}, QPoint(450, 320));
  EXPECT_NEAR(m->viewport().zoom, after.zoom * 2, 1e-9);
  QTest::keyClick(c, Qt::Key_Home);
  EXPECT_EQ(m->state().zoom, 0);
  QTest::keyClick(c, Qt::Key_T);
  EXPECT_TRUE(m->state().tile_outlines);
  QTest::keyClick(c, Qt::Key_2);  // channel 2 off
  EXPECT_FALSE(m->state().display.channels[1].enabled);
  QTest::keyClick(c, Qt::Key_PageUp);  // next z plane
  EXPECT_EQ(m->state().z, 1);
  EXPECT_TRUE(settle(*w));
}

TEST_F(WindowTest, ZoomHonoursTheZoomManager) {
  auto w = open_window(path_);
  ViewerModel* m = w->model();
  ASSERT_TRUE(m->view()->zoom().exclude(0.5, 2.0).ok());
  m->zoom_by(0.4 / m->viewport().zoom, QPointF(100, 100));  // to 0.4
  EXPECT_NEAR(m->viewport().zoom, 0.4, 1e-9);
  m->zoom_by(1.5, QPointF(100, 100));  // 0.6 lies in (0.5, 2): snaps up to 2 while zooming in
  EXPECT_NEAR(m->viewport().zoom, 2.0, 1e-9);
  m->zoom_by(0.5, QPointF(100, 100));  // 1.0: snaps down to 0.5 while zooming out
  EXPECT_NEAR(m->viewport().zoom, 0.5, 1e-9);
  m->zoom_by(1e9, QPointF(100, 100));
  EXPECT_NEAR(m->viewport().zoom, m->view()->zoom().max_zoom(), 1e-9);
}

TEST_F(WindowTest, MinimapChannelPanelAndHistogramEditTheState) {
  auto w = open_window(path_);
  ViewerModel* m = w->model();
  m->zoom_step(4, QPointF(450, 320));  // zoom in so the minimap rectangle is small
  ASSERT_TRUE(settle(*w));
  Minimap* mini = w->minimap();
  ASSERT_TRUE(wait_until([&] { return mini->ready(); }));
  const QPoint click(mini->width() / 3, mini->height() / 2);
  const QPointF target = mini->to_um(click);
  QTest::mouseClick(mini, Qt::LeftButton, {}, click);
  EXPECT_NEAR(m->state().center_x_um, target.x(), 1e-6);
  EXPECT_NEAR(m->state().center_y_um, target.y(), 1e-6);

  ChannelPanel* panel = w->channels();
  ASSERT_EQ(panel->rows().size(), 5u);  // more than 4 channels, each with its row
  const auto& r0 = panel->rows()[0];
  r0.visible->click();
  EXPECT_FALSE(m->state().display.channels[0].enabled);
  r0.visible->click();
  EXPECT_TRUE(m->state().display.channels[0].enabled);
  r0.low->setValue(321);
  EXPECT_EQ(m->state().display.channels[0].low, 321);
  r0.high->setValue(2345);
  EXPECT_EQ(m->state().display.channels[0].high, 2345);
  r0.gamma->setValue(0.7);
  EXPECT_NEAR(m->state().display.channels[0].gamma, 0.7, 1e-6);
  // A gamma the renderers refuse (render --gamma, a --display file) is not
  // taken by the window either, whatever sets it.
  EXPECT_EQ(r0.gamma->maximum(), view::kMaxGamma);
  m->set_channel_gamma(m->state().display.channels[0].channel, 50.0f);
  m->set_channel_gamma(m->state().display.channels[0].channel, 0.01f);
  EXPECT_NEAR(m->state().display.channels[0].gamma, 0.7, 1e-6);

  // Histogram of the visible region, then a handle dragged.
  ASSERT_TRUE(settle(*w));
  ASSERT_TRUE(wait_until([&] { return !m->histograms().empty(); }));
  HistogramWidget* h = panel->histogram();
  panel->select(0);
  const int hy = h->height() / 2;
  QTest::mousePress(h, Qt::LeftButton, {}, QPoint(int(h->x_of(2345)), hy));
  QTest::mouseMove(h, QPoint(int(h->x_of(3000)), hy));
  QTest::mouseRelease(h, Qt::LeftButton, {}, QPoint(int(h->x_of(3000)), hy));
  EXPECT_NEAR(m->state().display.channels[0].high, 3000, h->range_max() / (h->width() - 8) + 1);
  EXPECT_EQ(m->state().display.channels[0].low, 321);

  // Auto-contrast from the percentiles of what is visible, then reset.
  ASSERT_TRUE(m->auto_contrast(0).ok());
  const auto& hist = m->histograms()[0];
  EXPECT_EQ(m->state().display.channels[0].low, hist.percentile(0.005));
  r0.reset->click();
  EXPECT_EQ(m->state().display.channels[0].low, float(m->slide()->channels()[0].contrast_low));
}

TEST_F(WindowTest, CanvasEqualsTheCpuReferenceForTheSameState) {
  auto w = open_window(path_, 700, 500);
  ViewerModel* m = w->model();
  expect_matches_cpu(*w, path_);  // fitted, 5 channels (two passes)
  ViewState s = m->state();
  s.zoom = 1.6;  // magnified past raw
  s.center_x_um = 60;
  s.center_y_um = 50;
  s.display.channels[1].enabled = false;
  s.display.channels[0].gamma = 0.6f;
  s.display.channels[2].color = Rgb{1, 0.5f, 0};
  s.tile_outlines = true;
  s.z = 1;
  m->set_state(s);
  expect_matches_cpu(*w, path_);
}

TEST_F(WindowTest, CursorReadoutIsTheRawTileValue) {
  auto w = open_window(path_, 700, 500);
  ViewerModel* m = w->model();
  auto slide = Hdf5Slide::open(path_);
  ASSERT_TRUE(slide.ok());
  const auto* f = (*slide)->index()->find(1, 2);
  ASSERT_NE(f, nullptr);
  const double px = (*slide)->geometry().pixel_size_um;
  const int tx = 150, ty = 120;  // the middle of tile (1,2): no neighbour overlaps it
  ViewState s = m->state();
  s.zoom = 1;
  s.center_x_um = f->field.stage_x_um + (tx + 0.5) * px;
  s.center_y_um = f->field.stage_y_um + (ty + 0.5) * px;
  m->set_state(s);
  ASSERT_TRUE(settle(*w));
  // The canvas pixel over raw pixel (tx, ty) at zoom 1, as the renderers
  // sample: the pixel whose centre falls in that raw pixel.
  const Viewport vp = m->viewport();
  const RectUm view = vp.rect_um();
  const int sx = int(std::ceil((f->field.stage_x_um + tx * px - view.x0) * vp.px_per_um() - 0.5));
  const int sy = int(std::ceil((f->field.stage_y_um + ty * px - view.y0) * vp.px_per_um() - 0.5));
  // From a neighbouring pixel first: a move to where the pointer already is
  // makes no event.
  QTest::mouseMove(w->canvas(), QPoint(sx + 7, sy + 5));
  QTest::mouseMove(w->canvas(), QPoint(sx, sy));
  ASSERT_TRUE(wait_until([&] { return !m->readout().values.empty(); }));
  const Readout& r = m->readout();
  EXPECT_EQ(r.row, 1);
  EXPECT_EQ(r.col, 2);
  EXPECT_EQ(r.px, tx);
  EXPECT_EQ(r.py, ty);
  ASSERT_EQ(r.values.size(), 5u);
  for (int c = 0; c < 5; ++c) {
    auto raw = (*slide)->read(TileKey{1, 2, c, 0, 0, 0});
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(r.values[size_t(c)], raw->at(r.px, r.py)) << "channel " << c;
  }
  EXPECT_NE(w->readout_label()->text().indexOf("field (1,2)"), -1);
}

}  // namespace
}  // namespace vslide::app
