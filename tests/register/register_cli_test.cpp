// `vslide register` end to end: stores in the file, resumes, and measures a
// served slide through a real `vslide serve` on loopback, whose client reads
// the stored registration and flat-fields through the protocol.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/serve_process.h"
#include "common/testing.h"
#include "vslide/remote/remote_slide.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/storage/tiff_io.h"
#include "vslide/view/slide_view.h"

namespace vslide {
namespace {

using testing::run_command;
using testing::TempDir;

std::string make_slide(const TempDir& dir, std::string* slide_id) {
  ScanConfig c;
  c.rows = 2;
  c.cols = 3;
  c.channels = 2;
  c.tile_width = 512;
  c.tile_height = 432;
  c.overlap = 0.2;
  SyntheticScanner s(c);
  const std::string path = dir.file("cli.h5");
  auto w = Hdf5Slide::create(path, s.header(), s.geometry(), s.channels(), CreateOptions{});
  EXPECT_TRUE(w.ok());
  for (const auto& f : s.fields()) {
    EXPECT_TRUE((*w)->write_field(f).ok());
    for (int32_t ch = 0; ch < c.channels; ++ch) {
      const TileKey k{f.row, f.col, ch, 0, 0, 0};
      EXPECT_TRUE((*w)->write_plane(k, s.render(k)).ok());
    }
  }
  FlatField ff{1, 2, 2, {1.1f, 0.9f, 1.0f, 1.0f}, 12.0f};
  EXPECT_TRUE((*w)->write_flatfield(ff).ok());
  EXPECT_TRUE((*w)->finish().ok());
  *slide_id = s.header().slide_id;
  return path;
}

TEST(RegisterCli, StoresResumesAndMeasuresAServedSlide) {
  TempDir dir;
  std::string id;
  const std::string path = make_slide(dir, &id);
  const std::string bin = testing::vslide_binary();
  EXPECT_EQ(run_command(bin + " register --help").exit_code, 0);
  auto first = run_command(bin + " register " + path + " --json 2>/dev/null");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto j = nlohmann::json::parse(first.output);
  EXPECT_TRUE(j["stored"].get<bool>());
  EXPECT_EQ(j["fields_measured"].get<int>(), 6);
  EXPECT_EQ(j["pairs_reused"].get<int>(), 0);
  {
    auto s = Hdf5Slide::open(path);
    ASSERT_TRUE(s.ok());
    auto reg = (*s)->read_registration();
    ASSERT_TRUE(reg.ok()) << reg.status().to_string();
    EXPECT_EQ(reg->fields.size(), 6u);
  }
  // Served: measured (reusing the stored pairs, read through the protocol), not stored.
  testing::ServeProcess server({path, "--bind", "tcp://127.0.0.1:*"});
  ASSERT_FALSE(server.endpoint().empty());
  const std::string url = server.endpoint() + "/" + id;
  auto remote = run_command(bin + " register " + url + " --json 2>/dev/null");
  ASSERT_EQ(remote.exit_code, 0) << remote.output;
  auto r = nlohmann::json::parse(remote.output);
  EXPECT_FALSE(r["stored"].get<bool>());
  EXPECT_EQ(r["pairs_reused"].get<int>(), j["pairs_measured"].get<int>());
  auto client = remote::RemoteSlide::open(url);
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  auto reg = (*client)->read_registration();
  ASSERT_TRUE(reg.ok()) << reg.status().to_string();
  EXPECT_EQ(reg->fields.size(), 6u);
  EXPECT_EQ(reg->channel_offsets.size(), 2u);
  EXPECT_FALSE(reg->report_json.empty());
  auto ff = (*client)->read_flatfield(1);
  ASSERT_TRUE(ff.ok()) << ff.status().to_string();
  EXPECT_EQ(ff->gain[0], 1.1f);
  EXPECT_EQ(ff->dark, 12.0f);
  EXPECT_EQ((*client)->read_flatfield(0).status().code(), StatusCode::kNotFound);
}

// The viewer's R-tree places fields where the registration says, or where the
// stage said with PositionsMode::kStage.
TEST(RegisterCli, ViewerTreeUsesRegisteredPositions) {
  TempDir dir;
  std::string id;
  const std::string path = make_slide(dir, &id);
  auto reg_run = run_command(testing::vslide_binary() + " register " + path + " --json 2>/dev/null");
  ASSERT_EQ(reg_run.exit_code, 0) << reg_run.output;
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok());
  auto reg = (*slide)->read_registration();
  ASSERT_TRUE(reg.ok());
  view::SlideView v(**slide);
  ASSERT_NE(v.registration(), nullptr);
  auto origin_of = [&](int32_t row, int32_t col) {
    for (const auto& t : v.tree().query(v.tree().bounds())) {
      if (t.row == row && t.col == col) return std::pair{t.rect.x0, t.rect.y0};
    }
    return std::pair{-1e9, -1e9};
  };
  const FieldPlacement* p = reg->find(0, 1);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(origin_of(0, 1), (std::pair{p->x_um, p->y_um}));
  v.set_positions(PositionsMode::kStage);
  const auto& f = (*slide)->index()->find(0, 1)->field;
  EXPECT_EQ(origin_of(0, 1), (std::pair{f.stage_x_um, f.stage_y_um}));
  EXPECT_NE(p->x_um, f.stage_x_um);
}

// export-tile of a region places a field at its registered position by
// default, at the stage's with --positions stage: a region inside that field
// alone is the raw plane cut at the offset the chosen position gives.
TEST(RegisterCli, ExportTileRegionUsesRegisteredOrStagePositions) {
  TempDir dir;
  std::string id;
  const std::string path = make_slide(dir, &id);
  const std::string bin = testing::vslide_binary();
  ASSERT_EQ(run_command(bin + " register " + path + " --json >/dev/null 2>&1").exit_code, 0);
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok());
  auto reg = (*slide)->read_registration();
  ASSERT_TRUE(reg.ok());
  const double um = (*slide)->geometry().pixel_size_um;
  // The field the registration moved most from its stage position.
  const FieldPlacement* p = nullptr;
  FieldOfView f;
  double moved = 0;
  for (const FieldPlacement& q : reg->fields) {
    const FieldOfView& s = (*slide)->index()->find(q.row, q.col)->field;
    const double d = std::hypot(q.x_um - s.stage_x_um, q.y_um - s.stage_y_um);
    if (d > moved) moved = d, p = &q, f = s;
  }
  ASSERT_NE(p, nullptr);
  ASSERT_GT(moved, 2 * um);  // the test can tell
  auto raw = (*slide)->read(TileKey{p->row, p->col, 0, 0, 0, 0});
  ASSERT_TRUE(raw.ok());
  slide->reset();
  // 100 x 90 px in the middle of that field, away from its neighbours (20% overlap of 512 x 432).
  const double x0 = p->x_um + 206 * um, y0 = p->y_um + 171 * um;
  char region[128];
  std::snprintf(region, sizeof region, "%.6f,%.6f,%.6f,%.6f", x0, y0, 100 * um, 90 * um);
  auto export_region = [&](const std::string& extra, const std::string& name) -> Image16 {
    const auto r = run_command(bin + " export-tile " + path + " --region " + region + " --channel 0 --out " +
                               dir.file(name) + extra);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    auto img = read_tiff16(dir.file(name));
    EXPECT_TRUE(img.ok()) << img.status().to_string();
    return img.ok() ? std::move(*img) : Image16();
  };
  // Output pixel (i, j) shows raw pixel (i - ox, j - oy), the field's origin
  // rounded to the output grid.
  auto expect_cut = [&](const Image16& img, double fx, double fy, const std::string& what) {
    ASSERT_EQ(img.width(), 100) << what;
    ASSERT_EQ(img.height(), 90) << what;
    const int ox = int(std::lround((fx - x0) / um)), oy = int(std::lround((fy - y0) / um));
    for (int j = 0; j < img.height(); ++j)
      for (int i = 0; i < img.width(); ++i) ASSERT_EQ(img.at(i, j), raw->at(i - ox, j - oy)) << what << " " << i << "," << j;
  };
  const Image16 registered = export_region("", "reg.tif");
  expect_cut(registered, p->x_um, p->y_um, "registered (default)");
  expect_cut(export_region(" --positions registered", "reg2.tif"), p->x_um, p->y_um, "registered");
  const Image16 stage = export_region(" --positions stage", "stage.tif");
  expect_cut(stage, f.stage_x_um, f.stage_y_um, "stage");
  EXPECT_NE(registered, stage);
  // Bad combinations are usage errors.
  EXPECT_EQ(run_command(bin + " export-tile " + path + " --region " + region + " --channel 0 --positions maybe --out " +
                        dir.file("x.tif")).exit_code, 2);
  EXPECT_EQ(run_command(bin + " export-tile " + path + " --row 0 --col 0 --channel 0 --positions stage --out " +
                        dir.file("x.tif")).exit_code, 2);
  EXPECT_EQ(run_command(bin + " export-tile " + path + " --region 1,2,0,4 --channel 0 --out " + dir.file("x.tif"))
                .exit_code, 2);
  EXPECT_EQ(run_command(bin + " export-tile " + path + " --region " + region + " --channel 7 --out " +
                        dir.file("x.tif")).exit_code, 1);
}

}  // namespace
}  // namespace vslide
