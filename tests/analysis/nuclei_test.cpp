#include "vslide/analysis/nuclei.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "common/testing.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/tiff_io.h"

namespace vslide {
namespace {

struct Score {
  size_t detections = 0, detections_matched = 0;  // detections not cut by the tile edge
  size_t truths = 0, truths_found = 0;            // true nuclei fully inside a tile
  double precision() const { return detections ? double(detections_matched) / double(detections) : 0; }
  double recall() const { return truths ? double(truths_found) / double(truths) : 0; }
};

// Runs the pipeline on every tile of a synthetic slide and scores it against
// the truth, tile by tile: a nucleus seen in two overlapping tiles counts once
// per tile it lies fully inside. A detection matches a true nucleus when its
// centroid lies within that nucleus' radius.
Score score_synthetic(const ScanConfig& config, const NucleiPipeline& pipeline) {
  const SyntheticScanner s(config);
  const double p = config.pixel_size_um, w = config.tile_width * p, h = config.tile_height * p;
  Score score;
  for (size_t i = 0; i < s.fields().size(); ++i) {
    const FieldOfView& field = s.fields()[i];
    const FieldTruth& truth = s.field_truth()[i];
    const TileKey key{field.row, field.col, 0, 0, 0, 0};
    Result<Detection> d = pipeline.run(s.render(key), key, field, p);
    EXPECT_TRUE(d.ok()) << d.status().to_string();
    if (!d.ok()) continue;
    const auto nuclei = s.nuclei_in(truth.true_x_um - 10, truth.true_y_um - 10, truth.true_x_um + w + 10,
                                    truth.true_y_um + h + 10);
    auto matches = [&](const DetectedObject& o, const NucleusTruth& n) {
      const double x = truth.true_x_um + o.x_px * p, y = truth.true_y_um + o.y_px * p;
      return std::hypot(x - n.x_um, y - n.y_um) < n.radius_um;
    };
    for (const DetectedObject& o : d->objects) {
      if (o.touches_border) continue;
      ++score.detections;
      for (const NucleusTruth& n : nuclei)
        if (matches(o, n)) {
          ++score.detections_matched;
          break;
        }
    }
    for (const NucleusTruth& n : nuclei) {
      const double m = n.major_um + 0.5;
      if (n.x_um - m < truth.true_x_um || n.y_um - m < truth.true_y_um || n.x_um + m > truth.true_x_um + w ||
          n.y_um + m > truth.true_y_um + h)
        continue;
      ++score.truths;
      for (const DetectedObject& o : d->objects)
        if (matches(o, n)) {
          ++score.truths_found;
          break;
        }
    }
  }
  return score;
}

TEST(NucleiPipeline, MatchesSimulatorTruth) {
  ScanConfig c;
  c.rows = 3;
  c.cols = 4;
  c.channels = 1;
  c.tile_width = 512;
  c.tile_height = 384;
  c.seed = 11;
  const Score s = score_synthetic(c, NucleiPipeline());
  std::printf("synthetic 3x4 tiles of 512x384, seed 11: precision %.3f (%zu/%zu), recall %.3f (%zu/%zu)\n",
              s.precision(), s.detections_matched, s.detections, s.recall(), s.truths_found, s.truths);
  EXPECT_GT(s.truths, 40u);
  EXPECT_GE(s.precision(), 0.8);
  EXPECT_GE(s.recall(), 0.8);
}

TEST(NucleiPipeline, MatchesTruthOutOfFocusToo) {
  ScanConfig c;
  c.rows = 2;
  c.cols = 2;
  c.channels = 1;
  c.z_planes = 3;
  c.tile_width = 512;
  c.tile_height = 384;
  const SyntheticScanner s(c);
  const double p = c.pixel_size_um;
  const FieldTruth t = s.truth_at(1, 1);
  const size_t truth_count =
      s.nuclei_in(t.true_x_um + 8, t.true_y_um + 8, t.true_x_um + 512 * p - 8, t.true_y_um + 384 * p - 8).size();
  for (int z = 0; z < 3; ++z) {
    const TileKey key{1, 1, 0, z, 0, 0};
    Result<Detection> d = NucleiPipeline().run(s.render(key), key, s.fields()[2], p);
    ASSERT_TRUE(d.ok());
    size_t inner = 0;
    for (const DetectedObject& o : d->objects) inner += !o.touches_border;
    EXPECT_GE(double(inner), 0.8 * double(truth_count)) << "z " << z;
    EXPECT_LE(double(inner), 1.3 * double(truth_count) + 2) << "z " << z;
  }
}

TEST(NucleiPipeline, LabelsAndTableAgree) {
  ScanConfig c;
  c.rows = 1;
  c.cols = 1;
  c.channels = 1;
  c.tile_width = 640;
  c.tile_height = 480;
  const SyntheticScanner s(c);
  const TileKey key{0, 0, 0, 0, 0, 0};
  FieldOfView field = s.fields()[0];
  field.stage_x_um = 1000;
  field.stage_y_um = 2000;
  Result<Detection> d = NucleiPipeline().run(s.render(key), key, field, c.pixel_size_um);
  ASSERT_TRUE(d.ok());
  ASSERT_GT(d->objects.size(), 3u);
  ASSERT_EQ(d->labels.width, 640);
  ASSERT_EQ(d->labels.height, 480);
  std::vector<int64_t> area(d->objects.size() + 1, 0);
  for (uint32_t l : d->labels.labels) {
    ASSERT_LE(l, d->objects.size());
    ++area[l];
  }
  for (size_t i = 0; i < d->objects.size(); ++i) {
    const DetectedObject& o = d->objects[i];
    EXPECT_EQ(o.label, i + 1);
    EXPECT_EQ(o.area_px, area[i + 1]);
    EXPECT_NEAR(o.x_um, 1000 + o.x_px * c.pixel_size_um, 1e-9);
    EXPECT_NEAR(o.y_um, 2000 + o.y_px * c.pixel_size_um, 1e-9);
    EXPECT_GE(o.x_px, o.bbox_x0);
    EXPECT_LE(o.x_px, o.bbox_x1);
    EXPECT_GT(o.mean_intensity, 300);
    EXPECT_EQ(o.touches_border, o.bbox_x0 == 0 || o.bbox_y0 == 0 || o.bbox_x1 == 640 || o.bbox_y1 == 480);
    // JSON round trip of the table row.
    nlohmann::json j = o;
    const DetectedObject back = j.get<DetectedObject>();
    EXPECT_EQ(back.id, o.id);
    EXPECT_EQ(back.bbox_y1, o.bbox_y1);
    EXPECT_EQ(back.key, o.key);
  }
}

TEST(NucleiPipeline, EmptyFieldYieldsNothing) {
  // Background only: dark offset plus noise, no specimen.
  Image16 img(300, 200);
  uint32_t x = 12345;
  for (uint16_t& v : img.pixels()) {
    x = x * 1664525u + 1013904223u;
    v = uint16_t(150 + (x >> 28));
  }
  Result<Detection> d = NucleiPipeline().run(img, TileKey{}, FieldOfView{}, 0.1625);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->objects.size(), 0u);
}

TEST(NucleiPipeline, RejectsBadInput) {
  Result<Detection> d = NucleiPipeline().run(Image16View(), TileKey{2, 3, 0, 0, 0, 0}, FieldOfView{}, 0.1625);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("(2,3)"), std::string::npos) << d.status().message();
  Image16 img(10, 10);
  EXPECT_FALSE(NucleiPipeline().run(img, TileKey{}, FieldOfView{}, 0).ok());
  EXPECT_FALSE(make_pipeline("cells").ok());
  EXPECT_NE(make_pipeline("cells").status().message().find("nuclei"), std::string::npos);
  ASSERT_TRUE(make_pipeline("nuclei").ok());
  EXPECT_EQ(make_pipeline("nuclei").value()->name(), "nuclei");
}

