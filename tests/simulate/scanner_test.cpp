#include "vslide/simulate/scanner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace vslide {
namespace {

ScanConfig small_config() {
  ScanConfig c;
  c.rows = 3;
  c.cols = 4;
  c.channels = 3;
  c.tile_width = 512;
  c.tile_height = 384;
  c.overlap = 0.2;
  return c;
}

// Pearson correlation of two equally sized pixel sets.
double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= double(a.size());
  mb /= double(b.size());
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// Pixels of tile A and tile B that see the same specimen point when each
// tile is placed at (ax, ay) / (bx, by) um; `extra_px` shifts B on purpose.
double overlap_correlation(const SyntheticScanner& s, const Image16& a, const Image16& b, double ax, double ay,
                           double bx, double by, int extra_px = 0) {
  const double p = s.config().pixel_size_um;
  const int du = int(std::lround((ax - bx) / p)) + extra_px, dv = int(std::lround((ay - by) / p));
  std::vector<double> va, vb;
  for (int y = 0; y < a.height(); ++y) {
    for (int x = 0; x < a.width(); ++x) {
      const int xb = x + du, yb = y + dv;
      if (xb < 0 || yb < 0 || xb >= b.width() || yb >= b.height()) continue;
      va.push_back(a.at(x, y));
      vb.push_back(b.at(xb, yb));
    }
  }
  EXPECT_GT(va.size(), 5000u) << "tiles do not overlap enough";
  return correlation(va, vb);
}

// Sum of squared 4-neighbour Laplacians of the 2x2-binned image: the
// specimen's fine detail (binning keeps pixel noise from dominating).
double laplacian_energy(const Image16& full) {
  const Image16 img = downsample(full, 2);
  double e = 0;
  for (int y = 1; y + 1 < img.height(); ++y)
    for (int x = 1; x + 1 < img.width(); ++x) {
      const double l = 4.0 * img.at(x, y) - img.at(x - 1, y) - img.at(x + 1, y) - img.at(x, y - 1) - img.at(x, y + 1);
      e += l * l;
    }
  return e;
}

TEST(SyntheticScanner, DeterministicForSeedAndKey) {
  const SyntheticScanner a(small_config()), b(small_config());
  const TileKey key{1, 2, 0, 0, 0, 0};
  EXPECT_EQ(a.render(key), b.render(key));
  ScanConfig other = small_config();
  other.seed = 8;
  EXPECT_FALSE(a.render(key) == SyntheticScanner(other).render(key));
  EXPECT_FALSE(a.render(key) == a.render(TileKey{1, 3, 0, 0, 0, 0}));
  std::vector<uint16_t> raw(size_t(512) * 384);
  a.render_into(key, raw.data());
  EXPECT_EQ(raw, a.render(key).pixels());
}

TEST(SyntheticScanner, InvalidKeysRenderNothing) {
  const SyntheticScanner s(small_config());
  EXPECT_TRUE(s.render(TileKey{3, 0, 0, 0, 0, 0}).empty());
  EXPECT_TRUE(s.render(TileKey{0, 0, 3, 0, 0, 0}).empty());
  EXPECT_TRUE(s.render(TileKey{0, 0, 0, 0, 0, 1}).empty());
}

TEST(SyntheticScanner, ValidateNamesTheBadField) {
  ScanConfig c = small_config();
  EXPECT_TRUE(validate(c).ok());
  c.overlap = 0.95;
  EXPECT_NE(validate(c).message().find("overlap"), std::string::npos);
  c = small_config();
  c.rows = 0;
  EXPECT_EQ(validate(c).code(), StatusCode::kInvalidArgument);
  c = small_config();
  c.sparse = -0.1;
  EXPECT_NE(validate(c).message().find("sparse"), std::string::npos);
}

TEST(SyntheticScanner, NeighboursShowTheSameSpecimenAtTruePositions) {
  const SyntheticScanner s(small_config());
  for (const auto& [r2, c2] : {std::pair{0, 1}, std::pair{1, 0}}) {
    const FieldTruth ta = s.truth_at(0, 0), tb = s.truth_at(r2, c2);
    const Image16 a = s.render(TileKey{0, 0, 0, 0, 0, 0}), b = s.render(TileKey{r2, c2, 0, 0, 0, 0});
    const double good = overlap_correlation(s, a, b, ta.true_x_um, ta.true_y_um, tb.true_x_um, tb.true_y_um);
    EXPECT_GT(good, 0.9) << "neighbour (" << r2 << "," << c2 << ")";
    // Misplaced by 40 px (6.5 um: most of a nucleus), the overlap no longer matches.
    const double bad = overlap_correlation(s, a, b, ta.true_x_um, ta.true_y_um, tb.true_x_um, tb.true_y_um, 40);
    EXPECT_LT(bad, 0.6);
  }
}

TEST(SyntheticScanner, TwelveBitMostlySmallCounts) {
  ScanConfig c = small_config();
  c.tile_width = 1024;
  c.tile_height = 768;
  const SyntheticScanner s(c);
  for (int ch = 0; ch < 3; ++ch) {
    const Image16 img = s.render(TileKey{1, 1, ch, 0, 0, 0});
    double sum = 0;
    size_t small = 0;
    uint16_t lo = 65535, hi = 0;
    for (uint16_t v : img.pixels()) {
      sum += v;
      small += v < 256;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    const double mean = sum / double(img.pixel_count());
    EXPECT_LE(hi, 4095) << "channel " << ch;
    EXPECT_GT(hi, ch == 1 ? 400 : 800) << "channel " << ch << " has no bright content";
    EXPECT_GE(lo, 60) << "channel " << ch << " lost its dark offset";
    EXPECT_GT(mean, 120) << "channel " << ch;
    EXPECT_LT(mean, 400) << "channel " << ch;
    EXPECT_GT(double(small) / double(img.pixel_count()), ch == 1 ? 0.5 : 0.8) << "channel " << ch;
  }
}

TEST(SyntheticScanner, SparseSkipsTheRequestedFraction) {
  ScanConfig c = small_config();
  c.rows = 6;
  c.cols = 8;
  c.sparse = 0.25;
  const SyntheticScanner s(c);
  EXPECT_EQ(s.fields().size(), 36u);
  EXPECT_EQ(s.field_truth().size(), 36u);
  std::set<std::pair<int, int>> seen;
  for (const FieldOfView& f : s.fields()) EXPECT_TRUE(seen.insert({f.row, f.col}).second);
  c.sparse = 1.0;
  EXPECT_EQ(SyntheticScanner(c).fields().size(), 1u) << "never skip every field";
  c.sparse = 0;
  EXPECT_EQ(SyntheticScanner(c).fields().size(), 48u);
}

TEST(SyntheticScanner, SerpentineOrderAndAdvancingClock) {
  const SyntheticScanner s(small_config());
  const auto& f = s.fields();
  ASSERT_EQ(f.size(), 12u);
  const int expected_cols[] = {0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3};
  for (size_t i = 0; i < f.size(); ++i) {
    EXPECT_EQ(f[i].row, int(i / 4));
    EXPECT_EQ(f[i].col, expected_cols[i]);
    EXPECT_EQ(s.field_truth()[i].row, f[i].row);
    EXPECT_EQ(s.field_truth()[i].col, f[i].col);
    EXPECT_EQ(f[i].stage_x_um, s.field_truth()[i].reported_x_um);
    if (i > 0) {
      EXPECT_GT(f[i].acquired_unix_s, f[i - 1].acquired_unix_s);
    }
  }
}

TEST(SyntheticScanner, ShearAndJitterShowInTruthOnly) {
  ScanConfig c = small_config();
  c.stage_jitter_um = 0;
  c.shear_deg = 0.5;
  const SyntheticScanner s(c);
  const FieldTruth a = s.truth_at(0, 0), b = s.truth_at(0, 3), d = s.truth_at(2, 0);
  const double step_x = 512 * 0.8 * c.pixel_size_um, step_y = 384 * 0.8 * c.pixel_size_um;
  const double th = 0.5 * 3.141592653589793 / 180;
  EXPECT_DOUBLE_EQ(b.reported_y_um, a.reported_y_um);  // the stage believes its rows are straight
  EXPECT_NEAR(b.reported_x_um - a.reported_x_um, 3 * step_x, 1e-9);
  EXPECT_NEAR(b.true_y_um - a.true_y_um, 3 * step_x * std::sin(th), 1e-6);  // the camera sees them tilted
  EXPECT_NEAR(d.true_x_um - a.true_x_um, -2 * step_y * std::sin(th), 1e-6);
  EXPECT_GT(b.true_y_um - a.true_y_um, 1.0);

  c.stage_jitter_um = 1.5;
  const SyntheticScanner j(c);
  double sq = 0;
  for (const FieldTruth& f : j.field_truth()) {
    const FieldTruth ideal = s.truth_at(f.row, f.col);
    sq += std::pow(f.true_x_um - ideal.true_x_um, 2) + std::pow(f.true_y_um - ideal.true_y_um, 2);
  }
  const double rms = std::sqrt(sq / (2.0 * double(j.field_truth().size())));
  EXPECT_GT(rms, 0.5);
  EXPECT_LT(rms, 3.0);
}

TEST(SyntheticScanner, DefocusRemovesHighFrequencies) {
  ScanConfig c = small_config();
  c.z_planes = 3;
  c.z_step_um = 1.5;
  const SyntheticScanner s(c);
  const double below = laplacian_energy(s.render(TileKey{1, 1, 0, 0, 0, 0}));
  const double focus = laplacian_energy(s.render(TileKey{1, 1, 0, 1, 0, 0}));
  const double above = laplacian_energy(s.render(TileKey{1, 1, 0, 2, 0, 0}));
  EXPECT_GT(focus, 2.0 * below);
  EXPECT_GT(focus, 2.0 * above);
}

TEST(SyntheticScanner, LaterTimePointsDriftAndBleach) {
  ScanConfig c = small_config();
  c.timepoints = 3;
  const SyntheticScanner s(c);
  auto mean = [](const Image16& img) {
    double sum = 0;
    for (uint16_t v : img.pixels()) sum += v;
    return sum / double(img.pixel_count());
  };
  const Image16 t0 = s.render(TileKey{1, 1, 0, 0, 0, 0}), t2 = s.render(TileKey{1, 1, 0, 0, 2, 0});
  EXPECT_LT(mean(t2), mean(t0));
  double dx, dy;
  s.drift_um(2, &dx, &dy);
  EXPECT_GT(std::hypot(dx, dy), 0.3);
  // Undoing the drift re-aligns the two time points.
  const double aligned = overlap_correlation(s, t0, t2, 0, 0, -dx, -dy);
  const double misaligned = overlap_correlation(s, t0, t2, 0, 0, 0, 0, 30);
  EXPECT_GT(aligned, 0.9);
  EXPECT_LT(misaligned, aligned - 0.2);
}

TEST(SyntheticScanner, NucleiInMatchBrightChannelZero) {
  ScanConfig c = small_config();
  c.tile_width = 1024;
  c.tile_height = 768;
  const SyntheticScanner s(c);
  const FieldTruth f = s.truth_at(1, 1);
  const double p = c.pixel_size_um, w = c.tile_width * p, h = c.tile_height * p;
  const Image16 img = s.render(TileKey{1, 1, 0, 0, 0, 0});
  const auto nuclei = s.nuclei_in(f.true_x_um, f.true_y_um, f.true_x_um + w, f.true_y_um + h);
  ASSERT_GT(nuclei.size(), 20u);
  std::set<int64_t> ids;
  for (const NucleusTruth& n : nuclei) {
    EXPECT_TRUE(ids.insert(n.id).second);
    EXPECT_GT(n.radius_um, 3.0);
    EXPECT_LT(n.radius_um, 8.0);
    const int x = int((n.x_um - f.true_x_um) / p), y = int((n.y_um - f.true_y_um) / p);
    EXPECT_GT(img.at(x, y), 500) << "nucleus " << n.id << " at pixel (" << x << "," << y << ")";
  }
  // Far from every nucleus (2 um beyond its major axis) channel 0 stays near background.
  const auto around = s.nuclei_in(f.true_x_um - 30, f.true_y_um - 30, f.true_x_um + w + 30, f.true_y_um + h + 30);
  int dark_checked = 0;
  for (int y = 8; y < img.height(); y += 16) {
    for (int x = 8; x < img.width(); x += 16) {
      const double sx = f.true_x_um + (x + 0.5) * p, sy = f.true_y_um + (y + 0.5) * p;
      bool near = false;
      for (const NucleusTruth& n : around) near |= std::hypot(sx - n.x_um, sy - n.y_um) < n.major_um + 2.0;
      if (near) continue;
      ++dark_checked;
      EXPECT_LT(img.at(x, y), 260) << "pixel (" << x << "," << y << ") far from nuclei";
    }
  }
  EXPECT_GT(dark_checked, 200);
}

TEST(SyntheticScanner, HeaderChannelsAndTruthJson) {
  const SyntheticScanner s(small_config());
  const SlideHeader h = s.header();
  EXPECT_EQ(h.instrument, "vslide simulator");
  EXPECT_EQ(h.objective, "40x/0.95");
  EXPECT_EQ(h.pixel_size_um, 0.1625);
  EXPECT_EQ(h.slide_id, SyntheticScanner(small_config()).header().slide_id);
  ScanConfig other = small_config();
  other.seed = 99;
  EXPECT_NE(h.slide_id, SyntheticScanner(other).header().slide_id);
  EXPECT_EQ(s.channels().size(), 3u);
  EXPECT_EQ(s.channels()[0].name, "DAPI");
  EXPECT_EQ(s.geometry().tile_width, 512);
  EXPECT_TRUE(s.geometry().valid());
  const nlohmann::json j = s.truth_json();
  EXPECT_EQ(j["fields"].size(), 12u);
  EXPECT_GT(j["nuclei"].size(), 50u);
  EXPECT_EQ(j["config"]["seed"], 7);
}

}  // namespace
}  // namespace vslide

namespace vslide {
namespace {

TEST(SyntheticScanner, SomeNucleiTouchNoneOverlapMuch) {
  const SyntheticScanner s(small_config());
  const auto nuclei = s.nuclei_in(0, 0, 1000, 1000);
  ASSERT_GT(nuclei.size(), 1000u);
  size_t touching = 0;
  for (size_t i = 0; i < nuclei.size(); ++i)
    for (size_t j = i + 1; j < nuclei.size(); ++j) {
      const NucleusTruth &a = nuclei[i], &b = nuclei[j];
      const double d = std::hypot(a.x_um - b.x_um, a.y_um - b.y_um);
      if (d > a.major_um + b.major_um + 1) continue;
      ++touching;
      // Daughter pairs touch through a neck; their centres never get closer
      // than 0.85 of the radii's sum (so each keeps most of its body).
      EXPECT_GT(d, 0.85 * (a.radius_um + b.radius_um)) << a.id << " / " << b.id;
    }
  const double fraction = double(2 * touching) / double(nuclei.size());
  EXPECT_GT(fraction, 0.1);
  EXPECT_LT(fraction, 0.35);
}

}  // namespace
}  // namespace vslide
