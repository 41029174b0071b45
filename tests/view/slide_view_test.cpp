// The engine on real slide files written from the synthetic scanner:
// culling, progressive refinement, computed layers, corrupt tiles, overlays.
#include "vslide/view/slide_view.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <thread>
#include <fstream>
#include <iterator>

#include "common/testing.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide/view/gl_renderer.h"

namespace vslide::view {
namespace {

using std::chrono::milliseconds;

ScanConfig small_config(double sparse = 0.0) {
  ScanConfig c;
  c.rows = 3;
  c.cols = 4;
  c.channels = 2;
  c.tile_width = 128;
  c.tile_height = 96;
  c.overlap = 0.1;
  c.shear_deg = 0.8;
  c.sparse = sparse;
  c.seed = 11;
  return c;
}

// Writes a slide; `levels` are stored as zoom layers; an overview at factor 16 when asked.
std::string write_slide(const testing::TempDir& dir, const ScanConfig& config, std::vector<int32_t> levels,
                        bool overview = false) {
  SyntheticScanner scanner(config);
  const std::string path = dir.file("slide.h5");
  auto created =
      Hdf5Slide::create(path, scanner.header(), scanner.geometry(), scanner.channels(), CreateOptions{});
  EXPECT_TRUE(created.ok()) << created.status().to_string();
  auto& slide = **created;
  for (int32_t l : levels) EXPECT_TRUE(slide.add_zoom_level(l).ok());
  const MosaicGeometry& g = scanner.geometry();
  double x0 = 1e300, y0 = 1e300;
  for (const auto& f : scanner.fields()) {
    x0 = std::min(x0, f.stage_x_um);
    y0 = std::min(y0, f.stage_y_um);
  }
  std::vector<Overview> ovs(size_t(g.channels));
  for (int c = 0; c < g.channels; ++c) {
    ovs[size_t(c)].channel = c;
    ovs[size_t(c)].origin_x_um = x0;
    ovs[size_t(c)].origin_y_um = y0;
    ovs[size_t(c)].um_per_px = g.pixel_size_um * 16;
    ovs[size_t(c)].image = Image16(g.cols * g.tile_width / 16 + 4, g.rows * g.tile_height / 16 + 4);
  }
  for (const auto& f : scanner.fields()) {
    EXPECT_TRUE(slide.write_field(f).ok());
    for (int c = 0; c < g.channels; ++c) {
      TileKey k{f.row, f.col, c};
      Image16 raw = scanner.render(k);
      EXPECT_TRUE(slide.write_plane(k, raw.view()).ok());
      for (int32_t l : levels) {
        k.level = l;
        EXPECT_TRUE(slide.write_plane(k, downsample(raw.view(), 1 << l).view()).ok());
      }
      Image16 small = downsample(raw.view(), 16);
      Overview& ov = ovs[size_t(c)];
      const int ox = int((f.stage_x_um - x0) / ov.um_per_px), oy = int((f.stage_y_um - y0) / ov.um_per_px);
      for (int y = 0; y < small.height() && oy + y < ov.image.height(); ++y) {
        for (int x = 0; x < small.width() && ox + x < ov.image.width(); ++x)
          ov.image.at(ox + x, oy + y) = small.at(x, y);
      }
    }
  }
  if (overview) {
    for (const auto& ov : ovs) EXPECT_TRUE(slide.write_overview(ov).ok());
  }
  EXPECT_TRUE(slide.finish().ok());
  return path;
}

std::unique_ptr<Hdf5Slide> open_slide(const std::string& path) {
  auto s = Hdf5Slide::open(path);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return std::move(*s);
}

Viewport centred(const SlideView& view, double zoom, int w = 160, int h = 120) {
  const RectUm b = view.slide_bounds();
  return Viewport{(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, zoom, w, h, view.slide().geometry().pixel_size_um};
}

// Threads of this process whose nice value (field 19 of /proc/self/task/T/stat) is `nice`.
int threads_with_nice(int nice) {
  int n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 2));  // field 3 onwards
    std::string f;
    for (int i = 3; i <= 19 && fields >> f; ++i) {
      if (i == 19 && f == std::to_string(nice)) ++n;
    }
  }
  return n;
}