// The CellProfiler "speckles" Hoechst field: about 200 px wide nuclei. It
// carries no calibration; 0.08 um/px makes them ~16 um across, as nuclei are.
TEST(NucleiPipeline, RealHoechstField) {
  Result<Image16> img = read_tiff16(testing::real_data_dir() + "/speckles_hoechst.tif");
  ASSERT_TRUE(img.ok()) << img.status().to_string();
  Result<Detection> d = NucleiPipeline().run(*img, TileKey{}, FieldOfView{}, 0.08);
  ASSERT_TRUE(d.ok());
  std::printf("speckles_hoechst.tif: %zu nuclei\n", d->objects.size());
  for (const DetectedObject& o : d->objects)
    std::printf("  (%.0f, %.0f) %lld px%s\n", o.x_px, o.y_px, static_cast<long long>(o.area_px),
                o.touches_border ? " (cut by the edge)" : "");
  // Centres read off the image by eye (pixels): every whole nucleus in it.
  const double kCentres[][2] = {{785, 250}, {875, 360}, {455, 380}, {610, 465}, {190, 505}, {375, 750}, {95, 845}};
  for (const auto& c : kCentres) {
    bool found = false;
    for (const DetectedObject& o : d->objects) found |= std::hypot(o.x_px - c[0], o.y_px - c[1]) < 50;
    EXPECT_TRUE(found) << "no nucleus found near (" << c[0] << ", " << c[1] << ")";
  }
  EXPECT_GE(d->objects.size(), 7u);
  EXPECT_LE(d->objects.size(), 9u);
}

}  // namespace
}  // namespace vslide
