// Shading (flat-field) estimation against the synthetic scanner's known
// illumination fall-off and dark offset, through the accumulator, a real
// Hdf5Slide and `vslide flatfield`.
#include "vslide/register/shading.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "common/testing.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide {
namespace {

ScanConfig shading_config() {
  ScanConfig c;
  c.rows = 6;
  c.cols = 8;
  c.channels = 2;
  c.tile_width = 640;
  c.tile_height = 540;
  c.seed = 11;
  return c;
}

// Mean background level (pixels below `cut`, the nuclei left out) of each of
// 12 x 10 cells over all fields: the illumination profile a user sees.
std::vector<double> background_profile(const std::vector<Image16>& tiles, float cut) {
  constexpr int kCx = 12, kCy = 10;
  std::vector<double> sum(kCx * kCy, 0), n(kCx * kCy, 0);
  for (const Image16& t : tiles)
    for (int y = 0; y < t.height(); ++y)
      for (int x = 0; x < t.width(); ++x) {
        const uint16_t v = t.at(x, y);
        if (v >= cut) continue;
        const int c = (y * kCy / t.height()) * kCx + x * kCx / t.width();
        sum[size_t(c)] += v;
        n[size_t(c)] += 1;
      }
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = n[i] > 0 ? sum[i] / n[i] : 0;
  return sum;
}

// How the corrected fields render bright content (nuclei) across the tile:
// per cell of 12 x 10, the corrected signal above the true dark level over
// the true signal (raw above the dark, divided by the scanner's illumination)
// for pixels whose true signal exceeds 400 counts (nuclei; not clipped).
// Flat when the gain and the dark level are right; a wrong dark level leaves
// the background flat but not the content.
std::vector<double> content_profile(const SyntheticScanner& s, const std::vector<Image16>& raw,
                                    const FlatField& f) {
  constexpr int kCx = 12, kCy = 10;
  const double dark = SyntheticScanner::dark_counts();
  std::vector<double> got(kCx * kCy, 0), truth(kCx * kCy, 0);
  Image16 out;
  for (const Image16& t : raw) {
    apply_flatfield(f, t.view(), &out);
    for (int y = 0; y < t.height(); ++y)
      for (int x = 0; x < t.width(); ++x) {
        const double signal = (t.at(x, y) - dark) / s.illumination(x, y);
        if (signal <= 400 || t.at(x, y) >= 4000) continue;
        const size_t c = size_t((y * kCy / t.height()) * kCx + x * kCx / t.width());
        got[c] += out.at(x, y) - dark;
        truth[c] += signal;
      }
  }
  for (size_t i = 0; i < got.size(); ++i) got[i] = truth[i] > 0 ? got[i] / truth[i] : 0;
  return got;
}

// Largest relative deviation of the profile (above `dark`) from its mean.
double flatness(const std::vector<double>& profile, double dark) {
  double mean = 0;
  for (double v : profile) mean += v - dark;
  mean /= double(profile.size());
  double worst = 0;
  for (double v : profile) worst = std::max(worst, std::abs((v - dark) / mean - 1));
  return worst;
}

class ShadingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scanner_ = new SyntheticScanner(shading_config());
    tiles_ = new std::vector<Image16>;
    for (const FieldOfView& f : scanner_->fields()) tiles_->push_back(scanner_->render({f.row, f.col, 0, 0, 0, 0}));
  }
  static void TearDownTestSuite() {
    delete tiles_;
    delete scanner_;
  }

  // Estimated gain against the scanner's truth (normalised to mean 1 over
  // the tile): the largest relative error over a grid of sample points.
  static double gain_error(const FlatField& f) {
    const ScanConfig& c = scanner_->config();
    double mean = 0;
    int n = 0;
    for (int y = 0; y < c.tile_height; y += 9)
      for (int x = 0; x < c.tile_width; x += 9, ++n) mean += scanner_->illumination(x, y);
    mean /= n;
    double worst = 0;
    for (int y = 0; y < c.tile_height; y += 9)
      for (int x = 0; x < c.tile_width; x += 9) {
        const double truth = scanner_->illumination(x, y) / mean;
        const double est = f.gain_at((x + 0.5f) / float(c.tile_width), (y + 0.5f) / float(c.tile_height));
        worst = std::max(worst, std::abs(est / truth - 1));
      }
    return worst;
  }

  static Result<ShadingEstimate> estimate(const ShadingOptions& opt) {
    ShadingAccumulator acc(scanner_->config().tile_width, scanner_->config().tile_height, opt);
    for (const Image16& t : *tiles_) EXPECT_TRUE(acc.add(t.view()).ok());
    return acc.finish(0);
  }

  static void expect_flat_after_correction(const FlatField& f, double within, double content_within) {
    const double dark = SyntheticScanner::dark_counts();
    const double raw = flatness(background_profile(*tiles_, float(dark + 100)), dark);
    std::vector<Image16> corrected(tiles_->size());
    for (size_t i = 0; i < tiles_->size(); ++i) apply_flatfield(f, (*tiles_)[i].view(), &corrected[i]);
    const double after = flatness(background_profile(corrected, float(dark + 100)), dark);
    FlatField none = f;
    std::fill(none.gain.begin(), none.gain.end(), 1.0f);
    const double content_raw = flatness(content_profile(*scanner_, *tiles_, none), 0);
    const double content = flatness(content_profile(*scanner_, *tiles_, f), 0);
    std::printf("background profile: %.1f%% from flat raw, %.2f%% corrected; content %.1f%% raw, %.2f%% corrected\n",
                raw * 100, after * 100, content_raw * 100, content * 100);
    EXPECT_GT(raw, 0.10);  // the fall-off is there to correct
    EXPECT_GT(content_raw, 0.10);
    EXPECT_LT(after, within);
    EXPECT_LT(content, content_within);
  }

  static SyntheticScanner* scanner_;
  static std::vector<Image16>* tiles_;
};
SyntheticScanner* ShadingTest::scanner_ = nullptr;
std::vector<Image16>* ShadingTest::tiles_ = nullptr;