// The window's loaders decode at a lower priority than the frame being drawn
// (ViewOptions::loader_nice); headless views keep the default.
TEST(SlideViewTest, LoaderThreadsTakeTheirNiceValue) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(), {});
  auto slide = open_slide(path);
  ASSERT_EQ(threads_with_nice(7), 0);
  {
    SlideView plain(*slide);
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_EQ(threads_with_nice(7), 0);
  }
  ViewOptions o;
  o.loader_threads = 3;
  o.loader_nice = 7;
  SlideView view(*slide, o);
  for (int i = 0; i < 200 && threads_with_nice(7) < 3; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(threads_with_nice(7), 3);
}

TEST(SlideViewTest, CullsLikeBruteForceOverStagePositions) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(0.25), {});
  auto slide = open_slide(path);
  SlideView view(*slide);
  const MosaicGeometry& g = slide->geometry();
  for (double zoom : {0.3, 0.7, 1.3}) {
    for (double fx : {0.2, 0.5, 0.8}) {
      const RectUm b = view.slide_bounds();
      Viewport v{b.x0 + fx * b.width(), b.y0 + fx * b.height(), zoom, 100, 70, g.pixel_size_um};
      FrameInfo info;
      auto plan = view.plan_frame(v, &info);
      ASSERT_TRUE(plan.ok()) << plan.status().to_string();
      size_t expected = 0;
      const RectUm r = v.rect_um();
      for (const auto& e : slide->index()->entries()) {
        RectUm t{e.field.stage_x_um, e.field.stage_y_um, e.field.stage_x_um + g.tile_width * g.pixel_size_um,
                 e.field.stage_y_um + g.tile_height * g.pixel_size_um};
        expected += t.intersects(r);
      }
      EXPECT_EQ(info.tiles_visible, expected);
    }
  }
}

TEST(SlideViewTest, DrawsCoarserLayersWhileFineTilesLoadThenCompletes) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(), {1, 2});
  auto slide = open_slide(path);
  SlideView view(*slide);
  const Viewport coarse = centred(view, 0.25);
  FrameInfo info;
  ASSERT_TRUE(view.plan_complete(coarse, &info).ok());
  EXPECT_EQ(info.level, 2);
  EXPECT_TRUE(info.complete);

  const Viewport fine = centred(view, 1.0);
  auto first = view.plan_frame(fine, &info);  // nothing at level 0 is cached yet
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(info.level, 0);
  EXPECT_FALSE(info.complete);
  EXPECT_GT(info.coarser_draws, 0u);
  for (const auto& d : first->tiles) EXPECT_EQ(d.level, 2);

  auto done = view.plan_complete(fine, &info, milliseconds(60000));
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  EXPECT_TRUE(info.complete);
  EXPECT_EQ(info.coarser_draws, 0u);
  EXPECT_EQ(info.planes_ready, info.planes_needed);
  for (const auto& d : done->tiles) EXPECT_EQ(d.level, 0);
  const CacheStats cs = view.tile_cache_stats();
  EXPECT_GT(cs.hits, 0u);
  EXPECT_GT(cs.misses, 0u);
}

