// The GPU renderer against the CPU reference renderer on varied scenes,
// through whatever EGL finds (llvmpipe in CI): within one 8-bit step.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/testing.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide/view/gl_renderer.h"

namespace vslide::view {
namespace {

struct SceneSpec {
  int channels = 1;
  int rows = 3, cols = 4;
  double shear = 0;       // fraction of a step each row shifts in x
  double sparse = 0;      // fraction of tiles left out
  int level = 0;          // zoom layer: tiles are downsampled 2^level
  double zoom_extra = 1;  // magnification on top of fitting the mosaic
  bool placeholder = false, labels = false, outlines = false;
  int missing_channel = 0;  // the plane tile (1,1) lacks when there are several channels
  uint32_t seed = 1;
};

constexpr int kTileW = 64, kTileH = 48;
constexpr double kPixelUm = 0.5;

SharedImage16 pattern(int w, int h, std::mt19937& rng) {
  auto img = std::make_shared<Image16>(w, h);
  std::uniform_int_distribution<int> noise(0, 400), base(0, 2500);
  const int b = base(rng);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      img->at(x, y) = uint16_t(std::min(4095, b + (x * 37 + y * 53) % 1500 + noise(rng)));
    }
  }
  return img;
}

FramePlan make_scene(const SceneSpec& s) {
  std::mt19937 rng(s.seed);
  FramePlan plan;
  const Rgb palette[] = {{0, 0, 1}, {0, 1, 0}, {1, 0, 0},         {1, 0, 1},
                         {0, 1, 1}, {1, 1, 0}, {0.6f, 0.6f, 0.6f}};
  std::uniform_real_distribution<float> low(0, 1200), width(300, 3000);
  const float gammas[] = {1.0f, 0.8f, 0.5f, 2.2f, 1.0f, 1.4f, 0.7f};
  for (int c = 0; c < s.channels; ++c) {
    ChannelDisplay d;
    d.channel = c;
    d.color = palette[c % 7];
    d.low = std::floor(low(rng));
    d.high = d.low + std::floor(width(rng));
    d.gamma = gammas[c % 7];
    d.enabled = !(s.channels > 2 && c == 1);  // status matrix: one channel off
    plan.display.channels.push_back(d);
  }
  const int f = 1 << s.level;
  const int w = (kTileW + f - 1) / f, h = (kTileH + f - 1) / f;
  std::uniform_real_distribution<double> jitter(-2.3, 2.3), keep(0, 1);
  RectUm bounds;
  for (int r = 0; r < s.rows; ++r) {
    for (int c = 0; c < s.cols; ++c) {
      if (keep(rng) < s.sparse && !(r == 0 && c == 0)) continue;
      TileDraw d;
      d.row = r;
      d.col = c;
      d.level = s.level;
      d.x_um = c * kTileW * kPixelUm * 0.9 + r * s.shear * kTileW * kPixelUm + jitter(rng);
      d.y_um = r * kTileH * kPixelUm * 0.9 + jitter(rng);
      d.um_per_texel = kPixelUm * f;
      d.width = w;
      d.height = h;
      for (int ch = 0; ch < s.channels; ++ch) {
        // One channel plane missing in one tile: that channel draws nothing there.
        SharedImage16 img =
            (r == 1 && c == 1 && ch == s.missing_channel && s.channels > 1) ? nullptr : pattern(w, h, rng);
        d.planes.push_back(PlaneRef{TileKey{r, c, ch, 0, 0, s.level}, img});
      }
      d.placeholder = s.placeholder && r == 0 && c == 1;
      RectUm rect{d.x_um, d.y_um, d.x_um + kTileW * kPixelUm, d.y_um + kTileH * kPixelUm};
      bounds = bounds.united(rect);
      if (s.outlines) plan.outlines.push_back(rect);
      if (s.labels && (r + c) % 2 == 0) {
        auto lt = std::make_shared<LabelTile>();
        lt->width = w;
        lt->height = h;
        lt->labels.resize(size_t(w) * size_t(h));
        for (int y = 0; y < h; ++y) {
          for (int x = 0; x < w; ++x) {
            const int cx = x * 4 / w, cy = y * 3 / h;  // a 4x3 grid of blobs
            const double dx = (x + 0.5) - (cx + 0.5) * w / 4.0, dy = (y + 0.5) - (cy + 0.5) * h / 3.0;
            const bool inside = dx * dx + dy * dy < (w / 10.0) * (w / 10.0);
            lt->labels[size_t(y) * size_t(w) + size_t(x)] = inside ? uint32_t(1 + cy * 4 + cx) : 0;
          }
        }
        LabelDraw ld;
        ld.x_um = d.x_um;
        ld.y_um = d.y_um;
        ld.um_per_texel = d.um_per_texel;
        ld.key = TileKey{r, c, 0, -1, 0, s.level};
        ld.labels = lt;
        plan.labels.push_back(ld);
      }
      plan.tiles.push_back(std::move(d));
    }
  }
  plan.viewport = Viewport::fit(bounds, 203, 151, kPixelUm);
  plan.viewport.zoom *= s.zoom_extra;
  plan.viewport.center_x_um += 1.37;  // off-grid centre
  return plan;
}

class GpuVsCpuTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ctx = GlContext::create();
    ASSERT_TRUE(ctx.ok()) << ctx.status().to_string();
    context_ = std::move(*ctx);
    auto r = GlRenderer::create(context_.get(), 64 << 20);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    renderer_ = std::move(*r);
  }
  static void TearDownTestSuite() {
    renderer_.reset();
    context_.reset();
  }

  void expect_match(const SceneSpec& spec, const char* what) {
    const FramePlan plan = make_scene(spec);
    auto cpu = render_cpu(plan);
    ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
    auto gpu = renderer_->render(plan);
    ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
    const ImageDiff d = compare_images(*cpu, *gpu);
    EXPECT_LE(d.max_abs, 1) << what << ": " << d.pixels_differing << " pixels differ";
    if (d.max_abs > 1 && std::getenv("VSLIDE_TEST_DUMP")) {
      (void)write_png(std::string(std::getenv("VSLIDE_TEST_DUMP")) + "/" + what + "-cpu.png", *cpu);
      (void)write_png(std::string(std::getenv("VSLIDE_TEST_DUMP")) + "/" + what + "-gpu.png", *gpu);
    }
    // The scene must show something (a test of black against black proves nothing).
    size_t lit = 0;
    for (size_t i = 0; i < cpu->pixels.size(); i += 3)
      lit += (cpu->pixels[i] | cpu->pixels[i + 1] | cpu->pixels[i + 2]) != 0;
    EXPECT_GT(lit, cpu->pixels.size() / 3 / 4) << what;
  }

  static std::unique_ptr<GlContext> context_;
  static std::unique_ptr<GlRenderer> renderer_;
};
std::unique_ptr<GlContext> GpuVsCpuTest::context_;
std::unique_ptr<GlRenderer> GpuVsCpuTest::renderer_;

// Channels are packed four to a texture (R16UI, RG16UI or RGBA16UI per
// group); more than four take several passes.
TEST_F(GpuVsCpuTest, OneToEightChannels) {
  for (int n : {1, 2, 3, 4, 5, 7, 8}) {
    SceneSpec s;
    s.channels = n;
    s.seed = uint32_t(n);
    expect_match(s, ("channels " + std::to_string(n)).c_str());
  }
}

TEST_F(GpuVsCpuTest, AGroupOfChannelsWithNoPlaneInOneTile) {
  // The last channel, alone or with one other in the second group, absent
  // from tile (1,1): that tile's second texture holds no plane at all.
  for (int n : {5, 6}) {
    SceneSpec s;
    s.channels = n;
    s.missing_channel = n - 1;
    s.seed = uint32_t(50 + n);
    expect_match(s, (std::to_string(n) + " channels, the last missing in one tile").c_str());
  }
}

TEST_F(GpuVsCpuTest, ChangingTheChannelsRepacksTheTextures) {
  SceneSpec s;
  s.channels = 4;
  s.seed = 91;
  const FramePlan all = make_scene(s);
  // The same planes shown as channels 2 and 0 only: the cached textures
  // hold other groups and must not be reused.
  FramePlan some = all;
  some.display.channels = {all.display.channels[2], all.display.channels[0]};
  for (TileDraw& d : some.tiles) d.planes = {d.planes[2], d.planes[0]};
  for (const FramePlan* plan : {&all, static_cast<const FramePlan*>(&some), &all}) {
    auto cpu = render_cpu(*plan);
    auto gpu = renderer_->render(*plan);
    ASSERT_TRUE(cpu.ok() && gpu.ok());
    EXPECT_LE(compare_images(*cpu, *gpu).max_abs, 1) << plan->display.channels.size() << " channels";
  }
}