// Without the dark level: the dark level from the content's spread, the
// gain from the background above it. The criterion (background
// profile flat within 2%) holds without --dark; the dark level itself is
// only as good as 48 small fields' content allows (docs/REGISTRATION.md), so
// the content's profile is looser here than with more content (below).
TEST_F(ShadingTest, SpreadMethodEstimatesGainAndDark) {
  auto est = estimate(ShadingOptions());
  ASSERT_TRUE(est.ok()) << est.status().to_string();
  EXPECT_EQ(est->method, "spread-dark");
  EXPECT_TRUE(est->dark_estimated);
  std::printf("dark %.1f (truth %.0f), gain %.3f..%.3f, fit rms %.4f, gain error %.2f%%\n", est->flat.dark,
              SyntheticScanner::dark_counts(), est->gain_min, est->gain_max, est->fit_rms,
              gain_error(est->flat) * 100);
  EXPECT_NEAR(est->flat.dark, SyntheticScanner::dark_counts(), 10.0);
  // The estimate says how far to trust it, and warns.
  std::printf("dark uncertainty +-%.1f counts\n", est->dark_uncertainty);
  EXPECT_GT(est->dark_uncertainty, 2.0);
  EXPECT_LT(std::abs(est->flat.dark - SyntheticScanner::dark_counts()), 3 * est->dark_uncertainty);
  EXPECT_TRUE(std::any_of(est->warnings.begin(), est->warnings.end(),
                          [](const std::string& w) { return w.find("give --dark") != std::string::npos; }));
  EXPECT_LT(gain_error(est->flat), 0.075);  // the 99% quantile's gain: 7.9%
  expect_flat_after_correction(est->flat, 0.02, 0.05);
}

