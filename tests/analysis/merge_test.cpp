// Each object counted once: detect_slide merges the detections of
// overlapping fields, checked against the synthetic scanner's ground-truth
// nuclei and on a real Hoechst field cut into overlapping fields.
#include "vslide/analysis/merge.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "common/testing.h"
#include "vslide/analysis/detect.h"
#include "vslide/analysis/nuclei.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/storage/tiff_io.h"

namespace vslide {
namespace {

ScanConfig mosaic_config() {
  ScanConfig c;
  c.rows = 3;
  c.cols = 3;
  c.channels = 1;
  c.tile_width = 800;
  c.tile_height = 600;
  c.overlap = 0.25;
  c.seed = 23;
  return c;
}

void write_synthetic(const std::string& path, const SyntheticScanner& s, bool registered) {
  CreateOptions opt;
  opt.overwrite = true;
  auto slide = Hdf5Slide::create(path, s.header(), s.geometry(), s.channels(), opt);
  ASSERT_TRUE(slide.ok()) << slide.status().to_string();
  for (const FieldOfView& f : s.fields()) {
    ASSERT_TRUE((*slide)->write_field(f).ok());
    ASSERT_TRUE((*slide)->write_plane({f.row, f.col, 0, 0, 0, 0}, s.render({f.row, f.col, 0, 0, 0, 0})).ok());
  }
  if (registered) {  // where the fields truly were, as a perfect registration says
    Registration r;
    for (const FieldTruth& t : s.field_truth()) r.fields.push_back({t.row, t.col, t.true_x_um, t.true_y_um, true, 0});
    std::sort(r.fields.begin(), r.fields.end(),
              [](const FieldPlacement& a, const FieldPlacement& b) { return std::pair{a.row, a.col} < std::pair{b.row, b.col}; });
    r.channel_offsets.push_back({0, 0, 0, 1, 1});
    ASSERT_TRUE((*slide)->write_registration(r).ok());
  }
  ASSERT_TRUE((*slide)->finish().ok());
}

struct Score {
  size_t truth = 0, tp = 0, fp = 0, fn = 0, counted_twice = 0;
  double f1() const { return tp == 0 ? 0 : 2.0 * tp / double(2 * tp + fp + fn); }
};

// Kept objects against the truth nuclei well inside the mosaic (those cut by
// the mosaic's own edge are left out of both sides).
Score score(const SyntheticScanner& s, const std::vector<DetectedObject>& objects) {
  const ScanConfig& c = s.config();
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  for (const FieldTruth& t : s.field_truth()) {
    x0 = std::min(x0, t.true_x_um);
    y0 = std::min(y0, t.true_y_um);
    x1 = std::max(x1, t.true_x_um + c.tile_width * c.pixel_size_um);
    y1 = std::max(y1, t.true_y_um + c.tile_height * c.pixel_size_um);
  }
  const double margin = 15;  // um: more than a nucleus' radius plus the stage error
  auto inside = [&](double x, double y) { return x > x0 + margin && x < x1 - margin && y > y0 + margin && y < y1 - margin; };
  Score sc;
  const std::vector<NucleusTruth> truth = s.nuclei_in(x0, y0, x1, y1);
  // Each kept object where it truly is: its field's true position plus its
  // pixels (so the stage's error does not count against the detection).
  struct Pos {
    double x_um, y_um;
  };
  std::vector<Pos> kept;
  for (const DetectedObject& o : objects) {
    if (!o.kept) continue;
    const FieldTruth t = s.truth_at(o.key.row, o.key.col);
    kept.push_back({t.true_x_um + o.x_px * c.pixel_size_um, t.true_y_um + o.y_px * c.pixel_size_um});
  }
  std::vector<bool> used(kept.size(), false);
  for (const NucleusTruth& n : truth) {
    if (!inside(n.x_um, n.y_um)) continue;
    ++sc.truth;
    size_t near = 0, best = SIZE_MAX;
    double best_d = 1e300;
    for (size_t i = 0; i < kept.size(); ++i) {
      const double d = std::hypot(kept[i].x_um - n.x_um, kept[i].y_um - n.y_um);
      if (d > std::max(3.0, 0.7 * n.radius_um)) continue;
      ++near;
      if (!used[i] && d < best_d) best_d = d, best = i;
    }
    sc.counted_twice += near > 1;
    if (best == SIZE_MAX) {
      ++sc.fn;
    } else {
      used[best] = true;
      ++sc.tp;
    }
  }
  for (size_t i = 0; i < kept.size(); ++i)
    if (!used[i] && inside(kept[i].x_um, kept[i].y_um)) ++sc.fp;
  return sc;
}

std::vector<DetectedObject> stored_objects(const std::string& path, const std::string& layer) {
  auto slide = Hdf5Slide::open(path, OpenMode::kRead);
  EXPECT_TRUE(slide.ok());
  auto json = (*slide)->read_objects_json(layer);
  EXPECT_TRUE(json.ok());
  return nlohmann::json::parse(*json).get<std::vector<DetectedObject>>();
}

class SyntheticMosaic : public ::testing::TestWithParam<bool> {};

TEST_P(SyntheticMosaic, EachNucleusCountedOnceWithF1AtLeast095) {
  const bool registered = GetParam();
  testing::TempDir dir;
  const std::string path = dir.file("slide.h5");
  const SyntheticScanner s(mosaic_config());
  write_synthetic(path, s, registered);
  DetectSummary merged, all;
  {
    auto slide = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(slide.ok());
    DetectOptions opt;
    opt.threads = 2;
    auto r = detect_slide(**slide, **slide, NucleiPipeline(), opt);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    merged = *r;
    opt.layer = "unmerged";
    opt.merge = false;
    r = detect_slide(**slide, **slide, NucleiPipeline(), opt);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    all = *r;
    ASSERT_TRUE((*slide)->flush().ok());
  }
  EXPECT_EQ(merged.positions, registered ? "registered" : "stage");
  EXPECT_EQ(merged.detections, all.detections);
  EXPECT_EQ(merged.objects + merged.duplicates, merged.detections);
  EXPECT_GT(merged.duplicates, 10u);  // a 25% overlap holds many nuclei twice
  EXPECT_GT(merged.cut_replaced, 0u);

  const Score with = score(s, stored_objects(path, "nuclei"));
  const Score without = score(s, stored_objects(path, "unmerged"));
  std::printf("%s positions: %zu truth nuclei, merged: tp %zu fp %zu fn %zu F1 %.3f counted twice %zu; "
              "unmerged: F1 %.3f counted twice %zu\n",
              merged.positions.c_str(), with.truth, with.tp, with.fp, with.fn, with.f1(), with.counted_twice,
              without.f1(), without.counted_twice);
  EXPECT_GT(with.truth, 60u);
  EXPECT_GE(with.f1(), 0.95);
  EXPECT_EQ(with.counted_twice, 0u);
  EXPECT_GT(without.counted_twice, 10u);  // the check can fail
}

INSTANTIATE_TEST_SUITE_P(Positions, SyntheticMosaic, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Registered" : "Stage"; });

// The real Hoechst field (1200 x 1000) cut into 2 x 2 fields of 750 x 650
// overlapping by 300 px: every nucleus of the whole image is found once.
TEST(RealMosaic, EachNucleusOnceAcrossOverlappingFields) {
  Result<Image16> img = read_tiff16(testing::real_data_dir() + "/speckles_hoechst.tif");
  ASSERT_TRUE(img.ok()) << img.status().to_string();
  constexpr double kPixelUm = 0.08;  // uncalibrated image: nuclei ~16 um across
  const FieldOfView whole_field{};
  auto whole = NucleiPipeline().run(*img, TileKey{}, whole_field, kPixelUm);
  ASSERT_TRUE(whole.ok());

  testing::TempDir dir;
  const std::string path = dir.file("real.h5");
  MosaicGeometry g;
  g.rows = 2;
  g.cols = 2;
  g.tile_width = 750;
  g.tile_height = 650;
  g.pixel_size_um = kPixelUm;
  SlideHeader h;
  h.slide_id = "vs-real-speckles";
  h.name = "speckles_hoechst cut 2x2";
  h.pixel_size_um = kPixelUm;
  {
    CreateOptions opt;
    auto slide = Hdf5Slide::create(path, h, g, default_channels(1), opt);
    ASSERT_TRUE(slide.ok()) << slide.status().to_string();
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 2; ++c) {
        const int x = c * (img->width() - g.tile_width), y = r * (img->height() - g.tile_height);
        FieldOfView f{r, c, x * kPixelUm, y * kPixelUm, 0, 0};
        ASSERT_TRUE((*slide)->write_field(f).ok());
        const Image16 tile = Image16::copy_of(img->view().crop(x, y, g.tile_width, g.tile_height));
        ASSERT_TRUE((*slide)->write_plane({r, c, 0, 0, 0, 0}, tile).ok());
      }
    ASSERT_TRUE((*slide)->finish().ok());
  }
  const auto run = testing::run_command(testing::vslide_binary() + " detect " + path + " --json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto objects = stored_objects(path, "nuclei");
  std::vector<const DetectedObject*> kept;
  for (const DetectedObject& o : objects)
    if (o.kept) kept.push_back(&o);
  std::printf("whole image: %zu nuclei; 2x2 fields: %zu detections, %zu kept\n", whole->objects.size(),
              objects.size(), kept.size());
  EXPECT_GT(objects.size(), kept.size());
  EXPECT_EQ(kept.size(), whole->objects.size());
  for (const DetectedObject& w : whole->objects) {
    size_t near = 0;
    for (const DetectedObject* k : kept) near += std::hypot(k->x_um - w.x_um, k->y_um - w.y_um) < 4.0;
    EXPECT_EQ(near, 1u) << "nucleus at (" << w.x_px << ", " << w.y_px << ") px found " << near << " times";
  }
  EXPECT_NE(run.output.find("\"duplicates\""), std::string::npos);
}

// The whole 8-nucleus field at the importer's 0.65 um/px: the nuclei are far
// beyond the default size limits; detect says so instead of staying silent.
TEST(RealMosaic, SizeFilterRejectionsAreReported) {
  Result<Image16> img = read_tiff16(testing::real_data_dir() + "/speckles_hoechst.tif");
  ASSERT_TRUE(img.ok());
  NucleiParams p;
  auto d = NucleiPipeline(p).run(*img, TileKey{}, FieldOfView{}, 0.65);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->rejected.size(), 2u);
  EXPECT_EQ(d->rejected[1].filter, "max_area");
  EXPECT_GE(d->rejected[1].rejected, 7u);  // every whole nucleus
  EXPECT_LT(d->objects.size(), 7u);
  EXPECT_EQ(d->candidates, d->objects.size() + d->rejected[0].rejected + d->rejected[1].rejected);
  // Limits in pixels ignore the calibration.
  p.max_area_px = 60000;
  p.min_area_px = 2000;
  d = NucleiPipeline(p).run(*img, TileKey{}, FieldOfView{}, 0.65);
  ASSERT_TRUE(d.ok());
  EXPECT_GE(d->objects.size(), 7u);
  p.min_area_px = 70000;
  EXPECT_EQ(NucleiPipeline(p).run(*img, TileKey{}, FieldOfView{}, 0.65).status().code(), StatusCode::kInvalidArgument);
}

// Two copies of one nucleus in neighbouring fields, one cut by its edge.
TEST(MergeOverlaps, CutCopyGivesWayToTheWholeOne) {
  DetectedObject whole, cut, other;
  whole.id = 1;
  whole.key = TileKey{0, 0, 0, 0, 0, 0};
  whole.x_px = 80, whole.y_px = 50, whole.x_um = 80, whole.y_um = 50;
  whole.bbox_x0 = 60, whole.bbox_y0 = 30, whole.bbox_x1 = 100, whole.bbox_y1 = 70;
  whole.area_px = 1200;
  cut = whole;  // field (0,1) starts at x = 90 um: it sees the right part only
  cut.id = 2;
  cut.key.col = 1;
  cut.x_px = 5, cut.x_um = 95;
  cut.bbox_x0 = 0, cut.bbox_x1 = 10;
  cut.area_px = 300;
  cut.touches_border = true;
  other = whole;  // a different nucleus of field (0,1), further right
  other.id = 3;
  other.key.col = 1;
  other.x_px = 40, other.x_um = 130;
  other.bbox_x0 = 20, other.bbox_x1 = 60;
  std::vector<DetectedObject> objs{whole, cut, other};
  const MergeStats m = merge_overlaps(&objs, 200, 100, 1.0);
  EXPECT_EQ(m.unique, 2u);
  EXPECT_EQ(m.cut_replaced, 1u);
  EXPECT_TRUE(objs[0].kept);
  EXPECT_FALSE(objs[1].kept);
  EXPECT_EQ(objs[1].duplicate_of, 1);
  EXPECT_TRUE(objs[2].kept);
  // Two objects of one field are never merged, however close.
  objs[1].key.col = 0;
  EXPECT_EQ(merge_overlaps(&objs, 200, 100, 1.0).unique, 3u);
}

}  // namespace
}  // namespace vslide
