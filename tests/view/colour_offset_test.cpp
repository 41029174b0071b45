// Colour registration at render time (issue 13): the stored per-channel
// offsets (Registration::channel_offsets) move where each channel is
// sampled, in the GL renderer and the CPU reference alike, when fields are
// drawn at their registered positions.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>

#include "common/testing.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide/view/gl_renderer.h"
#include "vslide/view/slide_view.h"

namespace vslide::view {
namespace {

using std::chrono::milliseconds;

constexpr int kW = 96, kH = 72;

// Raw value of channel c at (x, y): below 255, so a window of 0..255 shows
// it unchanged in 8 bits; a 3 px x / 2 px y shift changes it.
uint16_t raw_value(int c, int x, int y) { return uint16_t((x * 7 + y * 13 + c * 50) % 250 + 2); }

// A one-field, two-channel slide with hand-made planes and a registration
// that puts channel 1 at (dx, dy) = (3, -2) from channel 0.
std::string write_registered_slide(const testing::TempDir& dir) {
  ScanConfig config;
  config.rows = 1;
  config.cols = 1;
  config.channels = 2;
  config.tile_width = kW;
  config.tile_height = kH;
  config.seed = 5;
  SyntheticScanner scanner(config);
  const std::string path = dir.file("slide.h5");
  const FieldOfView field = scanner.fields().at(0);
  Registration reg;
  reg.fields.push_back(FieldPlacement{field.row, field.col, field.stage_x_um, field.stage_y_um, true, 0});
  reg.channel_offsets = {ChannelOffset{0, 0, 0, 1, 1}, ChannelOffset{1, 3, -2, 1, 0.9}};
  auto made = Hdf5Slide::create(path, scanner.header(), scanner.geometry(), scanner.channels(), CreateOptions{});
  if (!made.ok()) {
    ADD_FAILURE() << made.status().to_string();
    return path;
  }
  EXPECT_TRUE((*made)->write_field(field).ok());
  Image16 img(kW, kH);
  for (int c = 0; c < 2; ++c) {
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x) img.at(x, y) = raw_value(c, x, y);
    EXPECT_TRUE((*made)->write_plane(TileKey{field.row, field.col, c}, img.view()).ok());
  }
  EXPECT_TRUE((*made)->write_registration(reg).ok());
  EXPECT_TRUE((*made)->finish().ok());
  return path;
}

// One GL context and renderer (EGL: llvmpipe in CI) for the suite.
struct GlRig {
  std::unique_ptr<GlContext> context;
  std::unique_ptr<GlRenderer> renderer;
  Status open() {
    VSLIDE_ASSIGN_OR_RETURN(context, GlContext::create());
    VSLIDE_ASSIGN_OR_RETURN(renderer, GlRenderer::create(context.get(), 64 << 20));
    return Status();
  }
};

class ColourOffsetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Status s = gl_.open();
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  static void TearDownTestSuite() {
    gl_.renderer.reset();
    gl_.context.reset();
  }
  // GL against the CPU reference, within one 8-bit step; returns the CPU frame.
  static RgbImage expect_gl_matches_cpu(const FramePlan& plan, const std::string& what) {
    auto cpu = render_cpu(plan);
    EXPECT_TRUE(cpu.ok()) << cpu.status().to_string();
    auto gpu = gl_.renderer->render(plan);
    EXPECT_TRUE(gpu.ok()) << gpu.status().to_string();
    if (!cpu.ok() || !gpu.ok()) return {};
    const ImageDiff d = compare_images(*cpu, *gpu);
    EXPECT_LE(d.max_abs, 1) << what << ": " << d.pixels_differing << " pixels differ";
    return std::move(*cpu);
  }
  static GlRig gl_;
};
GlRig ColourOffsetTest::gl_;

