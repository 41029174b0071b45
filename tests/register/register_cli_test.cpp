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

}  // namespace
}  // namespace vslide
