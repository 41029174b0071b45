// GlRenderer::set_upload_budget: a frame uploads at most about the budget;
// the tiles left out show what lies under them in the plan (here a coarse
// layer) exactly as a plan without them would, and the following frames
// bring the rest in until the frame equals the CPU reference of the whole
// plan. A frame drawn in bands of rows (draw_rows: the first band uploads,
// the rest do not) is the frame draw() makes, budget and all.
#include <gtest/gtest.h>

#include "common/testing.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide/view/gl_renderer.h"

namespace vslide::view {
namespace {

constexpr int kW = 512, kH = 384, kChannels = 4;
constexpr double kUm = 0.5;

std::shared_ptr<Image16> pattern(int w, int h, int salt) {
  auto img = std::make_shared<Image16>(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img->at(x, y) = uint16_t((x * (5 + salt) + y * (3 + salt % 7) + salt * 97) % 3200);
  return img;
}

// A coarse draw over the whole 2x2 mosaic first, then the four tiles.
FramePlan mosaic() {
  FramePlan plan;
  const Rgb colours[] = {{0, 0, 1}, {0, 1, 0}, {1, 0, 0}, {1, 0, 1}};
  for (int c = 0; c < kChannels; ++c)
    plan.display.channels.push_back(ChannelDisplay{c, colours[c], 100, 3000, 1.0f, true});
  const RectUm bounds{0, 0, 2 * kW * kUm, 2 * kH * kUm};
  TileDraw coarse;
  coarse.width = kW / 8;
  coarse.height = kH / 8;
  coarse.um_per_texel = kUm * 16;
  coarse.level = 4;
  coarse.row = coarse.col = 0;
  for (int c = 0; c < kChannels; ++c)
    coarse.planes.push_back(PlaneRef{TileKey{0, 0, c, 0, 0, 4}, pattern(coarse.width, coarse.height, 40 + c)});
  plan.tiles.push_back(coarse);
  for (int r = 0; r < 2; ++r) {
    for (int col = 0; col < 2; ++col) {
      TileDraw d;
      d.row = r;
      d.col = col;
      d.x_um = col * kW * kUm;
      d.y_um = r * kH * kUm;
      d.um_per_texel = kUm;
      d.width = kW;
      d.height = kH;
      for (int c = 0; c < kChannels; ++c)
        d.planes.push_back(PlaneRef{TileKey{r, col, c, 0, 0, 0}, pattern(kW, kH, r * 8 + col * 4 + c)});
      plan.tiles.push_back(std::move(d));
    }
  }
  plan.viewport = Viewport::fit(bounds, 400, 300, kUm);
  return plan;
}

TEST(UploadBudget, TilesPastTheBudgetComeInOverTheNextFrames) {
  auto ctx = GlContext::create();
  ASSERT_TRUE(ctx.ok()) << ctx.status().to_string();
  auto gl = GlRenderer::create(ctx->get(), size_t(256) << 20);
  ASSERT_TRUE(gl.ok()) << gl.status().to_string();
  const size_t tile_bytes = size_t(kW) * kH * kChannels * sizeof(uint16_t);
  (*gl)->set_upload_budget(tile_bytes + tile_bytes / 2);  // the coarse draw and one tile
  const FramePlan plan = mosaic();

  // Frame 1: the coarse draw and the first tile; the other three left out.
  auto first = (*gl)->render(plan);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ((*gl)->last_frame().deferred_tiles, 3u);
  EXPECT_LE((*gl)->last_frame().bytes_uploaded, tile_bytes + tile_bytes / 2);
  FramePlan shown = plan;
  shown.tiles.resize(2);  // what frame 1 shows: the coarse layer where tiles 2-4 will be
  auto expect1 = render_cpu(shown);
  ASSERT_TRUE(expect1.ok());
  ImageDiff d = compare_images(*expect1, *first);
  EXPECT_LE(d.max_abs, 1) << d.pixels_differing << " pixels differ";

  // Then one tile a frame until nothing is left out.
  int frames = 1;
  for (; (*gl)->last_frame().deferred_tiles > 0 && frames < 10; ++frames) {
    ASSERT_TRUE((*gl)->draw(plan).ok());
    EXPECT_LE((*gl)->last_frame().bytes_uploaded, tile_bytes + tile_bytes / 2);
  }
  EXPECT_EQ(frames, 4);
  auto last = (*gl)->read_back();
  ASSERT_TRUE(last.ok());
  auto full = render_cpu(plan);
  ASSERT_TRUE(full.ok());
  d = compare_images(*full, *last);
  EXPECT_LE(d.max_abs, 1) << d.pixels_differing << " pixels differ";
  const ImageDiff changed = compare_images(*expect1, *last);
  EXPECT_GT(changed.pixels_differing, size_t(400 * 300 / 2)) << "the tiles left out should have come in";

  // Without a budget the whole plan uploads at once.
  (*gl)->clear_textures();
  (*gl)->set_upload_budget(0);
  ASSERT_TRUE((*gl)->draw(plan).ok());
  EXPECT_EQ((*gl)->last_frame().deferred_tiles, 0u);
  EXPECT_GE((*gl)->last_frame().bytes_uploaded, 4 * tile_bytes);
}

TEST(UploadBudget, AFrameDrawnInBandsOfRowsIsTheFrameDrawMakes) {
  auto ctx = GlContext::create();
  ASSERT_TRUE(ctx.ok()) << ctx.status().to_string();
  auto whole = GlRenderer::create(ctx->get(), size_t(256) << 20);
  auto banded = GlRenderer::create(ctx->get(), size_t(256) << 20);
  ASSERT_TRUE(whole.ok() && banded.ok());
  const size_t tile_bytes = size_t(kW) * kH * kChannels * sizeof(uint16_t);
  for (GlRenderer* g : {whole->get(), banded->get()}) g->set_upload_budget(tile_bytes + tile_bytes / 2);
  FramePlan plan = mosaic();
  // A fifth channel: two passes summed in the float target and resolved,
  // each scissored to the band.
  plan.display.channels.push_back(ChannelDisplay{kChannels, Rgb{1, 1, 0}, 200, 2500, 0.8f, true});
  for (TileDraw& d : plan.tiles) {
    d.planes.push_back(PlaneRef{TileKey{d.row, d.col, kChannels, 0, 0, d.level}, pattern(d.width, d.height, 77 + d.row)});
  }
  const int rows = plan.viewport.height_px;
  for (int frame = 0; frame < 4; ++frame) {
    auto expect = (*whole)->render(plan);
    ASSERT_TRUE(expect.ok()) << expect.status().to_string();
    const int bands = 3 + frame;  // rows that do not divide evenly, too
    uint64_t deferred = 0;
    for (int b = 0; b < bands; ++b) {
      ASSERT_TRUE((*banded)->draw_rows(plan, rows * b / bands, rows * (b + 1) / bands, b == 0).ok());
      if (b == 0) {
        deferred = (*banded)->last_frame().deferred_tiles;
        EXPECT_EQ(deferred, (*whole)->last_frame().deferred_tiles) << "frame " << frame;
      } else {
        EXPECT_EQ((*banded)->last_frame().bytes_uploaded, 0u) << "band " << b << " uploaded";
        EXPECT_EQ((*banded)->last_frame().deferred_tiles, deferred) << "band " << b;
      }
    }
    auto got = (*banded)->read_back();
    ASSERT_TRUE(got.ok());
    const ImageDiff d = compare_images(*expect, *got);
    EXPECT_EQ(d.max_abs, 0) << "frame " << frame << ": " << d.pixels_differing << " pixels differ";
  }
  EXPECT_EQ((*whole)->last_frame().deferred_tiles, 0u) << "every tile should be in by the fourth frame";
  // Rows outside the frame are refused.
  EXPECT_EQ((*banded)->draw_rows(plan, 0, rows + 1, true).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*banded)->draw_rows(plan, 5, 5, true).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vslide::view