TEST_F(ColourOffsetTest, StoredOffsetMovesChannelOneInGlAndCpuAlike) {
  testing::TempDir dir;
  const std::string path = write_registered_slide(dir);
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok()) << slide.status().to_string();
  SlideView view(**slide);  // registered positions by default
  ASSERT_EQ(view.positions(), PositionsMode::kRegistered);
  DisplaySettings display = view.display();
  ASSERT_EQ(display.channels.size(), 2u);
  display.channels[0] = ChannelDisplay{0, Rgb{1, 0, 0}, 0, 255, 1, true};
  display.channels[1] = ChannelDisplay{1, Rgb{0, 1, 0}, 0, 255, 1, true};
  ASSERT_TRUE(view.set_display(display).ok());

  // One screen pixel per camera pixel, the field filling the frame with a margin.
  const RectUm b = view.slide_bounds();
  const Viewport vp{(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, 1.0, kW - 16, kH - 16,
                    (*slide)->geometry().pixel_size_um};
  auto plan = view.plan_complete(vp, nullptr, milliseconds(60000));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_EQ(plan->tiles.size(), 1u);
  ASSERT_EQ(plan->tiles[0].level, 0);
  ASSERT_EQ(plan->channel_offsets.size(), 2u);
  EXPECT_EQ(plan->channel_offsets[1].dx_px, 3);
  EXPECT_EQ(plan->channel_offsets[1].dy_px, -2);
  const RgbImage cpu = expect_gl_matches_cpu(*plan, "registered");
  ASSERT_EQ(cpu.width, vp.width_px);

  const TileDraw& d = plan->tiles[0];
  const DrawTransform t = draw_transform(plan->viewport, d.x_um, d.y_um, d.um_per_texel);
  auto texel = [&](int px, int py) {
    return std::pair<int, int>{int(std::floor((float(px) + 0.5f - t.origin_x) * t.inv_scale)),
                               int(std::floor((float(py) + 0.5f - t.origin_y) * t.inv_scale))};
  };
  // A known pixel: red is channel 0 there, green channel 1 three texels
  // right and two up.
  const int px = vp.width_px / 2, py = vp.height_px / 2;
  const auto [tx, ty] = texel(px, py);
  ASSERT_GE(ty, 2);
  ASSERT_LT(tx + 3, kW);
  EXPECT_EQ(cpu.at(px, py)[0], raw_value(0, tx, ty));
  EXPECT_EQ(cpu.at(px, py)[1], raw_value(1, tx + 3, ty - 2));
  EXPECT_NE(raw_value(1, tx + 3, ty - 2), raw_value(1, tx, ty));  // the test can tell
  // Every covered pixel follows the rule.
  size_t checked = 0;
  for (int y = 0; y < cpu.height; ++y) {
    for (int x = 0; x < cpu.width; ++x) {
      const auto [u, v] = texel(x, y);
      if (u < 0 || u >= kW || v < 0 || v >= kH) continue;
      const bool in1 = u + 3 < kW && v - 2 >= 0;
      ASSERT_EQ(cpu.at(x, y)[0], raw_value(0, u, v)) << x << "," << y;
      ASSERT_EQ(cpu.at(x, y)[1], in1 ? raw_value(1, u + 3, v - 2) : 0) << x << "," << y;
      ++checked;
    }
  }
  EXPECT_EQ(checked, size_t(vp.width_px) * size_t(vp.height_px));

  // Outside the field for channel 1: a frame whose top edge is the field's.
  Viewport top = vp;
  top.center_y_um = b.y0 + vp.height_px * vp.pixel_size_um / 2;
  auto plan_top = view.plan_complete(top, nullptr, milliseconds(60000));
  ASSERT_TRUE(plan_top.ok()) << plan_top.status().to_string();
  const RgbImage cpu_top = expect_gl_matches_cpu(*plan_top, "registered, top edge");
  ASSERT_EQ(cpu_top.height, top.height_px);
  EXPECT_EQ(cpu_top.at(px, 1)[1], 0);  // channel 1 would read row -1
  EXPECT_NE(cpu_top.at(px, 1)[0], 0);  // channel 0 still covers it

  // Stage positions: the raw planes, unshifted.
  view.set_positions(PositionsMode::kStage);
  auto stage = view.plan_complete(vp, nullptr, milliseconds(60000));
  ASSERT_TRUE(stage.ok()) << stage.status().to_string();
  EXPECT_TRUE(stage->channel_offsets.empty());
  const RgbImage raw = expect_gl_matches_cpu(*stage, "stage");
  ASSERT_EQ(raw.width, vp.width_px);
  EXPECT_EQ(raw.at(px, py)[1], raw_value(1, tx, ty));
}

