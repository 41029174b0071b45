// The fusion engine in-process: raw values kept where one field covers a
// pixel, seamless feathering in overlaps, shading correction by the
// project's rule, stored zoom layers used, sparse mosaics, bounded caches.
#include <gtest/gtest.h>

#include <cmath>

#include "common/testing.h"
#include <limits>

#include "export_fixture.h"
#include "vslide/export/export.h"
#include "vslide/export/fusion.h"

namespace vslide::testing {
namespace {

struct Slide {
  TempDir dir;
  std::unique_ptr<Hdf5Slide> s;
};

// rows x cols fields of w x h, one channel, placed `step_px` apart, each
// plane filled by `fill(r, c, x, y)`.
template <typename Fill>
std::unique_ptr<Slide> make_slide(int rows, int cols, int w, int h, int step_px, Fill fill,
                                  bool (*skip)(int, int) = nullptr) {
  auto sl = std::make_unique<Slide>();
  MosaicGeometry g;
  g.rows = rows;
  g.cols = cols;
  g.tile_width = w;
  g.tile_height = h;
  g.pixel_size_um = 1.0;
  SlideHeader hd;
  hd.slide_id = "vs-fusion";
  auto s = Hdf5Slide::create(sl->dir.file("f.h5"), hd, g, default_channels(1), CreateOptions{});
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      if (skip && skip(r, c)) continue;
      EXPECT_TRUE((*s)->write_field(FieldOfView{r, c, c * double(step_px), r * double(step_px), 0, 0}).ok());
      Image16 img(w, h);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) img.at(x, y) = fill(r, c, x, y);
      EXPECT_TRUE((*s)->write_plane(TileKey{r, c, 0, 0, 0, 0}, img).ok());
    }
  }
  sl->s = std::move(*s);
  return sl;
}

Image16 fuse_all(const MosaicFuser& f, int32_t level = 0) {
  const FusionPlan& p = f.plan();
  Image16 out(int(p.level_width(level)), int(p.level_height(level)));
  Status s = f.fuse_block(level, OutputPlane{}, 0, 0, out.width(), out.height(), out.pixels());
  EXPECT_TRUE(s.ok()) << s.to_string();
  return out;
}

TEST(Fusion, OneFieldIsItsRawPlane) {
  auto sl = make_slide(1, 1, 40, 30, 0, [](int, int, int x, int y) { return uint16_t(x * 100 + y); });
  auto f = MosaicFuser::create(*sl->s, FusionOptions{});
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ((*f)->plan().width, 40);
  EXPECT_EQ((*f)->plan().height, 30);
  EXPECT_FALSE((*f)->plan().registered);
  Image16 out = fuse_all(**f);
  auto raw = sl->s->read(TileKey{});
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE(out == *raw);
  // A block reaching past the image: the pixels outside are 0.
  std::vector<uint16_t> block(16 * 16);
  ASSERT_TRUE((*f)->fuse_block(0, OutputPlane{}, 32, 24, 16, 16, block).ok());
  EXPECT_EQ(block[0], raw->at(32, 24));
  EXPECT_EQ(block[15 * 16 + 15], 0);
}

TEST(Fusion, OverlapsBlendWithoutSeams) {
  // Two fields, 1000 and 2000 everywhere, overlapping by 20 px.
  auto sl = make_slide(1, 2, 60, 20, 40, [](int, int c, int, int) { return uint16_t(1000 + 1000 * c); });
  auto f = MosaicFuser::create(*sl->s, FusionOptions{});
  ASSERT_TRUE(f.ok());
  Image16 out = fuse_all(**f);
  ASSERT_EQ(out.width(), 100);
  const int y = 10;
  for (int x = 0; x < 40; ++x) EXPECT_EQ(out.at(x, y), 1000) << x;
  for (int x = 60; x < 100; ++x) EXPECT_EQ(out.at(x, y), 2000) << x;
  for (int x = 1; x < 100; ++x) {
    EXPECT_GE(out.at(x, y), out.at(x - 1, y)) << x;            // monotone across the overlap
    EXPECT_LE(out.at(x, y) - out.at(x - 1, y), 1000 / 8) << x;  // no step: a ramp over the overlap
  }
}

TEST(Fusion, FlatFieldCorrectedByTheProjectsRule) {
  auto sl = make_slide(1, 1, 32, 16, 0, [](int, int, int x, int y) { return uint16_t(500 + 10 * x + y); });
  FlatField ff;
  ff.channel = 0;
  ff.gain_width = 4;
  ff.gain_height = 2;
  ff.gain = {0.8f, 0.9f, 1.1f, 1.2f, 0.85f, 0.95f, 1.05f, 1.25f};
  ff.dark = 100;
  ASSERT_TRUE(sl->s->write_flatfield(ff).ok());
  auto f = MosaicFuser::create(*sl->s, FusionOptions{});
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  ASSERT_EQ((*f)->plan().flatfield, std::vector<bool>{true});
  Image16 out = fuse_all(**f);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 32; ++x) {
      const float want = ff.correct(float(500 + 10 * x + y), (x + 0.5f) / 32, (y + 0.5f) / 16);
      EXPECT_EQ(out.at(x, y), uint16_t(std::floor(want + 0.5f))) << x << "," << y;
    }
  }
  FusionOptions off;
  off.use_flatfield = false;
  auto raw = MosaicFuser::create(*sl->s, off);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(fuse_all(**raw).at(3, 4), 500 + 30 + 4);
}

