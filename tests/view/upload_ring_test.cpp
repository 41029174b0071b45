// Texture uploads go through the renderer's mapped pixel buffer ring
// (gl_texture_pool.h): frames whose uploads exceed the ring wrap around it,
// waiting for the GPU to have read a region before it is refilled, and still
// match the CPU reference within one 8-bit step. And the loaders scale with
// the cores by default.
#include <gtest/gtest.h>

#include <cstdio>

#include "common/testing.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide/view/gl_renderer.h"
#include "vslide/view/tile_loader.h"

namespace vslide::view {
namespace {

// Large four-channel tiles: each texture layer is 1024 x 768 RGBA16 (6.3 MB),
// so one frame of 12 tiles uploads 75 MB, more than the 64 MB ring.
FramePlan big_tiles(uint16_t seed) {
  constexpr int kW = 1024, kH = 768, kRows = 3, kCols = 4;
  constexpr double kUm = 0.5;
  FramePlan plan;
  const Rgb colours[] = {{0, 0, 1}, {0, 1, 0}, {1, 0, 0}, {1, 0, 1}};
  for (int c = 0; c < 4; ++c) plan.display.channels.push_back(ChannelDisplay{c, colours[c], 100, 3000, 1.0f, true});
  RectUm bounds;
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kCols; ++col) {
      TileDraw d;
      d.row = r;
      d.col = col;
      d.x_um = col * kW * kUm * 0.95;
      d.y_um = r * kH * kUm * 0.95;
      d.um_per_texel = kUm;
      d.width = kW;
      d.height = kH;
      for (int ch = 0; ch < 4; ++ch) {
        auto img = std::make_shared<Image16>(kW, kH);
        for (int y = 0; y < kH; ++y) {
          for (int x = 0; x < kW; ++x) {
            img->at(x, y) = uint16_t((x * (7 + ch) + y * (3 + r) + col * 911 + seed * 131) % 3500);
          }
        }
        d.planes.push_back(PlaneRef{TileKey{r, col, ch, 0, 0, 0}, img});
      }
      bounds = bounds.united(RectUm{d.x_um, d.y_um, d.x_um + kW * kUm, d.y_um + kH * kUm});
      plan.tiles.push_back(std::move(d));
    }
  }
  // The whole mosaic, so every tile owns pixels and is uploaded; each tile's
  // pattern differs, so a layer uploaded from the wrong part of the ring would show.
  plan.viewport = Viewport::fit(bounds, 480, 300, kUm);
  return plan;
}

TEST(UploadRing, FramesLargerThanTheRingMatchTheCpuReference) {
  auto ctx = GlContext::create();
  ASSERT_TRUE(ctx.ok()) << ctx.status().to_string();
  auto gl = GlRenderer::create(ctx->get(), size_t(256) << 20);
  ASSERT_TRUE(gl.ok()) << gl.status().to_string();
  int major = 0, minor = 0;
  std::sscanf((*ctx)->version().c_str(), "%d.%d", &major, &minor);
  // Three frames of new pixels: every one wraps the ring at least once.
  for (uint16_t seed : {1, 2, 3}) {
    const FramePlan plan = big_tiles(seed);
    auto cpu = render_cpu(plan);
    ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
    auto gpu = (*gl)->render(plan);
    ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
    const ImageDiff d = compare_images(*cpu, *gpu);
    EXPECT_LE(d.max_abs, 1) << "frame " << seed << ": " << d.pixels_differing << " pixels differ";
    const GlFrameStats& st = (*gl)->last_frame();
    EXPECT_GT(st.bytes_uploaded, uint64_t(64) << 20) << "the frame should upload more than the ring holds";
    EXPECT_GE(st.upload_calls, 2u);
    if (major * 10 + minor >= 44) {
      EXPECT_TRUE(st.pixel_buffers) << "GL " << (*ctx)->version();
    }
  }
}

TEST(LoaderThreads, DefaultScalesWithTheCores) {
  const int n = TileLoader::default_threads();
  EXPECT_GE(n, 2);
  EXPECT_LE(n, 64);
  testing::TempDir dir;
  ScanConfig config;
  config.rows = 1;
  config.cols = 2;
  config.channels = 1;
  config.tile_width = 32;
  config.tile_height = 24;
  SyntheticScanner scanner(config);
  const std::string path = dir.file("s.h5");
  {
    auto created = Hdf5Slide::create(path, scanner.header(), scanner.geometry(), scanner.channels(), CreateOptions{});
    ASSERT_TRUE(created.ok()) << created.status().to_string();
    for (const auto& f : scanner.fields()) {
      ASSERT_TRUE((*created)->write_field(f).ok());
      ASSERT_TRUE((*created)->write_plane(TileKey{f.row, f.col, 0}, scanner.render(TileKey{f.row, f.col, 0}).view()).ok());
    }
    ASSERT_TRUE((*created)->finish().ok());
  }
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok()) << slide.status().to_string();
  TileCache tiles(size_t(64) << 20);
  LabelCache labels(size_t(1) << 20);
  TileLoader by_default(**slide, tiles, labels, LoaderOptions{});
  EXPECT_EQ(by_default.threads(), n);
  LoaderOptions three;
  three.threads = 3;
  TileLoader explicit_count(**slide, tiles, labels, three);
  EXPECT_EQ(explicit_count.threads(), 3);
  // They load: both planes arrive.
  by_default.request({LoadKey::plane(0, 0, 0, 0), LoadKey::plane(0, 1, 0, 0)});
  EXPECT_TRUE(by_default.wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  EXPECT_TRUE(tiles.contains(LoadKey::plane(0, 0, 0, 0)));
  EXPECT_TRUE(tiles.contains(LoadKey::plane(0, 1, 0, 0)));
}

}  // namespace
}  // namespace vslide::view