// Fractional offsets, a magnification, several channel groups, coarser
// layers and a magnified view: GL equals the CPU reference.
FramePlan offset_scene(int channels, int level, double zoom_extra, uint32_t seed) {
  std::mt19937 rng(seed);
  FramePlan plan;
  const Rgb palette[] = {{0, 0, 1}, {0, 1, 0}, {1, 0, 0}, {1, 0, 1}, {0, 1, 1}, {1, 1, 0}};
  for (int c = 0; c < channels; ++c)
    plan.display.channels.push_back(ChannelDisplay{c, palette[c % 6], 0, 4095, c == 2 ? 0.7f : 1.0f, true});
  std::uniform_real_distribution<double> off(-6, 6);
  for (int c = 0; c < channels; ++c)
    plan.channel_offsets.push_back(ChannelOffset{c, c ? off(rng) : 0, c ? off(rng) : 0, c == 3 ? 1.013 : 1, 1});
  const int f = 1 << level, w = (kW + f - 1) / f, h = (kH + f - 1) / f;
  const double um = 0.5;
  RectUm bounds;
  std::uniform_int_distribution<int> noise(0, 300);
  for (int r = 0; r < 2; ++r) {
    for (int col = 0; col < 3; ++col) {
      TileDraw d;
      d.row = r;
      d.col = col;
      d.level = level;
      d.x_um = col * kW * um * 0.9 + 0.37 * r;
      d.y_um = r * kH * um * 0.9 - 0.21 * col;
      d.um_per_texel = um * f;
      d.width = w;
      d.height = h;
      for (int c = 0; c < channels; ++c) {
        auto img = std::make_shared<Image16>(w, h);
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x) img->at(x, y) = uint16_t((x * 53 + y * 31 + c * 400) % 3500 + noise(rng));
        d.planes.push_back(PlaneRef{TileKey{r, col, c, 0, 0, level}, img});
      }
      bounds = bounds.united(RectUm{d.x_um, d.y_um, d.x_um + kW * um, d.y_um + kH * um});
      plan.tiles.push_back(std::move(d));
    }
  }
  plan.viewport = Viewport::fit(bounds, 187, 133, um);
  plan.viewport.zoom *= zoom_extra;
  plan.viewport.center_x_um += 0.77;
  return plan;
}

TEST_F(ColourOffsetTest, FractionalOffsetsAndScaleMatchTheCpuAtEveryLayer) {
  for (int channels : {2, 4, 6})
    for (int level : {0, 1, 2})
      for (double zoom : {1.0, 2.7}) {
        const FramePlan plan = offset_scene(channels, level, zoom, uint32_t(channels * 10 + level));
        const RgbImage cpu = expect_gl_matches_cpu(
            plan, std::to_string(channels) + " channels, level " + std::to_string(level) + ", zoom x" +
                      std::to_string(zoom));
        // The offsets change the picture (the comparison is not vacuous;
        // at layer 2 they are a quarter as many texels).
        FramePlan plain = plan;
        plain.channel_offsets.clear();
        auto raw = render_cpu(plain);
        ASSERT_TRUE(raw.ok());
        EXPECT_GT(compare_images(cpu, *raw).pixels_differing, size_t(cpu.width) * size_t(cpu.height) / 20);
      }
}