// More content (48 fields of 1280x1080, a quarter of a camera frame each):
// the dark level within 1 count, gain and content within 1.5%.
TEST(Shading, WithoutDarkOnMoreContentTheDarkLevelAndContentComeRight) {
  ScanConfig c = shading_config();
  c.channels = 1;
  c.tile_width = 1280;
  c.tile_height = 1080;
  const SyntheticScanner s(c);
  std::vector<Image16> tiles;
  ShadingOptions opt;
  ShadingAccumulator acc(c.tile_width, c.tile_height, opt);
  for (const FieldOfView& f : s.fields()) {
    tiles.push_back(s.render({f.row, f.col, 0, 0, 0, 0}));
    ASSERT_TRUE(acc.add(tiles.back().view()).ok());
  }
  auto est = acc.finish(0);
  ASSERT_TRUE(est.ok()) << est.status().to_string();
  EXPECT_EQ(est->method, "spread-dark");
  double mean = 0, worst = 0;
  int n = 0;
  for (int y = 0; y < c.tile_height; y += 9)
    for (int x = 0; x < c.tile_width; x += 9, ++n) mean += s.illumination(x, y);
  mean /= n;
  for (int y = 0; y < c.tile_height; y += 9)
    for (int x = 0; x < c.tile_width; x += 9) {
      const double g = est->flat.gain_at((x + 0.5f) / float(c.tile_width), (y + 0.5f) / float(c.tile_height));
      worst = std::max(worst, std::abs(g / (s.illumination(x, y) / mean) - 1));
    }
  const double dark = SyntheticScanner::dark_counts();
  std::vector<Image16> corrected(tiles.size());
  for (size_t i = 0; i < tiles.size(); ++i) apply_flatfield(est->flat, tiles[i].view(), &corrected[i]);
  const double background = flatness(background_profile(corrected, float(dark + 100)), dark);
  const double content = flatness(content_profile(s, tiles, est->flat), 0);
  std::printf("1280x1080 x %zu: dark %.2f (truth %.0f), gain error %.2f%%, background %.2f%%, content %.2f%%\n",
              tiles.size(), est->flat.dark, dark, worst * 100, background * 100, content * 100);
  EXPECT_NEAR(est->flat.dark, dark, 1.0);
  std::printf("dark uncertainty +-%.1f counts\n", est->dark_uncertainty);
  EXPECT_GT(est->dark_uncertainty, 0.0);
  EXPECT_LT(std::abs(est->flat.dark - dark), 3 * est->dark_uncertainty);
  EXPECT_LT(worst, 0.015);
  EXPECT_LT(background, 0.01);
  EXPECT_LT(content, 0.01);
}

TEST_F(ShadingTest, KnownDarkUsesTheBackground) {
  ShadingOptions opt;
  opt.dark = float(SyntheticScanner::dark_counts());
  auto est = estimate(opt);
  ASSERT_TRUE(est.ok()) << est.status().to_string();
  EXPECT_EQ(est->method, "background");
  EXPECT_FALSE(est->dark_estimated);
  EXPECT_FLOAT_EQ(est->flat.dark, float(SyntheticScanner::dark_counts()));
  std::printf("gain %.3f..%.3f, fit rms %.4f, gain error %.2f%%\n", est->gain_min, est->gain_max, est->fit_rms,
              gain_error(est->flat) * 100);
  EXPECT_LT(gain_error(est->flat), 0.03);
  // The criterion: the corrected fields' profile flat within 2%.
  expect_flat_after_correction(est->flat, 0.02, 0.02);
}