TEST(SlideViewTest, RendersTheStoredPixelsExactly) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(), {});
  auto slide = open_slide(path);
  SlideView view(*slide);
  DisplaySettings d;
  ChannelDisplay c;
  c.channel = 1;
  c.color = Rgb{1, 0, 0};
  c.low = 0;
  c.high = 4095;
  d.channels = {c};
  ASSERT_TRUE(view.set_display(d).ok());
  // The last tile in draw order lies on top: check its pixels at zoom 1.
  const auto& last = slide->index()->entries().back().field;
  const double px = slide->geometry().pixel_size_um;
  Viewport v{last.stage_x_um + 40 * px, last.stage_y_um + 30 * px, 1.0, 40, 30, px};
  auto plan = view.plan_complete(v);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto img = render_cpu(*plan);
  ASSERT_TRUE(img.ok());
  auto raw = slide->read(TileKey{last.row, last.col, 1});
  ASSERT_TRUE(raw.ok());
  for (int y = 0; y < 30; y += 7) {
    for (int x = 0; x < 40; x += 5) {
      const float expected = std::clamp(float(raw->at(20 + x, 15 + y)) / 4095.0f, 0.0f, 1.0f) * 255.0f + 0.5f;
      EXPECT_EQ(img->at(x, y)[0], uint8_t(expected)) << x << "," << y;
      EXPECT_EQ(img->at(x, y)[1], 0);
    }
  }
}

TEST(SlideViewTest, GpuMatchesCpuOnARealSlideAtEveryLayer) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(0.2), {1, 2, 3}, true);
  auto slide = open_slide(path);
  SlideView view(*slide);
  ASSERT_TRUE(view.set_overlay(Overlay{true, ""}).ok());
  auto ctx = GlContext::create();
  ASSERT_TRUE(ctx.ok()) << ctx.status().to_string();
  auto gl = GlRenderer::create(ctx->get());
  ASSERT_TRUE(gl.ok()) << gl.status().to_string();
  for (double zoom : {1.6, 1.0, 0.5, 0.25, 0.125, 0.02}) {
    FrameInfo info;
    auto plan = view.plan_complete(centred(view, zoom, 180, 130), &info);
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    auto cpu = render_cpu(*plan);
    auto gpu = (*gl)->render(*plan);
    ASSERT_TRUE(cpu.ok() && gpu.ok());
    EXPECT_LE(compare_images(*cpu, *gpu).max_abs, 1) << "zoom " << zoom << " level " << info.level;
    if (zoom == 0.02) {
      EXPECT_TRUE(info.overview_only);
    }
  }
}

TEST(SlideViewTest, ComputesALayerTheSlideDoesNotStoreAndWarns) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(), {1});
  auto slide = open_slide(path);
  SlideView view(*slide);
  ASSERT_TRUE(view.force_level(3).ok());
  FrameInfo info;
  auto plan = view.plan_complete(centred(view, 0.125), &info);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(info.level, 3);
  ASSERT_FALSE(info.warnings.empty());
  EXPECT_NE(info.warnings[0].find("zoom layer 3 (factor 8) is not stored"), std::string::npos);
  EXPECT_GT(view.loader_stats().planes_computed, 0u);
  // Computed from the stored level 1, as downsample() of it.
  const TileDraw& d = plan->tiles.front();
  auto l1 = slide->read(TileKey{d.row, d.col, d.planes[0].key.channel, 0, 0, 1});
  ASSERT_TRUE(l1.ok());
  EXPECT_TRUE(same_pixels(d.planes[0].image->view(), downsample(l1->view(), 4).view()));
  EXPECT_EQ(view.force_level(20).code(), StatusCode::kNotFound);
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

TEST(SlideViewTest, ACorruptTileIsAPlaceholderAndTheRestIsIntact) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(), {});
  TileKey bad{1, 2, 0};
  {
    auto slide = open_slide(path);
    auto st = slide->read_chunk(bad);
    ASSERT_TRUE(st.ok());
    slide.reset();
    corrupt_chunk(path, *st);
  }
  auto slide = open_slide(path);
  SlideView view(*slide);
  FrameInfo info;
  auto plan = view.plan_complete(view.fit_viewport(200, 150), &info, milliseconds(60000));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(info.placeholders, 1u);
  ASSERT_FALSE(info.warnings.empty());
  EXPECT_NE(info.warnings[0].find("tile (1,2) drawn as a placeholder"), std::string::npos)
      << info.warnings[0];
  size_t good = 0;
  for (const auto& d : plan->tiles) {
    EXPECT_EQ(d.placeholder, d.row == 1 && d.col == 2);
    good += !d.placeholder && d.planes[0].image != nullptr;
  }
  EXPECT_EQ(good, slide->index()->field_count() - 1);
  auto img = render_cpu(*plan);
  ASSERT_TRUE(img.ok());
}