TEST_F(GpuVsCpuTest, ShearedAndSparseMosaicsAtEveryLayer) {
  for (int level = 0; level <= 4; ++level) {
    SceneSpec s;
    s.channels = 3;
    s.shear = 0.15;
    s.sparse = 0.3;
    s.level = level;
    s.seed = uint32_t(100 + level);
    expect_match(s, ("level " + std::to_string(level)).c_str());
  }
}

TEST_F(GpuVsCpuTest, MagnifiedNearestNeighbour) {
  SceneSpec s;
  s.channels = 4;
  s.zoom_extra = 5.3;
  s.level = 1;
  expect_match(s, "magnified");
}

TEST_F(GpuVsCpuTest, OverlaysAndPlaceholders) {
  for (int n : {2, 7}) {
    SceneSpec s;
    s.channels = n;
    s.labels = true;
    s.outlines = true;
    s.placeholder = true;
    s.zoom_extra = 1.7;
    expect_match(s, ("overlays, channels " + std::to_string(n)).c_str());
  }
}

TEST_F(GpuVsCpuTest, TextureCacheHitsOnTheSecondFrameAndUploadsNothing) {
  SceneSpec s;
  s.channels = 4;
  s.seed = 77;
  const FramePlan plan = make_scene(s);
  renderer_->clear_textures();
  ASSERT_TRUE(renderer_->draw(plan).ok());
  // One texture per tile holds its four channels; one plane is absent.
  const uint64_t first = renderer_->last_frame().textures_uploaded;
  EXPECT_EQ(first, plan.tiles.size());
  EXPECT_EQ(renderer_->last_frame().planes_uploaded, plan.tiles.size() * 4 - 1);
  EXPECT_EQ(renderer_->last_frame().bytes_uploaded, plan.tiles.size() * size_t(kTileW * kTileH) * 8);
  ASSERT_TRUE(renderer_->draw(plan).ok());
  EXPECT_EQ(renderer_->last_frame().textures_uploaded, 0u);
  EXPECT_EQ(renderer_->last_frame().bytes_uploaded, 0u);
  EXPECT_GE(renderer_->texture_cache_stats().hits, first);
}

TEST_F(GpuVsCpuTest, TinyTextureCacheStillDrawsCorrectly) {
  auto r = GlRenderer::create(context_.get(), 3 * 64 * 48 * 2);  // three planes
  ASSERT_TRUE(r.ok());
  SceneSpec s;
  s.channels = 4;
  const FramePlan plan = make_scene(s);
  auto gpu = (*r)->render(plan);
  ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
  auto cpu = render_cpu(plan);
  EXPECT_LE(compare_images(*cpu, *gpu).max_abs, 1);
  EXPECT_LE((*r)->texture_cache_stats().bytes, size_t(3 * 64 * 48 * 2));
}