// Fields of pure noise over a flat background: nothing carries a gain.
TEST(Shading, ContentFreeFieldsAreRefusedUnlessTheDarkIsKnown) {
  ShadingOptions opt;
  ShadingAccumulator acc(200, 100, opt);
  uint32_t state = 12345;
  for (int k = 0; k < 10; ++k) {
    Image16 img(200, 100);
    for (uint16_t& v : img.pixels()) {  // 150..180, peaked at 165
      state = state * 1664525u + 1013904223u;
      const uint32_t a = state >> 28;
      state = state * 1664525u + 1013904223u;
      v = uint16_t(150 + a + (state >> 28));
    }
    ASSERT_TRUE(acc.add(img.view()).ok());
  }
  auto est = acc.finish(0);
  ASSERT_FALSE(est.ok());
  EXPECT_EQ(est.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(est.status().message().find("dark level"), std::string::npos) << est.status().message();

  opt.dark = 100;
  ShadingAccumulator known(200, 100, opt);
  known.merge(acc);
  auto flat = known.finish(0);
  ASSERT_TRUE(flat.ok()) << flat.status().to_string();
  EXPECT_NEAR(flat->gain_min, 1.0, 0.05);
  EXPECT_NEAR(flat->gain_max, 1.0, 0.05);

  EXPECT_EQ(acc.add(Image16(20, 10).view()).code(), StatusCode::kInvalidArgument);
}

TEST(Shading, ApplyIsIdentityForAUnitGain) {
  FlatField f;
  f.gain_width = 2;
  f.gain_height = 2;
  f.gain = {1, 1, 1, 1};
  f.dark = 100;
  Image16 tile(5, 3), out;
  for (size_t i = 0; i < tile.pixels().size(); ++i) tile.pixels()[i] = uint16_t(90 + 37 * i);
  apply_flatfield(f, tile.view(), &out);
  EXPECT_EQ(out, tile);
  // Corner cells are reached exactly; between them the gain is bilinear.
  f.gain = {0.5f, 1.0f, 1.0f, 1.5f};
  EXPECT_FLOAT_EQ(f.gain_at(0, 0), 0.5f);
  EXPECT_FLOAT_EQ(f.gain_at(1, 1), 1.5f);
  EXPECT_FLOAT_EQ(f.gain_at(0.5f, 0.5f), 1.0f);
  EXPECT_FLOAT_EQ(f.correct(300, 0, 0), 500.0f);
}

// The whole path: a slide file, estimate_flatfield, storage, `vslide flatfield`.
TEST(Shading, SlideFileAndCommandLine) {
  testing::TempDir dir;
  const std::string path = dir.file("slide.h5");
  const SyntheticScanner s(shading_config());
  {
    CreateOptions copt;
    auto slide = Hdf5Slide::create(path, s.header(), s.geometry(), s.channels(), copt);
    ASSERT_TRUE(slide.ok()) << slide.status().to_string();
    for (const FieldOfView& f : s.fields()) {
      ASSERT_TRUE((*slide)->write_field(f).ok());
      for (int c = 0; c < 2; ++c) ASSERT_TRUE((*slide)->write_plane({f.row, f.col, c, 0, 0, 0}, s.render({f.row, f.col, c, 0, 0, 0})).ok());
    }
    ASSERT_TRUE((*slide)->finish().ok());
  }
  {
    auto slide = Hdf5Slide::open(path, OpenMode::kRead);
    ASSERT_TRUE(slide.ok());
    ShadingOptions opt;
    opt.threads = 2;
    size_t calls = 0;
    opt.progress = [&](size_t, size_t) { ++calls; };
    auto est = estimate_flatfield(**slide, opt);
    ASSERT_TRUE(est.ok()) << est.status().to_string();
    EXPECT_EQ(est->fields_used, s.fields().size());
    EXPECT_EQ(calls, s.fields().size());
    EXPECT_NEAR(est->flat.dark, SyntheticScanner::dark_counts(), 10.0);
    opt.channel = 5;
    EXPECT_EQ(estimate_flatfield(**slide, opt).status().code(), StatusCode::kInvalidArgument);
  }
  const auto bad = testing::run_command(testing::vslide_binary() + " flatfield " + path + " --channel 9");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  const auto r = testing::run_command(testing::vslide_binary() + " flatfield " + path + " --dark 100 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"dark\""), std::string::npos) << r.output;
  auto slide = Hdf5Slide::open(path, OpenMode::kRead);
  ASSERT_TRUE(slide.ok());
  for (int c = 0; c < 2; ++c) {
    auto f = (*slide)->read_flatfield(c);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_TRUE(f->valid());
    EXPECT_EQ(f->channel, c);
    EXPECT_FLOAT_EQ(f->dark, 100.0f);
    EXPECT_GT(f->gain_at(0.5f, 0.5f), 1.0f);  // brightest in the middle
    EXPECT_LT(f->gain_at(0.0f, 0.0f), 0.8f);
  }
  slide->reset();
  // Rendering applies it unless switched off; the raw planes are unchanged.
  const std::string render = testing::vslide_binary() + " render " + path + " --fit --size 320x180 --cpu --out ";
  ASSERT_EQ(testing::run_command(render + dir.file("on.png")).exit_code, 0);
  const auto off = testing::run_command(render + dir.file("off.png") + " --flatfield off");
  ASSERT_EQ(off.exit_code, 0) << off.output;
  auto read_all = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_NE(read_all(dir.file("on.png")), read_all(dir.file("off.png")));
  EXPECT_EQ(testing::run_command(render + dir.file("x.png") + " --flatfield maybe").exit_code, 2);
}

}  // namespace
}  // namespace vslide