TEST(SlideViewTest, BadInputsGiveClearErrors) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(), {});
  auto slide = open_slide(path);
  SlideView view(*slide);
  auto d = DisplaySettings::from_channel_table(slide->channels(), {0, 5});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("unknown channel 5: the slide has 2 channels"), std::string::npos);
  DisplaySettings bad = *DisplaySettings::from_channel_table(slide->channels(), {0});
  bad.channels[0].low = 3000;
  bad.channels[0].high = 100;
  Status s = view.set_display(bad);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("contrast low 3000 must be below high 100"), std::string::npos);
  bad.channels[0].channel = 9;
  EXPECT_NE(view.set_display(bad).message().find("unknown channel 9"), std::string::npos);

  Viewport far = centred(view, 1.0);
  far.center_x_um += 1e6;
  auto r = view.plan_frame(far);
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("lies outside the slide"), std::string::npos);
  Viewport empty = centred(view, 1.0, 0, 100);
  EXPECT_EQ(view.plan_frame(empty).status().code(), StatusCode::kInvalidArgument);
  Status o = view.set_overlay(Overlay{false, "nuclei"});
  EXPECT_EQ(o.code(), StatusCode::kNotFound);
  EXPECT_NE(o.message().find("no detection layer 'nuclei'"), std::string::npos);
}

TEST(SlideViewTest, AutoContrastUsesTheVisibleTiles) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(), {1, 2});
  auto slide = open_slide(path);
  SlideView view(*slide);
  const Viewport v = centred(view, 0.5);
  ASSERT_TRUE(view.auto_contrast(v, 0.01, 0.99).ok());
  auto plan = view.plan_complete(v);
  ASSERT_TRUE(plan.ok());
  for (size_t c = 0; c < view.display().channels.size(); ++c) {
    const auto& cd = view.display().channels[c];
    EXPECT_LT(cd.low, cd.high);
    // Roughly 1% of the visible pixels lie below the low end.
    size_t below = 0, total = 0;
    for (const auto& d : plan->tiles) {
      for (size_t i = 0; i < d.planes[c].image->pixel_count(); ++i) {
        below += d.planes[c].image->data()[i] < cd.low;
        ++total;
      }
    }
    EXPECT_LT(double(below) / double(total), 0.05) << "channel " << c;
  }
}

TEST(SlideViewTest, DetectionLayerIsDrawnOverItsTiles) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(), {});
  {
    auto app = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(app.ok()) << app.status().to_string();
    LabelTile lt;
    lt.width = 128;
    lt.height = 96;
    lt.labels.assign(size_t(128) * 96, 0);
    for (int y = 20; y < 60; ++y) {
      for (int x = 30; x < 90; ++x) lt.labels[size_t(y) * 128 + size_t(x)] = 7;
    }
    ASSERT_TRUE((*app)->write_labels("blobs", TileKey{0, 0, 0}, lt).ok());
    ASSERT_TRUE((*app)->write_objects_json("blobs", "[]").ok());
    ASSERT_TRUE((*app)->flush().ok());
  }
  auto slide = open_slide(path);
  SlideView view(*slide);
  ASSERT_TRUE(view.set_overlay(Overlay{false, "blobs"}).ok());
  FrameInfo info;
  auto plan = view.plan_complete(view.fit_viewport(200, 150), &info, milliseconds(60000));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_EQ(plan->labels.size(), 1u);  // the other tiles have no labels: not an error
  EXPECT_EQ(plan->labels[0].key.row, 0);
  EXPECT_TRUE(info.warnings.empty());
}

