// Registration against the synthetic scanner's ground truth and against a
// real image cut into overlapping fields at known offsets, through real
// HDF5 slides; the bad cases (no texture, no overlap, one field, an empty
// channel, a slide still scanning) and the stored form.
#include "vslide/register/register.h"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>

#include "common/testing.h"
#include "vslide/core/placement.h"
#include "vslide/register/cut_mosaic.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/storage/tiff_io.h"

namespace vslide {
namespace {

using testing::TempDir;

ScanConfig small_config() {
  ScanConfig c;
  c.rows = 4;
  c.cols = 5;
  c.channels = 2;
  c.tile_width = 640;
  c.tile_height = 540;
  c.overlap = 0.15;
  c.seed = 5;
  return c;
}

// Writes the scanner's fields into a slide; `fields` limits how many (a scan in progress).
std::string write_scan(const TempDir& dir, const SyntheticScanner& s, size_t fields = SIZE_MAX,
                       bool finish = true) {
  const std::string path = dir.file("scan.h5");
  auto w = Hdf5Slide::create(path, s.header(), s.geometry(), s.channels(), CreateOptions{});
  EXPECT_TRUE(w.ok()) << w.status().to_string();
  for (size_t i = 0; i < s.fields().size() && i < fields; ++i) {
    const FieldOfView& f = s.fields()[i];
    EXPECT_TRUE((*w)->write_field(f).ok());
    for (int32_t c = 0; c < s.geometry().channels; ++c) {
      TileKey k{f.row, f.col, c, 0, 0, 0};
      Image16 img = s.render(k);
      EXPECT_TRUE((*w)->write_plane(k, Image16View(img.data(), img.width(), img.height())).ok());
    }
  }
  EXPECT_TRUE((finish ? (*w)->finish() : (*w)->flush()).ok());
  return path;
}

// RMS distance (pixels) between registered and true positions after removing
// the mean offset (registration fixes relative positions only).
double rms_vs_truth(const Registration& reg, const std::vector<std::pair<double, double>>& truth_um, double um) {
  double mx = 0, my = 0;
  const size_t n = reg.fields.size();
  for (size_t i = 0; i < n; ++i) {
    mx += reg.fields[i].x_um - truth_um[i].first;
    my += reg.fields[i].y_um - truth_um[i].second;
  }
  mx /= double(n);
  my /= double(n);
  double ss = 0;
  for (size_t i = 0; i < n; ++i) {
    const double dx = reg.fields[i].x_um - truth_um[i].first - mx, dy = reg.fields[i].y_um - truth_um[i].second - my;
    ss += (dx * dx + dy * dy) / (um * um);
  }
  return std::sqrt(ss / double(n));
}

TEST(Register, SyntheticSlideWithinATenthOfAPixel) {
  TempDir dir;
  SyntheticScanner scanner(small_config());
  const std::string path = write_scan(dir, scanner);
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok());
  auto r = register_slide(**slide, RegisterOptions{});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const double um = scanner.geometry().pixel_size_um;
  std::vector<std::pair<double, double>> truth;
  Registration stage;
  for (const auto& f : r->registration.fields) {
    const FieldTruth t = scanner.truth_at(f.row, f.col);
    truth.push_back({t.true_x_um, t.true_y_um});
    stage.fields.push_back({f.row, f.col, t.reported_x_um, t.reported_y_um, false, 0});
  }
  const double err = rms_vs_truth(r->registration, truth, um);
  const double stage_err = rms_vs_truth(stage, truth, um);
  std::printf("registered %.3f px RMS, stage %.3f px RMS, %d/%d fields measured, threshold %.3f\n", err, stage_err,
              r->fields_measured, r->fields, r->threshold);
  EXPECT_EQ(r->fields_measured, r->fields);
  EXPECT_TRUE(r->unmeasured.empty());
  EXPECT_LT(err, 0.1);
  EXPECT_GT(stage_err, 3.0);
  // The camera is rotated 0.3 degrees against the stage; with 9 px of stage
  // jitter over a 5-field span the fitted angle is good to ~0.2 degrees.
  ASSERT_TRUE(r->calibration.fitted);
  EXPECT_NEAR(std::abs(r->calibration.rotation_deg), 0.3, 0.25);
  // Colour registration: channel 1 is shifted (0.6, -0.35) px by the scanner.
  ASSERT_EQ(r->registration.channel_offsets.size(), 2u);
  double ox, oy;
  scanner.channel_offset_px(1, &ox, &oy);
  EXPECT_NEAR(r->registration.channel_offsets[1].dx_px, -ox, 0.15);
  EXPECT_NEAR(r->registration.channel_offsets[1].dy_px, -oy, 0.15);
}

TEST(Register, CalibrationRecoversRotationAndPixelSize) {
  TempDir dir;
  ScanConfig c = small_config();
  c.channels = 1;
  c.stage_jitter_um = 0;  // a bead-slide-like calibration: the stage's only error is the rotation
  SyntheticScanner scanner(c);
  auto slide = Hdf5Slide::open(write_scan(dir, scanner));
  ASSERT_TRUE(slide.ok());
  auto r = register_slide(**slide, RegisterOptions{});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->calibration.fitted);
  EXPECT_NEAR(std::abs(r->calibration.rotation_deg), 0.3, 0.01);
  EXPECT_NEAR(r->calibration.shear_deg, 0.0, 0.01);
  EXPECT_NEAR(r->calibration.pixel_size_um, c.pixel_size_um, 1e-4);
  EXPECT_LT(r->calibration.rms_px, 0.1);
}

