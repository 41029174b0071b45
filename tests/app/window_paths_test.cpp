// The window's other paths, on the real widgets under Xvfb: "export view" at
// a chosen size through the headless path, the colour dialog driving the
// mixer, a remote slide (an in-process TileServer) with the cursor readout
// giving raw values, the registered / stage positions toggle, and
// interaction frames drawn at a lower resolution that settle at full
// resolution, full-resolution frames drawn in bands that give way to new
// input, and the CPU reference drawing the frames where there is no
// headless OpenGL.
#include <gtest/gtest.h>

#include <QCheckBox>
#include <QColorDialog>
#include <QPushButton>
#include <QTest>
#include <algorithm>
#include <cmath>

#include "app_fixture.h"
#include "vslide/app/channel_panel.h"
#include "vslide/app/side_panels.h"
#include "vslide/remote/slide_library.h"
#include "vslide/remote/tile_server.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide/view/gl_context.h"

namespace vslide::app {
namespace {

using namespace vslide::view;
using namespace vslide::app::testing;

class WindowPathsTest : public ::testing::Test {
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

TEST_F(WindowPathsTest, ExportViewRendersTheViewAtTheChosenSize) {
  auto w = open_window(path_, 700, 500);
  ViewerModel* m = w->model();
  ViewState s = m->state();
  s.zoom = 0.8;
  s.center_x_um = 90;
  s.center_y_um = 70;
  s.display.channels[3].enabled = false;
  m->set_state(s);
  ASSERT_TRUE(settle(*w));
  const std::string out = dir_.file("export.png");
  bool done = false;
  Status result = Status::internal("not called");
  w->export_view(QString::fromStdString(out), 640, 360, [&](Status st) {
    result = st;
    done = true;
  });
  ASSERT_TRUE(wait_until([&] { return done; }, std::chrono::seconds(60)));
  ASSERT_TRUE(result.ok()) << result.to_string();
  auto png = read_png(out);
  ASSERT_TRUE(png.ok()) << png.status().to_string();
  EXPECT_EQ(png->width, 640);
  EXPECT_EQ(png->height, 360);
  // The same region as the canvas shows, fitted into 640 x 360.
  auto slide = Hdf5Slide::open(path_);
  ASSERT_TRUE(slide.ok());
  SlideView view(**slide);
  ASSERT_TRUE(apply_view_state(m->state(), view).ok());
  const Viewport vp = Viewport::fit(m->viewport().rect_um(), 640, 360, (*slide)->geometry().pixel_size_um);
  auto plan = view.plan_complete(vp);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  style_plan(m->state(), &*plan);
  auto ref = render_cpu(*plan);
  ASSERT_TRUE(ref.ok());
  const ImageDiff d = compare_images(*png, *ref);
  EXPECT_LE(d.max_abs, 1) << d.pixels_differing << " pixels differ";
  size_t lit = 0;
  for (uint8_t v : png->pixels) lit += v > 16;
  EXPECT_GT(lit, png->pixels.size() / 20) << "the export is nearly black";

  // A path that cannot be written is an error naming it, not a crash.
  done = false;
  w->export_view("/nonexistent-folder/x.png", 64, 64, [&](Status st) {
    result = st;
    done = true;
  });
  ASSERT_TRUE(wait_until([&] { return done; }, std::chrono::seconds(60)));
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.message().find("/nonexistent-folder/x.png"), std::string::npos) << result.to_string();
}

TEST_F(WindowPathsTest, ColourDialogDrivesTheMixerAndCancelPutsTheColourBack) {
  auto w = open_window(path_, 700, 500);
  ViewerModel* m = w->model();
  const Rgb before = m->state().display.channels[2].color;
  const RgbImage frame_before = shown_frame(*w);
  ChannelPanel* panel = w->channels();
  auto dialog_open = [&] {
    QColorDialog* d = w->findChild<QColorDialog*>("channel_colour_dialog");
    return d && d->isVisible() ? d : nullptr;
  };

  // Chosen and cancelled: previewed while open, the old colour after.
  panel->rows()[2].color->click();
  ASSERT_TRUE(wait_until([&] { return dialog_open() != nullptr; }));
  EXPECT_TRUE(w->isVisible());  // window-modal: the window stays up and drawing
  dialog_open()->setCurrentColor(QColor(255, 128, 0));
  EXPECT_NEAR(m->state().display.channels[2].color.r, 1.0, 1e-6);
  EXPECT_NEAR(m->state().display.channels[2].color.g, 128 / 255.0, 1e-6);
  EXPECT_NEAR(m->state().display.channels[2].color.b, 0.0, 1e-6);
  expect_matches_cpu(*w, path_);
  dialog_open()->reject();
  EXPECT_EQ(m->state().display.channels[2].color.r, before.r);
  EXPECT_EQ(m->state().display.channels[2].color.g, before.g);
  EXPECT_EQ(m->state().display.channels[2].color.b, before.b);

  // Chosen and accepted: the mixer draws channel 3 in the new colour.
  ASSERT_TRUE(wait_until([&] { return dialog_open() == nullptr; }));
  panel->rows()[2].color->click();
  ASSERT_TRUE(wait_until([&] { return dialog_open() != nullptr; }));
  dialog_open()->setCurrentColor(QColor(0, 255, 255));
  dialog_open()->accept();
  EXPECT_NEAR(m->state().display.channels[2].color.r, 0.0, 1e-6);
  EXPECT_NEAR(m->state().display.channels[2].color.g, 1.0, 1e-6);
  EXPECT_NEAR(m->state().display.channels[2].color.b, 1.0, 1e-6);
  expect_matches_cpu(*w, path_);
  EXPECT_GT(compare_images(frame_before, shown_frame(*w)).pixels_differing, 1000u)
      << "the new colour should change the picture";
}

TEST_F(WindowPathsTest, RemoteSlideDrawsAndTheReadoutGivesRawValues) {
  auto library = std::make_shared<remote::SlideLibrary>();
  ASSERT_TRUE(library->add_file(path_).ok());
  remote::TileServerOptions o;
  o.bind = "tcp://127.0.0.1:*";
  auto server = remote::TileServer::start(library, o);
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  auto file = Hdf5Slide::open(path_);
  ASSERT_TRUE(file.ok());
  const std::string url = (*server)->endpoint() + "/" + (*file)->header().slide_id;

  auto w = open_window(url, 700, 500);
  ViewerModel* m = w->model();
  ASSERT_TRUE(m->has_slide());
  EXPECT_EQ(m->state().slide, url);
  expect_matches_cpu(*w, path_);  // the remote slide draws as the file does

  const auto* f = (*file)->index()->find(1, 2);
  ASSERT_NE(f, nullptr);
  const double px = (*file)->geometry().pixel_size_um;
  const int tx = 170, ty = 90;
  ViewState s = m->state();
  s.zoom = 1;
  s.center_x_um = f->field.stage_x_um + (tx + 0.5) * px;
  s.center_y_um = f->field.stage_y_um + (ty + 0.5) * px;
  m->set_state(s);
  ASSERT_TRUE(settle(*w));
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
    auto raw = (*file)->read(TileKey{1, 2, c, 0, 0, 0});
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(r.values[size_t(c)], raw->at(r.px, r.py)) << "channel " << c;
  }
  w.reset();
}

TEST_F(WindowPathsTest, PositionsToggleBetweenRegisteredAndStage) {
  // A registration that moves every field off its stage position.
  const ScanConfig c = small_scan(2, 1);
  const std::string path = dir_.file("registered.h5");
  Registration reg;
  const SyntheticScanner scanner(c);
  for (const auto& f : scanner.fields())
    reg.fields.push_back(FieldPlacement{f.row, f.col, f.stage_x_um + 9 + 2 * f.col, f.stage_y_um - 6 + 3 * f.row, true, 0});
  std::sort(reg.fields.begin(), reg.fields.end(),
            [](const auto& a, const auto& b) { return std::pair{a.row, a.col} < std::pair{b.row, b.col}; });
  reg.channel_offsets = {ChannelOffset{0, 0, 0, 1, 1}, ChannelOffset{1, 0, 0, 1, 1}};
  write_scan(c, path, true, &reg);

  auto w = open_window(path, 700, 500);
  ViewerModel* m = w->model();
  QCheckBox* registered = w->layers()->registered();
  EXPECT_EQ(m->state().positions, Positions::kRegistered);  // the default where the slide has one
  EXPECT_EQ(m->view()->positions(), PositionsMode::kRegistered);
  EXPECT_TRUE(registered->isChecked());
  ViewState s = m->state();
  s.zoom = 1.0;
  s.center_x_um = reg.fields[5].x_um + 40;
  s.center_y_um = reg.fields[5].y_um + 30;
  m->set_state(s);
  expect_matches_cpu(*w, path);
  const RgbImage at_registered = shown_frame(*w);

  w->canvas()->setFocus();
  QTest::keyClick(w->canvas(), Qt::Key_P);
  EXPECT_EQ(m->state().positions, Positions::kStage);
  EXPECT_EQ(m->view()->positions(), PositionsMode::kStage);
  EXPECT_FALSE(registered->isChecked());
  expect_matches_cpu(*w, path);
  EXPECT_GT(compare_images(at_registered, shown_frame(*w)).pixels_differing, 1000u)
      << "the fields should move between registered and stage positions";

  registered->click();
  EXPECT_EQ(m->state().positions, Positions::kRegistered);
  expect_matches_cpu(*w, path);
  EXPECT_EQ(compare_images(at_registered, shown_frame(*w)).max_abs, 0);
}

TEST_F(WindowPathsTest, InteractionFramesDropResolutionThenSettleAtFullResolution) {
  auto w = open_window(path_, 900, 640);
  ViewerModel* m = w->model();
  ViewerCanvas* c = w->canvas();
  std::vector<double> scales;
  QObject::connect(c, &ViewerCanvas::framePainted, c, [&] { scales.push_back(c->last_times().scale); });
  auto drag = [&] {
    QTest::mousePress(c, Qt::LeftButton, {}, QPoint(400, 300));
    for (int i = 1; i <= 12; ++i) {
      QTest::mouseMove(c, QPoint(400 - 10 * i, 300 + 3 * i));
      QTest::qWait(5);
    }
    QTest::mouseRelease(c, Qt::LeftButton, {}, QPoint(280, 336));
  };
  // A budget no full frame fits: frames while the drag goes on are smaller.
  c->set_frame_budget_ms(0.01);
  drag();
  ASSERT_TRUE(settle(*w));
  ASSERT_FALSE(scales.empty());
  EXPECT_LT(*std::min_element(scales.begin(), scales.end()), 1.0) << "no interaction frame was drawn smaller";
  EXPECT_EQ(scales.back(), 1.0) << "the last frame should be full resolution";
  EXPECT_EQ(c->frame_image().width(), m->canvas_size().width());
  expect_matches_cpu(*w, path_);

  // Budget 0: every frame at full resolution.
  c->set_frame_budget_ms(0);
  scales.clear();
  drag();
  ASSERT_TRUE(settle(*w));
  ASSERT_FALSE(scales.empty());
  EXPECT_EQ(*std::min_element(scales.begin(), scales.end()), 1.0);
}

TEST_F(WindowPathsTest, FullFramesInBandsGiveWayToNewInput) {
  auto w = open_window(path_, 900, 640);
  ViewerModel* m = w->model();
  ViewerCanvas* c = w->canvas();
  // A budget far under a full frame's cost: full-resolution frames are
  // drawn in the most bands (8), interaction frames at the least scale.
  c->set_frame_budget_ms(0.05);
  // An edit, then the full-resolution frame that follows once input
  // pauses; while it is being drawn, another edit. A band on llvmpipe is
  // milliseconds, so the edit lands before the last band nearly always;
  // a few tries make sure.
  int tries = 0;
  for (; c->frames_abandoned() == 0 && tries < 10; ++tries) {
    m->pan_px(15, 5);
    ASSERT_TRUE(wait_until([&] { return c->banded_frame_in_flight(); }, std::chrono::seconds(10)));
    m->pan_px(-7, 11);
    ASSERT_TRUE(settle(*w));
  }
  EXPECT_GE(c->frames_abandoned(), 1u) << "a full frame in flight was never given up for new input, " << tries
                                       << " tries";
  // What is shown is the latest state, whole, and drawn in bands it equals
  // the CPU reference.
  EXPECT_EQ(c->painted_version(), m->version());
  EXPECT_EQ(c->last_times().scale, 1.0);
  expect_matches_cpu(*w, path_);
}

TEST_F(WindowPathsTest, WithoutHeadlessGlTheCpuReferenceDrawsTheFrames) {
  // An EGL platform this machine cannot give (no NVIDIA device here): the
  // frame thread falls back to the CPU reference renderer and says so.
  setenv("VSLIDE_EGL", "device", 1);
  if (GlContext::create().ok()) {
    unsetenv("VSLIDE_EGL");
    GTEST_SKIP() << "this machine has an EGL device; the fallback cannot be forced";
  }
  WindowOptions o;
  MainWindow w(o);
  w.resize(700, 500);
  w.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&w));
  ASSERT_TRUE(wait_until([&] { return !w.canvas()->renderer().empty(); }));
  unsetenv("VSLIDE_EGL");
  EXPECT_EQ(w.canvas()->renderer().rfind("CPU reference", 0), 0u) << w.canvas()->renderer();
  ASSERT_TRUE(w.model()->open_now(path_).ok());
  expect_matches_cpu(w, path_);
}

}  // namespace
}  // namespace vslide::app