TEST(Fusion, StoredZoomLayersAreUsedForCoarserLevels) {
  auto sl = make_slide(1, 1, 32, 32, 0, [](int, int, int x, int) { return uint16_t(1000 + x); });
  ASSERT_TRUE(sl->s->add_zoom_level(1).ok());
  Image16 half(16, 16);
  for (auto& v : half.pixels()) v = 7;  // distinguishable from a downsampled raw plane
  ASSERT_TRUE(sl->s->write_plane(TileKey{0, 0, 0, 0, 0, 1}, half).ok());
  FusionOptions o;
  o.levels = 3;
  auto f = MosaicFuser::create(*sl->s, o);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(fuse_all(**f, 1).at(5, 5), 7);
  EXPECT_EQ(fuse_all(**f, 2).at(2, 2), 7);  // level 2 from the stored level 1
  o.use_zoom_layers = false;
  auto raw = MosaicFuser::create(*sl->s, o);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(fuse_all(**raw, 1).at(5, 5), 1000 + 10 + 1);  // mean of 10, 11 rounded half up
}

TEST(Fusion, SparseMosaicLeavesHolesAtZero) {
  auto sl = make_slide(2, 2, 20, 20, 20, [](int, int, int, int) { return uint16_t(900); },
                       [](int r, int c) { return r == 1 && c == 0; });
  auto f = MosaicFuser::create(*sl->s, FusionOptions{});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->plan().fields, 3);
  Image16 out = fuse_all(**f);
  EXPECT_EQ(out.at(5, 25), 0);
  EXPECT_EQ(out.at(25, 25), 900);
  EXPECT_EQ(out.at(5, 5), 900);
}

TEST(Fusion, ASmallCacheGivesTheSameImage) {
  auto sl = make_slide(3, 3, 50, 40, 42, [](int r, int c, int x, int y) { return uint16_t(r * 300 + c * 100 + x + y); });
  FusionOptions big, tiny;
  tiny.cache_bytes = 1;
  auto a = MosaicFuser::create(*sl->s, big);
  auto b = MosaicFuser::create(*sl->s, tiny);
  ASSERT_TRUE(a.ok() && b.ok());
  const FusionPlan& p = (*a)->plan();
  for (int64_t y = 0; y < p.height; y += 32) {
    for (int64_t x = 0; x < p.width; x += 32) {
      std::vector<uint16_t> ba(32 * 32), bb(32 * 32);
      ASSERT_TRUE((*a)->fuse_block(0, OutputPlane{}, x, y, 32, 32, ba).ok());
      ASSERT_TRUE((*b)->fuse_block(0, OutputPlane{}, x, y, 32, 32, bb).ok());
      ASSERT_EQ(ba, bb);
    }
  }
  EXPECT_EQ((*a)->planes_decoded(), 9u);
  EXPECT_GT((*b)->planes_decoded(), 9u);
}

// The blend written out pixel by pixel, the definition in fusion.h: every
// field over the pixel weighs min(x + 1, w - x, y + 1, h - y); weighted mean
// rounded half up; 0 where no field lies.
TEST(Fusion, RunsOfOneFieldAndOverlapsEqualThePerPixelDefinition) {
  const int w = 45, h = 33, step = 37;  // overlaps of 8 and (negative) gaps nowhere; odd sizes
  auto value = [](int r, int c, int x, int y) { return uint16_t((r * 7919 + c * 104729 + x * 31 + y * 17) % 4096); };
  auto sl = make_slide(3, 4, w, h, step, value, [](int r, int c) { return r == 2 && c == 3; });
  auto f = MosaicFuser::create(*sl->s, FusionOptions{});
  ASSERT_TRUE(f.ok());
  const FusionPlan& p = (*f)->plan();
  // Blocks of an awkward size, so runs start and end inside blocks.
  Image16 got(int(p.width), int(p.height));
  for (int64_t y = 0; y < p.height; y += 19) {
    for (int64_t x = 0; x < p.width; x += 23) {
      const int bw = int(std::min<int64_t>(23, p.width - x)), bh = int(std::min<int64_t>(19, p.height - y));
      std::vector<uint16_t> b(size_t(bw) * size_t(bh));
      ASSERT_TRUE((*f)->fuse_block(0, OutputPlane{}, x, y, bw, bh, b).ok());
      for (int j = 0; j < bh; ++j)
        for (int i = 0; i < bw; ++i) got.at(int(x) + i, int(y) + j) = b[size_t(j) * size_t(bw) + size_t(i)];
    }
  }
  int blended = 0;
  for (int y = 0; y < got.height(); ++y) {
    for (int x = 0; x < got.width(); ++x) {
      uint64_t sv = 0, sw = 0;
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 4; ++c) {
          if (r == 2 && c == 3) continue;
          const int tx = x - c * step, ty = y - r * step;
          if (tx < 0 || ty < 0 || tx >= w || ty >= h) continue;
          const uint64_t wt = uint64_t(std::min({tx + 1, w - tx, ty + 1, h - ty}));
          sv += wt * value(r, c, tx, ty);
          sw += wt;
        }
      }
      blended += sw > 0 && sv % sw != 0;
      ASSERT_EQ(got.at(x, y), sw == 0 ? 0 : (sv + sw / 2) / sw) << "pixel " << x << "," << y;
    }
  }
  EXPECT_GT(blended, 100);  // the overlaps were really blended
}