// A real 16-bit image cut into 3 x 3 overlapping fields at known offsets;
// the stage reports each position with up to 6 px of error.
TEST(Register, RealImageCutIntoFieldsWithinThreeTenthsOfAPixel) {
  for (const char* name : {"speckles_hoechst.tif", "cherry.tif"}) {
    auto img = read_tiff16(testing::real_data_dir() + "/" + name);
    ASSERT_TRUE(img.ok()) << img.status().to_string();
    CutMosaicSpec spec;
    auto g = cut_mosaic_geometry(*img, spec);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    TempDir dir;
    SlideHeader h;
    h.slide_id = "real-cut";
    auto w = Hdf5Slide::create(dir.file("real.h5"), h, *g, default_channels(1), CreateOptions{});
    ASSERT_TRUE(w.ok());
    auto truth = write_cut_mosaic(*img, spec, **w);
    ASSERT_TRUE(truth.ok()) << truth.status().to_string();
    ASSERT_TRUE((*w)->finish().ok());
    w->reset();
    auto slide = Hdf5Slide::open(dir.file("real.h5"));
    ASSERT_TRUE(slide.ok());
    auto res = register_slide(**slide, RegisterOptions{});
    ASSERT_TRUE(res.ok());
    const double err = rms_vs_truth(res->registration, *truth, g->pixel_size_um);
    std::printf("%s: registered %.3f px RMS, %d/%d measured, threshold %.3f\n", name, err, res->fields_measured,
                res->fields, res->threshold);
    EXPECT_EQ(res->fields_measured, 9) << name;
    EXPECT_LT(err, 0.3) << name;
  }
}

// Fields of constant value: nothing can be measured, every field keeps its
// stage position exactly and the reason is given.
TEST(Register, TexturelessFieldsStayAtTheStagePosition) {
  MosaicGeometry g;
  g.rows = 2;
  g.cols = 3;
  g.tile_width = 256;
  g.tile_height = 200;
  TempDir dir;
  SlideHeader h;
  h.slide_id = "flat";
  auto w = Hdf5Slide::create(dir.file("flat.h5"), h, g, default_channels(1), CreateOptions{});
  ASSERT_TRUE(w.ok());
  std::vector<FieldOfView> stage;
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) {
      FieldOfView f{r, c, c * 200 * g.pixel_size_um + 0.3, r * 160 * g.pixel_size_um - 0.2};
      stage.push_back(f);
      ASSERT_TRUE((*w)->write_field(f).ok());
      Image16 tile(g.tile_width, g.tile_height);
      for (auto& v : tile.pixels()) v = 100;
      ASSERT_TRUE((*w)->write_plane(TileKey{r, c, 0, 0, 0, 0}, tile).ok());
    }
  ASSERT_TRUE((*w)->finish().ok());
  w->reset();
  auto slide = Hdf5Slide::open(dir.file("flat.h5"));
  auto res = register_slide(**slide, RegisterOptions{});
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->fields_measured, 0);
  ASSERT_EQ(res->unmeasured.size(), 6u);
  EXPECT_NE(res->unmeasured[0].why.find("texture"), std::string::npos) << res->unmeasured[0].why;
  for (size_t i = 0; i < stage.size(); ++i) {
    EXPECT_NEAR(res->registration.fields[i].x_um, stage[i].stage_x_um, 1e-6);
    EXPECT_NEAR(res->registration.fields[i].y_um, stage[i].stage_y_um, 1e-6);
    EXPECT_FALSE(res->registration.fields[i].measured);
  }
}