// An object the table marks as a duplicate (kept: false, another field holds
// it) is not drawn; the flat-field stored for a channel reaches the plan.
TEST(SlideViewTest, DuplicateDetectionsHiddenAndFlatFieldInThePlan) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(), {});
  {
    auto app = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(app.ok()) << app.status().to_string();
    LabelTile lt;
    lt.width = 128;
    lt.height = 96;
    lt.labels.assign(size_t(128) * 96, 0);
    for (int y = 20; y < 60; ++y)
      for (int x = 10; x < 110; ++x) lt.labels[size_t(y) * 128 + size_t(x)] = x < 60 ? 7 : 8;
    ASSERT_TRUE((*app)->write_labels("blobs", TileKey{0, 0, 0}, lt).ok());
    ASSERT_TRUE((*app)->write_objects_json("blobs", R"([{"row":0,"col":0,"label":7,"kept":true},
                                                         {"row":0,"col":0,"label":8,"kept":false,"duplicate_of":9}])")
                    .ok());
    FlatField f;
    f.channel = 0;
    f.gain_width = 2;
    f.gain_height = 2;
    f.gain = {0.9f, 1.1f, 1.0f, 1.0f};
    f.dark = 100;
    ASSERT_TRUE((*app)->write_flatfield(f).ok());
    ASSERT_TRUE((*app)->flush().ok());
  }
  auto slide = open_slide(path);
  SlideView view(*slide);
  ASSERT_TRUE(view.set_overlay(Overlay{false, "blobs"}).ok());
  auto plan = view.plan_complete(view.fit_viewport(200, 150), nullptr, milliseconds(60000));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_EQ(plan->labels.size(), 1u);
  const auto& labels = plan->labels[0].labels->labels;
  EXPECT_NE(std::find(labels.begin(), labels.end(), 7u), labels.end());
  EXPECT_EQ(std::find(labels.begin(), labels.end(), 8u), labels.end());
  const int pos = view.display().position_of(0);
  ASSERT_GE(pos, 0);
  ASSERT_EQ(plan->flatfields.size(), view.display().channels.size());
  ASSERT_TRUE(plan->flatfields[size_t(pos)]);
  EXPECT_FLOAT_EQ(plan->flatfields[size_t(pos)]->dark, 100.0f);
  view.set_flatfield(false);
  plan = view.plan_complete(view.fit_viewport(200, 150), nullptr, milliseconds(60000));
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->flatfields.empty());
}

}  // namespace
}  // namespace vslide::view

namespace vslide::view {
namespace {

TEST(SlideViewTest, TheOverviewStandsInForTilesNotLoadedYet) {
  testing::TempDir dir;
  const auto path = write_slide(dir, small_config(), {}, /*overview=*/true);
  auto slide = open_slide(path);
  SlideView view(*slide);
  FrameInfo info;
  ASSERT_TRUE(view.plan_complete(centred(view, 0.02), &info).ok());
  EXPECT_TRUE(info.overview_only);  // coarser than the overview's pixels: nothing else needed
  EXPECT_EQ(view.loader_stats().planes_loaded, 0u);

  auto plan = view.plan_frame(centred(view, 1.0), &info);  // no tile loaded yet
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(info.complete);
  ASSERT_FALSE(plan->tiles.empty());
  EXPECT_EQ(plan->tiles.front().level, -1);  // the overview, under everything
  auto img = render_cpu(*plan);
  ASSERT_TRUE(img.ok());
  size_t lit = 0;
  for (uint8_t v : img->pixels) lit += v != 0;
  EXPECT_GT(lit, img->pixels.size() / 4);  // the screen is not left black meanwhile
}

}  // namespace
}  // namespace vslide::view
