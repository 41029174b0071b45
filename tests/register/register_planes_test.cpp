// Registration per (z, t) plane: a time-lapse whose stage came back to one
// field with a different error. A real image cut into 3x3 fields twice; at
// t = 1 field (1,1) is cut 5 px right and 3 px up of where it was at t = 0,
// the stage reporting the same position both times.
#include <gtest/gtest.h>

#include <cmath>

#include "common/serve_process.h"
#include "common/testing.h"
#include "vslide/remote/remote_slide.h"
#include "vslide/analysis/detect.h"
#include "vslide/analysis/nuclei.h"
#include "vslide/core/placement.h"
#include "vslide/register/cut_mosaic.h"
#include "vslide/register/register.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/storage/tiff_io.h"
#include "vslide/view/slide_view.h"

namespace vslide {
namespace {

constexpr int kMoveX = 5, kMoveY = -3;

// The slide (channel 0, t = 0 and t = 1) and the true field corners at t = 0, in micrometres.
std::string write_timelapse(const testing::TempDir& dir, MosaicGeometry* geometry) {
  auto img = read_tiff16(testing::real_data_dir() + "/speckles_hoechst.tif");
  EXPECT_TRUE(img.ok()) << img.status().to_string();
  CutMosaicSpec spec;
  auto g = cut_mosaic_geometry(*img, spec);
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  g->timepoints = 2;
  *geometry = *g;
  SlideHeader h;
  h.slide_id = "timelapse";
  const std::string path = dir.file("timelapse.h5");
  auto w = Hdf5Slide::create(path, h, *g, default_channels(1), CreateOptions{});
  EXPECT_TRUE(w.ok()) << w.status().to_string();
  auto truth = write_cut_mosaic(*img, spec, **w);  // t = 0
  EXPECT_TRUE(truth.ok()) << truth.status().to_string();
  for (int32_t r = 0; r < 3; ++r) {
    for (int32_t c = 0; c < 3; ++c) {
      const auto [tx, ty] = (*truth)[size_t(r * 3 + c)];
      int32_t x0 = int32_t(std::lround(tx / g->pixel_size_um)), y0 = int32_t(std::lround(ty / g->pixel_size_um));
      if (r == 1 && c == 1) x0 += kMoveX, y0 += kMoveY;
      Image16 tile(g->tile_width, g->tile_height);
      for (int32_t y = 0; y < g->tile_height; ++y)
        for (int32_t x = 0; x < g->tile_width; ++x) tile.at(x, y) = img->at(x0 + x, y0 + y);
      EXPECT_TRUE((*w)->write_plane(TileKey{r, c, 0, 0, 1, 0}, tile).ok());
    }
  }
  EXPECT_TRUE((*w)->finish().ok());
  return path;
}

TEST(RegisterPlanes, AFieldPlacedElsewhereInOneTimePointIsStoredForThatPlaneOnly) {
  testing::TempDir dir;
  MosaicGeometry g;
  const std::string path = write_timelapse(dir, &g);
  const double um = g.pixel_size_um;
  {
    auto slide = Hdf5Slide::open(path);
    ASSERT_TRUE(slide.ok()) << slide.status().to_string();
    auto res = register_slide(**slide, RegisterOptions{});
    ASSERT_TRUE(res.ok()) << res.status().to_string();
    ASSERT_EQ(res->fields_measured, 9);
    nlohmann::json summary;
    ASSERT_TRUE(register_other_planes(**slide, RegisterOptions{}, 0.25, &*res, &summary).ok());
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_EQ(summary[0]["t"].get<int>(), 1);
    EXPECT_EQ(summary[0]["fields_measured"].get<int>(), 9);
    EXPECT_EQ(summary[0]["fields_moved"].get<int>(), 1);
    const Registration& reg = res->registration;
    ASSERT_EQ(reg.plane_fields.size(), 1u);  // the other 8 fields lie where they lay at t = 0
    const PlanePlacement& p = reg.plane_fields[0];
    EXPECT_EQ(p.z, 0);
    EXPECT_EQ(p.t, 1);
    EXPECT_EQ(p.field.row, 1);
    EXPECT_EQ(p.field.col, 1);
    const FieldPlacement* ref = reg.find(1, 1);
    ASSERT_NE(ref, nullptr);
    EXPECT_NEAR((p.field.x_um - ref->x_um) / um, kMoveX, 0.3);
    EXPECT_NEAR((p.field.y_um - ref->y_um) / um, kMoveY, 0.3);
    EXPECT_EQ(reg.find(1, 1, 0, 1), &p.field);
    EXPECT_EQ(reg.find(1, 1, 0, 0), ref);
    EXPECT_EQ(reg.find(0, 1, 0, 1), reg.find(0, 1));
    slide->reset();
    auto w = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write_registration(reg).ok());
    ASSERT_TRUE((*w)->finish().ok());
  }
  // The command does the same and stores it.
  const auto cli = testing::run_command(testing::vslide_binary() + " register " + path +
                                        " --all-planes --fresh --json 2>/dev/null");
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  const auto j = nlohmann::json::parse(cli.output);
  EXPECT_TRUE(j["stored"].get<bool>());
  EXPECT_EQ(j["plane_placements"].get<int>(), 1);
  ASSERT_EQ(j["planes"].size(), 1u);
  EXPECT_EQ(j["planes"][0]["fields_moved"].get<int>(), 1);
  // Stored and read back (from the file and through `vslide serve`); the
  // viewer's tree follows the plane shown.
  {
    testing::ServeProcess server({path, "--bind", "tcp://127.0.0.1:*"});
    ASSERT_FALSE(server.endpoint().empty());
    auto client = remote::RemoteSlide::open(server.endpoint() + "/timelapse");
    ASSERT_TRUE(client.ok()) << client.status().to_string();
    auto remote_reg = (*client)->read_registration();
    ASSERT_TRUE(remote_reg.ok()) << remote_reg.status().to_string();
    ASSERT_EQ(remote_reg->plane_fields.size(), 1u);
    EXPECT_EQ(remote_reg->plane_fields[0].t, 1);
    EXPECT_EQ(remote_reg->plane_fields[0].field.x_um, remote_reg->find(1, 1, 0, 1)->x_um);
  }
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok());
  EXPECT_EQ((*slide)->format_version(), 3);  // /registration/planes (docs/FORMAT.md, "Versioning")
  auto reg = (*slide)->read_registration();
  ASSERT_TRUE(reg.ok()) << reg.status().to_string();
  ASSERT_EQ(reg->plane_fields.size(), 1u);
  EXPECT_EQ(reg->reference_t, 0);
  const FieldPlacement* at1 = reg->find(1, 1, 0, 1);
  const FieldPlacement* at0 = reg->find(1, 1, 0, 0);
  ASSERT_NE(at1, at0);
  view::SlideView v(**slide);
  auto origin_of = [&](int32_t row, int32_t col) {
    for (const auto& t : v.tree().query(v.tree().bounds()))
      if (t.row == row && t.col == col) return std::pair{t.rect.x0, t.rect.y0};
    return std::pair{-1e9, -1e9};
  };
  EXPECT_EQ(origin_of(1, 1), (std::pair{at0->x_um, at0->y_um}));
  ASSERT_TRUE(v.set_plane(0, 1).ok());
  EXPECT_EQ(origin_of(1, 1), (std::pair{at1->x_um, at1->y_um}));
  EXPECT_EQ(origin_of(0, 1), (std::pair{reg->find(0, 1)->x_um, reg->find(0, 1)->y_um}));
  const auto& f = (*slide)->index()->find(1, 1)->field;
  EXPECT_EQ(field_origin_um(f, &*reg, PositionsMode::kRegistered, 0, 1), (std::pair{at1->x_um, at1->y_um}));
  EXPECT_EQ(field_origin_um(f, &*reg, PositionsMode::kStage, 0, 1), (std::pair{f.stage_x_um, f.stage_y_um}));
  ASSERT_TRUE(v.set_plane(0, 0).ok());
  EXPECT_EQ(origin_of(1, 1), (std::pair{at0->x_um, at0->y_um}));
  slide->reset();