TEST(Register, SingleFieldAndZeroOverlapAreReportedNotInvented) {
  for (double overlap : {0.15, 0.0}) {
    ScanConfig c = small_config();
    c.rows = overlap > 0 ? 1 : 2;
    c.cols = overlap > 0 ? 1 : 2;
    c.channels = 1;
    c.overlap = overlap;
    c.stage_jitter_um = 0;
    TempDir dir;
    SyntheticScanner scanner(c);
    auto slide = Hdf5Slide::open(write_scan(dir, scanner));
    auto res = register_slide(**slide, RegisterOptions{});
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->fields_measured, 0);
    ASSERT_EQ(res->unmeasured.size(), size_t(c.rows * c.cols));
    const std::string want = overlap > 0 ? "no neighbour" : "no overlap";
    EXPECT_NE(res->unmeasured[0].why.find(want), std::string::npos) << res->unmeasured[0].why;
    for (size_t i = 0; i < scanner.fields().size(); ++i) {
      const auto* p = res->registration.find(scanner.fields()[i].row, scanner.fields()[i].col);
      ASSERT_NE(p, nullptr);
      EXPECT_NEAR(p->x_um, scanner.fields()[i].stage_x_um, 1e-6);
    }
  }
}

// A sparse mosaic and an empty channel: what can be measured is, the rest is
// reported; an empty channel's colour offset stays 0 with a reason.
TEST(Register, SparseMosaicAndEmptyChannel) {
  ScanConfig c = small_config();
  c.sparse = 0.3;
  TempDir dir;
  SyntheticScanner scanner(c);
  const std::string path = dir.file("sparse.h5");
  {
    auto w = Hdf5Slide::create(path, scanner.header(), scanner.geometry(), scanner.channels(), CreateOptions{});
    ASSERT_TRUE(w.ok());
    for (const auto& f : scanner.fields()) {
      ASSERT_TRUE((*w)->write_field(f).ok());
      Image16 img = scanner.render(TileKey{f.row, f.col, 0, 0, 0, 0});
      ASSERT_TRUE((*w)->write_plane(TileKey{f.row, f.col, 0, 0, 0, 0}, img).ok());
      Image16 empty(img.width(), img.height());
      ASSERT_TRUE((*w)->write_plane(TileKey{f.row, f.col, 1, 0, 0, 0}, empty).ok());
    }
    ASSERT_TRUE((*w)->finish().ok());
  }
  auto slide = Hdf5Slide::open(path);
  auto res = register_slide(**slide, RegisterOptions{});
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->fields, int32_t(scanner.fields().size()));
  EXPECT_EQ(res->fields_measured + int32_t(res->unmeasured.size()), res->fields);
  EXPECT_GT(res->fields_measured, 4);
  // Within each group of fields tied by accepted pairs the placement matches
  // the truth (groups apart from each other are placed by the stage).
  size_t accepted = 0;
  for (const auto& p : res->pairs) {
    if (!p.accepted) continue;
    ++accepted;
    const auto *a = res->registration.find(p.row_a, p.col_a), *b = res->registration.find(p.row_b, p.col_b);
    const FieldTruth ta = scanner.truth_at(p.row_a, p.col_a), tb = scanner.truth_at(p.row_b, p.col_b);
    EXPECT_NEAR((b->x_um - a->x_um) - (tb.true_x_um - ta.true_x_um), 0, 0.2 * c.pixel_size_um);
    EXPECT_NEAR((b->y_um - a->y_um) - (tb.true_y_um - ta.true_y_um), 0, 0.2 * c.pixel_size_um);
  }
  EXPECT_GT(accepted, 3u);
  ASSERT_EQ(res->registration.channel_offsets.size(), 2u);
  EXPECT_EQ(res->registration.channel_offsets[1].dx_px, 0);
  ASSERT_EQ(res->colour_issues.size(), 1u);
  EXPECT_NE(res->colour_issues[0].find("channel 1"), std::string::npos);
}