// Coarser levels from odd-sized planes: each level is the 2x2 mean of the one
// below (vslide::downsample), the last odd row and column included.
TEST(Fusion, CoarserLevelsOfOddPlanesAreTheMeanOfTheLevelBelow) {
  auto sl = make_slide(1, 1, 37, 29, 0, [](int, int, int x, int y) { return uint16_t((x * 977 + y * 6007) % 65536); });
  FusionOptions o;
  o.levels = 5;
  auto f = MosaicFuser::create(*sl->s, o);
  ASSERT_TRUE(f.ok());
  Image16 expect = fuse_all(**f, 0);
  for (int l = 1; l < 5; ++l) {
    expect = downsample(expect.view(), 2);
    Image16 got = fuse_all(**f, l);
    ASSERT_EQ(got.width(), expect.width());
    ASSERT_EQ(got.height(), expect.height());
    EXPECT_EQ(got.pixels(), expect.pixels()) << "level " << l;
  }
}

TEST(Fusion, BadRequestsNameWhatIsWrong) {
  auto sl = make_slide(1, 1, 20, 20, 0, [](int, int, int, int) { return uint16_t(1); });
  FusionOptions o;
  o.channels = {3};
  auto f = MosaicFuser::create(*sl->s, o);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("channel 3"), std::string::npos);
  o.channels = {};
  o.region_um = std::array<double, 4>{10, 10, 5, 20};
  EXPECT_FALSE(MosaicFuser::create(*sl->s, o).ok());
  // Absurd regions (audit of issue 16 on 1d55ca3): 1e300 um made an undefined
  // float-to-int conversion (a 1-pixel-wide export), 1e12 um an allocation
  // that ended in "out of memory". Both are refused with the size.
  for (const auto& r : {std::array<double, 4>{-1e300, 0, 1e300, 10}, std::array<double, 4>{0, 0, 1e12, 1e12},
                        std::array<double, 4>{0, 0, 10, std::numeric_limits<double>::infinity()}}) {
    o.region_um = r;
    auto big = MosaicFuser::create(*sl->s, o);
    ASSERT_FALSE(big.ok()) << r[0] << "," << r[1] << "," << r[2] << "," << r[3];
    EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument) << big.status().to_string();
    EXPECT_NE(big.status().message().find("2^31"), std::string::npos) << big.status().to_string();
  }
  o.region_um.reset();
  auto g = MosaicFuser::create(*sl->s, FusionOptions{});
  ASSERT_TRUE(g.ok());
  std::vector<uint16_t> small(10);
  EXPECT_EQ((*g)->fuse_block(0, OutputPlane{}, 0, 0, 8, 8, small).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*g)->fuse_block(5, OutputPlane{}, 0, 0, 2, 5, small).code(), StatusCode::kOutOfRange);
}

TEST(Export, FailureLeavesNoOutputAndNoPartial) {
  auto sl = make_slide(1, 1, 20, 20, 0, [](int, int, int, int) { return uint16_t(1); });
  TempDir d;
  ExportOptions o;
  o.compression = "lzma";
  auto r = export_slide(*sl->s, d.file("x.ome.tif"), o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("deflate or none"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(d.file("x.ome.tif")));
  EXPECT_FALSE(std::filesystem::exists(d.file("x.ome.tif.partial")));
  // A stale .partial from an interrupted run is replaced, never taken for a result.
  std::filesystem::create_directories(d.file("y.ome.zarr.partial/0"));
  o.format = ExportFormat::kOmeZarr;
  o.compression = "";
  r = export_slide(*sl->s, d.file("y.ome.zarr"), o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(std::filesystem::exists(d.file("y.ome.zarr/zarr.json")));
  EXPECT_FALSE(std::filesystem::exists(d.file("y.ome.zarr.partial")));
}

}  // namespace
}  // namespace vslide::testing