  // Detection at t = 1 places field (1,1)'s objects from that plane's position.
  auto w = Hdf5Slide::open(path, OpenMode::kAppend);
  ASSERT_TRUE(w.ok());
  DetectOptions opt;
  opt.t = 1;
  opt.layer = "t1";
  opt.merge = false;
  NucleiParams np;
  np.max_area_um2 = 1e6;
  np.min_area_um2 = 1;
  auto det = detect_slide(**w, **w, NucleiPipeline(np), opt);
  ASSERT_TRUE(det.ok()) << det.status().to_string();
  auto objects = (*w)->read_objects_json("t1");
  ASSERT_TRUE(objects.ok()) << objects.status().to_string();
  size_t checked = 0;
  for (const auto& o : nlohmann::json::parse(*objects)) {
    if (o["row"].get<int>() != 1 || o["col"].get<int>() != 1) continue;
    EXPECT_NEAR(o["x_um"].get<double>() - o["x_px"].get<double>() * um, at1->x_um, 1e-6);
    EXPECT_NEAR(o["y_um"].get<double>() - o["y_px"].get<double>() * um, at1->y_um, 1e-6);
    ++checked;
  }
  EXPECT_GT(checked, 0u);
}

// A registration whose plane placements are out of order or outside the slide is refused.
TEST(RegisterPlanes, BadPlanePlacementsAreRefused) {
  testing::TempDir dir;
  MosaicGeometry g;
  const std::string path = write_timelapse(dir, &g);
  auto w = Hdf5Slide::open(path, OpenMode::kAppend);
  ASSERT_TRUE(w.ok());
  Registration reg;
  reg.fields.push_back(FieldPlacement{0, 0, 0, 0, true, 0});
  reg.plane_fields.push_back(PlanePlacement{0, 2, FieldPlacement{0, 0, 1, 1, true, 0}});  // t 2 of 2
  EXPECT_EQ((*w)->write_registration(reg).code(), StatusCode::kOutOfRange);
  reg.plane_fields = {PlanePlacement{0, 1, FieldPlacement{1, 0, 1, 1, true, 0}},
                      PlanePlacement{0, 1, FieldPlacement{0, 0, 1, 1, true, 0}}};
  EXPECT_EQ((*w)->write_registration(reg).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vslide