// Shading correction in the tile shader, against the CPU (FlatField::correct):
// a strong vignetting gain on some channels (two groups with 6), at full
// resolution and at a coarser layer, never on the overview.
TEST_F(GpuVsCpuTest, FlatFieldCorrectionMatchesTheCpu) {
  auto vignette = [](int32_t channel, int w, int h, float dark) {
    auto f = std::make_shared<FlatField>();
    f->channel = channel;
    f->gain_width = w;
    f->gain_height = h;
    f->dark = dark;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const float u = 2 * (x + 0.5f) / w - 1, v = 2 * (y + 0.5f) / h - 1;
        f->gain.push_back((1 - 0.35f * u * u) * (1 - 0.3f * v * v) * 1.2f);
      }
    return std::shared_ptr<const FlatField>(f);
  };
  for (int n : {1, 3, 6}) {
    for (int level : {0, 2}) {
      SceneSpec s;
      s.channels = n;
      s.level = level;
      s.seed = uint32_t(300 + n * 10 + level);
      FramePlan plan = make_scene(s);
      const FramePlan raw = plan;
      plan.flatfields.resize(size_t(n));
      for (int c = 0; c < n; c += 2) plan.flatfields[size_t(c)] = vignette(c, 7 + c, 5 + c, 100.0f + 10 * c);
      if (n == 6) plan.tiles[0].level = -1;  // drawn as the overview would be: uncorrected
      auto cpu = render_cpu(plan), cpu_raw = render_cpu(raw);
      ASSERT_TRUE(cpu.ok() && cpu_raw.ok()) << cpu.status().to_string();
      EXPECT_GT(compare_images(*cpu, *cpu_raw).pixels_differing, 300u);  // the correction shows
      auto gpu = renderer_->render(plan);
      ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
      const ImageDiff d = compare_images(*cpu, *gpu);
      EXPECT_LE(d.max_abs, 1) << n << " channels, level " << level << ": " << d.pixels_differing << " differ";
    }
  }
  FramePlan bad = make_scene(SceneSpec());
  bad.flatfields.resize(2);
  EXPECT_EQ(render_cpu(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST(CpuRendererTest, AppliesTheEquationsExactly) {
  FramePlan plan;
  plan.viewport = Viewport{1, 0.5, 4.0, 16, 8, 0.5};  // 4 screen px per camera px
  ChannelDisplay red;
  red.color = Rgb{1, 0, 0};
  red.low = 1000;
  red.high = 3000;
  ChannelDisplay green;
  green.channel = 1;
  green.color = Rgb{0, 1, 0};
  green.low = 0;
  green.high = 100;
  green.gamma = 2;
  plan.display.channels = {red, green};
  auto a =
      std::make_shared<Image16>(4, 2, std::vector<uint16_t>{2000, 0, 3000, 5000, 1000, 1000, 1000, 1000});
  auto b = std::make_shared<Image16>(4, 2, std::vector<uint16_t>{50, 0, 0, 0, 0, 0, 0, 100});
  TileDraw d;
  d.width = 4;
  d.height = 2;
  d.um_per_texel = 0.5;
  d.planes = {PlaneRef{TileKey{}, a}, PlaneRef{TileKey{0, 0, 1}, b}};
  plan.tiles.push_back(d);
  auto img = render_cpu(plan);
  ASSERT_TRUE(img.ok());
  // Texel (0,0): red (2000-1000)/2000 = 0.5 -> 128; green (50/100)^2 = 0.25 -> 64.
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) {
      EXPECT_EQ(img->at(x, y)[0], 128);
      EXPECT_EQ(img->at(x, y)[1], 64);
    }
  }
  EXPECT_EQ(img->at(8, 0)[0], 255);          // 3000: top of the window
  EXPECT_EQ(img->at(12, 0)[0], 255);         // 5000: clamped
  EXPECT_EQ(img->at(12, 4)[1], 255);         // 100 -> 1
  EXPECT_EQ(img->at(4, 4)[0], 0);            // 1000: bottom of the window
  plan.display.channels[0].enabled = false;  // status matrix switches red off
  img = render_cpu(plan);
  EXPECT_EQ(img->at(0, 0)[0], 0);
  EXPECT_EQ(img->at(0, 0)[1], 64);
}

TEST(CpuRendererTest, RejectsBadPlans) {
  FramePlan plan;
  plan.viewport = Viewport{0, 0, 1, 10, 10, 0.5};
  ChannelDisplay c;
  c.low = 500;
  c.high = 500;
  plan.display.channels = {c};
  auto r = render_cpu(plan);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("contrast low 500 must be below high 500"), std::string::npos);
  plan.display.channels[0].high = 600;
  plan.viewport.width_px = 0;
  EXPECT_EQ(render_cpu(plan).status().code(), StatusCode::kInvalidArgument);
}

TEST(PngTest, WritesAndReadsBack) {
  testing::TempDir dir;
  RgbImage img;
  img.width = 5;
  img.height = 3;
  for (int i = 0; i < 45; ++i) img.pixels.push_back(uint8_t(i * 5));
  ASSERT_TRUE(write_png(dir.file("a.png"), img).ok());
  auto back = read_png(dir.file("a.png"));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->pixels, img.pixels);
  EXPECT_EQ(write_png("/nonexistent-dir/x.png", img).code(), StatusCode::kIOError);
}

}  // namespace
}  // namespace vslide::view