// A scan in progress: what has landed registers; a later run reuses every
// pair already measured and measures only the new ones.
TEST(Register, SlideStillScanningIsResumable) {
  ScanConfig c = small_config();
  c.channels = 1;
  TempDir dir;
  SyntheticScanner scanner(c);
  const std::string path = write_scan(dir, scanner, 12, /*finish=*/false);
  RegisterResult first;
  {
    auto slide = Hdf5Slide::open(path);
    ASSERT_TRUE(slide.ok());
    auto r = register_slide(**slide, RegisterOptions{});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->fields, 12);
    EXPECT_GT(r->fields_measured, 8);
    first = std::move(*r);
  }
  {
    auto w = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    for (size_t i = 12; i < scanner.fields().size(); ++i) {
      const FieldOfView& f = scanner.fields()[i];
      ASSERT_TRUE((*w)->write_field(f).ok());
      ASSERT_TRUE((*w)->write_plane(TileKey{f.row, f.col, 0, 0, 0, 0}, scanner.render(TileKey{f.row, f.col, 0, 0, 0, 0})).ok());
    }
    ASSERT_TRUE((*w)->write_registration(first.registration).ok());
    ASSERT_TRUE((*w)->finish().ok());
  }
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok());
  auto stored = (*slide)->read_registration();
  ASSERT_TRUE(stored.ok());
  RegisterOptions o;
  o.previous_pairs = pairs_from_report(stored->report_json);
  o.previous_null_scores = null_scores_from_report(stored->report_json);
  size_t measured_before = 0;
  for (const auto& p : first.pairs) measured_before += p.measured;
  auto r = register_slide(**slide, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(size_t(r->pairs_reused), measured_before);
  EXPECT_EQ(r->fields_measured, r->fields);
}

TEST(Register, StoredBesideTheRawDataAndReadBack) {
  ScanConfig c = small_config();
  c.rows = 2;
  c.cols = 2;
  TempDir dir;
  SyntheticScanner scanner(c);
  const std::string path = write_scan(dir, scanner);
  auto slide = Hdf5Slide::open(path);
  auto r = register_slide(**slide, RegisterOptions{});
  ASSERT_TRUE(r.ok());
  slide->reset();
  {
    // A version 1 file (before registration existed) still opens and has none.
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "vslide_format_version", H5P_DEFAULT);
    int64_t v = 1;
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Fclose(f);
    auto old = Hdf5Slide::open(path);
    ASSERT_TRUE(old.ok()) << old.status().to_string();
    EXPECT_EQ((*old)->read_registration().status().code(), StatusCode::kNotFound);
  }
  {
    auto w = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write_registration(r->registration).ok());
    ASSERT_TRUE((*w)->finish().ok());
  }
  auto back = Hdf5Slide::open(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)->format_version(), 2);
  auto reg = (*back)->read_registration();
  ASSERT_TRUE(reg.ok()) << reg.status().to_string();
  ASSERT_EQ(reg->fields.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(reg->fields[i].x_um, r->registration.fields[i].x_um);
    EXPECT_EQ(reg->fields[i].measured, r->registration.fields[i].measured);
  }
  ASSERT_EQ(reg->channel_offsets.size(), 2u);
  EXPECT_EQ(reg->channel_offsets[1].dx_px, r->registration.channel_offsets[1].dx_px);
  EXPECT_EQ(reg->report_json, r->registration.report_json);
  // Stage positions are untouched; the placement helper picks either.
  const auto& f0 = (*back)->index()->entries()[0].field;
  EXPECT_EQ(f0.stage_x_um, scanner.fields()[0].stage_x_um);
  auto reg_pos = field_origin_um(**back, &*reg, f0.row, f0.col, PositionsMode::kRegistered);
  auto stage_pos = field_origin_um(**back, &*reg, f0.row, f0.col, PositionsMode::kStage);
  ASSERT_TRUE(reg_pos.ok() && stage_pos.ok());
  EXPECT_EQ(reg_pos->first, reg->find(f0.row, f0.col)->x_um);
  EXPECT_EQ(stage_pos->first, f0.stage_x_um);
  // Flat-fields: one dataset per channel.
  back->reset();
  {
    auto w = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(w.ok());
    FlatField ff{1, 4, 3, std::vector<float>(12, 1.0f), 99.5f};
    ff.gain[5] = 0.8f;
    ASSERT_TRUE((*w)->write_flatfield(ff).ok());
    ff.gain[0] = -1;
    EXPECT_EQ((*w)->write_flatfield(ff).code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE((*w)->finish().ok());
  }
  back = Hdf5Slide::open(path);
  auto ff = (*back)->read_flatfield(1);
  ASSERT_TRUE(ff.ok());
  EXPECT_EQ(ff->gain_width, 4);
  EXPECT_EQ(ff->gain[5], 0.8f);
  EXPECT_EQ(ff->dark, 99.5f);
  EXPECT_EQ((*back)->read_flatfield(0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*back)->read_flatfield(5).status().code(), StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace vslide
