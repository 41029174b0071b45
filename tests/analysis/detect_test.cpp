// detect_slide and `vslide detect` end to end on a real Hdf5Slide.
#include "vslide/analysis/detect.h"

#include <gtest/gtest.h>

#include <set>

#include "common/testing.h"
#include "vslide/analysis/nuclei.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide {
namespace {

ScanConfig tiny_config() {
  ScanConfig c;
  c.rows = 2;
  c.cols = 3;
  c.channels = 2;
  c.tile_width = 384;
  c.tile_height = 256;
  c.sparse = 0.2;  // one field skipped
  return c;
}

// A finished synthetic slide at `path`.
void write_slide(const std::string& path, const SyntheticScanner& s) {
  CreateOptions opt;
  opt.overwrite = true;
  auto slide = Hdf5Slide::create(path, s.header(), s.geometry(), s.channels(), opt);
  ASSERT_TRUE(slide.ok()) << slide.status().to_string();
  for (const FieldOfView& f : s.fields()) {
    ASSERT_TRUE((*slide)->write_field(f).ok());
    for (int c = 0; c < s.geometry().channels; ++c) {
      const TileKey key{f.row, f.col, c, 0, 0, 0};
      ASSERT_TRUE((*slide)->write_plane(key, s.render(key)).ok());
    }
  }
  ASSERT_TRUE((*slide)->finish().ok());
}

TEST(DetectSlide, StoresLabelsAndObjectTable) {
  testing::TempDir dir;
  const std::string path = dir.file("slide.h5");
  const SyntheticScanner s(tiny_config());
  ASSERT_EQ(s.fields().size(), 5u);
  write_slide(path, s);

  size_t progress_calls = 0;
  DetectSummary summary;
  {
    auto slide = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(slide.ok()) << slide.status().to_string();
    DetectOptions opt;
    opt.threads = 2;
    opt.progress = [&](size_t done, size_t total) {
      ++progress_calls;
      EXPECT_LE(done, total);
    };
    auto r = detect_slide(**slide, **slide, NucleiPipeline(), opt);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    summary = *r;
    ASSERT_TRUE((*slide)->flush().ok());
  }
  EXPECT_EQ(summary.layer, "nuclei");
  EXPECT_EQ(summary.tiles, 5u);
  EXPECT_EQ(progress_calls, 5u);
  EXPECT_TRUE(summary.errors.empty());
  EXPECT_GT(summary.objects, 10u);

  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok());
  EXPECT_EQ((*slide)->state(), SlideState::kComplete);
  const auto layers = (*slide)->detection_layers();
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0], "nuclei");
  auto table_text = (*slide)->read_objects_json("nuclei");
  ASSERT_TRUE(table_text.ok()) << table_text.status().to_string();
  const nlohmann::json table = nlohmann::json::parse(*table_text);
  // Every detection is stored; the kept ones are the unique objects.
  ASSERT_EQ(table.size(), summary.detections);
  size_t kept = 0;
  for (const auto& row : table) kept += row.at("kept").get<bool>();
  EXPECT_EQ(kept, summary.objects);
  EXPECT_EQ(summary.objects + summary.duplicates, summary.detections);
  std::set<int64_t> ids;
  for (const auto& row : table) EXPECT_TRUE(ids.insert(row.get<DetectedObject>().id).second);

  // Every stored label tile is what the pipeline gives for that tile, and the
  // table's rows point at its labels.
  for (const FieldOfView& f : s.fields()) {
    const TileKey key{f.row, f.col, 0, 0, 0, 0};
    auto labels = (*slide)->read_labels("nuclei", key);
    ASSERT_TRUE(labels.ok()) << labels.status().to_string();
    auto direct = NucleiPipeline().run(s.render(key), key, f, s.config().pixel_size_um);
    ASSERT_TRUE(direct.ok());
    EXPECT_EQ(labels->labels, direct->labels.labels) << key.to_string();
    for (const auto& row : table) {
      const DetectedObject o = row.get<DetectedObject>();
      if (o.key.row != f.row || o.key.col != f.col) continue;
      const uint32_t at = labels->labels[size_t(o.y_px) * size_t(labels->width) + size_t(o.x_px)];
      // A convex nucleus contains its centroid.
      EXPECT_EQ(at, o.label) << "object " << o.id;
    }
  }
}

TEST(DetectSlide, RejectsBadLayerAndPlane) {
  testing::TempDir dir;
  const std::string path = dir.file("slide.h5");
  const SyntheticScanner s(tiny_config());
  write_slide(path, s);
  auto slide = Hdf5Slide::open(path, OpenMode::kAppend);
  ASSERT_TRUE(slide.ok());
  DetectOptions opt;
  opt.layer = "bad name/";
  auto r = detect_slide(**slide, **slide, NucleiPipeline(), opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("bad name/"), std::string::npos);
  opt.layer = "";
  opt.channel = 2;
  r = detect_slide(**slide, **slide, NucleiPipeline(), opt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("channel 2"), std::string::npos) << r.status().message();
}

TEST(DetectCommand, StoresALayerAndReportsCounts) {
  testing::TempDir dir;
  const std::string path = dir.file("slide.h5");
  write_slide(path, SyntheticScanner(tiny_config()));
  const std::string bin = testing::vslide_binary();

  auto r = testing::run_command(bin + " detect " + path + " --pipeline nuclei --channel 0 --name dapi --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["layer"], "dapi");
  EXPECT_EQ(j["tiles"], 5);
  EXPECT_GT(j["objects"].get<int>(), 10);
  {
    // Closed again before the next command opens the file for writing.
    auto slide = Hdf5Slide::open(path);
    ASSERT_TRUE(slide.ok());
    EXPECT_EQ((*slide)->detection_layers(), std::vector<std::string>{"dapi"});
  }

  r = testing::run_command(bin + " detect --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--pipeline"), std::string::npos);

  r = testing::run_command(bin + " detect " + dir.file("missing.h5") + " 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("missing.h5"), std::string::npos) << r.output;

  r = testing::run_command(bin + " detect " + path + " --pipeline cells 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown pipeline 'cells'"), std::string::npos) << r.output;

  r = testing::run_command(bin + " detect " + path + " --channel 7 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("channel 7"), std::string::npos) << r.output;

  // Filters are options with their defaults stated, sizes in um2 or px; the
  // summary says what each filter rejected.
  r = testing::run_command(bin + " detect --help");
  EXPECT_NE(r.output.find("default 12 um2"), std::string::npos) << r.output;
  r = testing::run_command(bin + " detect " + path + " --name px --min-area 200px --max-area 100000px --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json k = nlohmann::json::parse(r.output);
  EXPECT_GT(k["candidates"].get<int>(), k["objects"].get<int>());
  EXPECT_TRUE(k["rejected"].contains("min_area")) << r.output;
  EXPECT_EQ(k["positions"], "stage");
  EXPECT_EQ(k["flatfield"], false);
  r = testing::run_command(bin + " detect " + path + " --min-area 600 --max-area 10 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = testing::run_command(bin + " detect " + path + " --flatfield maybe 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace vslide