// The seam: 2x2 fields cut from one picture (overlap 20 px), drawn in
// order; channel 1 is read 3 px left and 2 px up. A later field's channel 1
// reads outside it along its left and top edges, inside the earlier field
// beneath: that field must show those pixels, with every channel, instead of
// a 3 px (2 px) strip where channel 1 is dark.
TEST_F(ColourOffsetTest, ShiftedChannelHasNoDarkStripAtTheUpperFieldsEdge) {
  constexpr int kOverlap = 20, kDx = -3, kDy = -2;
  const double um = 0.5;
  const int mw = 2 * kW - kOverlap, mh = 2 * kH - kOverlap;
  FramePlan plan;
  plan.display.channels = {ChannelDisplay{0, Rgb{1, 0, 0}, 0, 255, 1, true},
                           ChannelDisplay{1, Rgb{0, 1, 0}, 0, 255, 1, true}};
  plan.channel_offsets = {ChannelOffset{0, 0, 0, 1, 1}, ChannelOffset{1, kDx, kDy, 1, 1}};
  for (int r = 0; r < 2; ++r) {
    for (int col = 0; col < 2; ++col) {
      TileDraw d;
      d.row = r;
      d.col = col;
      const int x0 = col * (kW - kOverlap), y0 = r * (kH - kOverlap);
      d.x_um = x0 * um;
      d.y_um = y0 * um;
      d.um_per_texel = um;
      d.width = kW;
      d.height = kH;
      for (int c = 0; c < 2; ++c) {
        auto img = std::make_shared<Image16>(kW, kH);
        for (int y = 0; y < kH; ++y)
          for (int x = 0; x < kW; ++x) img->at(x, y) = raw_value(c, x0 + x, y0 + y);
        d.planes.push_back(PlaneRef{TileKey{r, col, c}, img});
      }
      plan.tiles.push_back(std::move(d));
    }
  }
  // One screen pixel per picture pixel, the mosaic filling the frame.
  plan.viewport = Viewport{mw * um / 2, mh * um / 2, 1.0, mw, mh, um};
  const RgbImage cpu = expect_gl_matches_cpu(plan, "2x2 seam");
  ASSERT_EQ(cpu.width, mw);
  size_t checked = 0, seam = 0;
  for (int y = -kDy; y < mh; ++y) {
    for (int x = -kDx; x < mw; ++x) {
      ASSERT_EQ(cpu.at(x, y)[0], raw_value(0, x, y)) << x << "," << y;
      ASSERT_EQ(cpu.at(x, y)[1], raw_value(1, x + kDx, y + kDy)) << x << "," << y;
      ++checked;
      const bool strip = (x >= kW - kOverlap && x < kW - kOverlap - kDx) || (y >= kH - kOverlap && y < kH - kOverlap - kDy);
      seam += strip ? 1 : 0;
    }
  }
  EXPECT_EQ(checked, size_t(mw + kDx) * size_t(mh + kDy));
  EXPECT_GT(seam, size_t(3 * mh));  // the strips were among the pixels checked
  // Along the mosaic's own top and left edges no field has channel 1: dark there.
  EXPECT_EQ(cpu.at(mw / 2, 0)[1], 0);
  EXPECT_EQ(cpu.at(0, mh / 2)[1], 0);
  EXPECT_EQ(cpu.at(0, mh / 2)[0], raw_value(0, 0, mh / 2));
}

TEST(ColourOffsetPlanTest, RejectsUnusableOffsets) {
  FramePlan plan = offset_scene(2, 0, 1.0, 3);
  plan.channel_offsets.pop_back();
  EXPECT_FALSE(render_cpu(plan).ok());
  plan = offset_scene(2, 0, 1.0, 3);
  plan.channel_offsets[1].scale = 0;
  EXPECT_FALSE(render_cpu(plan).ok());
  plan.channel_offsets[1].scale = 1;
  plan.channel_offsets[1].dx_px = std::nan("");
  EXPECT_FALSE(render_cpu(plan).ok());
}

}  // namespace
}  // namespace vslide::view
