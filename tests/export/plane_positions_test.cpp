// Per-plane positions in the fused export (docs/EXPORT.md, "Positions"): a
// time-lapse whose stage came back to two fields with a new error. The
// synthetic scanner renders every field at t = 0 and t = 1; at t = 1 fields
// (1,1) and (2,0) come from a scanner of the same seed (same specimen, same
// reported stage positions) with a larger stage jitter, so they truly lie
// several pixels from where they lay at t = 0. Bright spots are added to the
// specimen, drawn into every plane that sees them at their true place, in
// the moved fields' interiors and in their overlaps with a neighbour (where
// a misplaced field shows a second, ghost spot). `vslide register
// --all-planes` stores the moved fields for t = 1; in the OME-TIFF (read
// with tifffile) and the OME-Zarr (read with zarrita) every spot must lie
// where the truth puts it, in both time points, within 1 px, whole.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/testing.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::testing {
namespace {

constexpr double kSpot = 20000, kSigma = 1.5;  // counts at the centre; px

ScanConfig timelapse_config(double jitter_um) {
  ScanConfig c;
  c.rows = 3;
  c.cols = 3;
  c.channels = 1;
  c.timepoints = 2;
  c.tile_width = 512;
  c.tile_height = 432;
  c.overlap = 0.2;
  c.stage_jitter_um = jitter_um;
  c.seed = 11;
  return c;
}

bool moved_at_t1(int32_t row, int32_t col) { return (row == 1 && col == 1) || (row == 2 && col == 0); }

struct Spot {
  double x_um, y_um;  // specimen position at t = 0 (it drifts with the specimen)
};

// Adds the spots a plane sees: its pixel (u, v) shows the specimen point
// origin - drift + (u + 0.5, v + 0.5) * pixel (the scanner's model).
void add_spots(Image16& img, const FieldTruth& f, double um, double drift_x, double drift_y,
               const std::vector<Spot>& spots) {
  for (const Spot& s : spots) {
    const double uc = (s.x_um + drift_x - f.true_x_um) / um - 0.5,
                 vc = (s.y_um + drift_y - f.true_y_um) / um - 0.5;
    for (int v = int(std::floor(vc)) - 6; v <= int(std::floor(vc)) + 7; ++v) {
      for (int u = int(std::floor(uc)) - 6; u <= int(std::floor(uc)) + 7; ++u) {
        if (u < 0 || v < 0 || u >= img.width() || v >= img.height()) continue;
        const double g =
            kSpot * std::exp(-((u - uc) * (u - uc) + (v - vc) * (v - vc)) / (2 * kSigma * kSigma));
        img.at(u, v) = uint16_t(std::min(65535.0, img.at(u, v) + g));
      }
    }
  }
}

TEST(ExportPlanePositions, EachTimePointsFieldsAtTheirOwnRegisteredPositions) {
  TempDir dir;
  const SyntheticScanner a(timelapse_config(1.5)), b(timelapse_config(3.0));
  const double um = a.geometry().pixel_size_um;
  const double w_um = a.geometry().tile_width * um, h_um = a.geometry().tile_height * um;
  for (int32_t r = 0; r < 3; ++r) {
    for (int32_t c = 0; c < 3; ++c) {
      if (!moved_at_t1(r, c)) continue;
      const FieldTruth fa = a.truth_at(r, c), fb = b.truth_at(r, c);
      ASSERT_EQ(fa.reported_x_um, fb.reported_x_um);
      ASSERT_GT(std::hypot(fb.true_x_um - fa.true_x_um, fb.true_y_um - fa.true_y_um) / um, 3.0)
          << "field (" << r << "," << c << ") must move by several pixels at t = 1 (choose another seed)";
    }
  }
  // Spots: the moved fields' centres, the middle of their overlaps with their
  // right / upper neighbour, and an unmoved field's centre.
  auto at = [&](int32_t r, int32_t c, double fx, double fy) {
    const FieldTruth f = a.truth_at(r, c);
    return Spot{f.true_x_um + fx * w_um, f.true_y_um + fy * h_um};
  };
  const double mid = 1 - timelapse_config(0).overlap / 2;  // inside the overlap with the next field
  const std::vector<Spot> spots = {at(1, 1, 0.5, 0.5), at(2, 0, 0.45, 0.55),   at(1, 1, mid, 0.5),
                                   at(2, 0, mid, 0.4), at(1, 1, 0.5, 1 - mid), at(0, 0, 0.5, 0.5)};

  const std::string slide = dir.file("timelapse.h5");
  {
    auto w = Hdf5Slide::create(slide, a.header(), a.geometry(), a.channels(), CreateOptions{});
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    for (const FieldOfView& f : a.fields()) {
      ASSERT_TRUE((*w)->write_field(f).ok());
      for (int32_t t = 0; t < 2; ++t) {
        const SyntheticScanner& s = t == 1 && moved_at_t1(f.row, f.col) ? b : a;
        const TileKey key{f.row, f.col, 0, 0, t, 0};
        Image16 img = s.render(key);
        double dx, dy;
        s.drift_um(t, &dx, &dy);
        add_spots(img, s.truth_at(f.row, f.col), um, dx, dy, spots);
        ASSERT_TRUE((*w)->write_plane(key, img.view()).ok());
      }
    }
    ASSERT_TRUE((*w)->finish().ok());
  }

  const std::string bin = vslide_binary();
  auto reg_run = run_command(bin + " register " + slide + " --all-planes --json 2>/dev/null");
  ASSERT_EQ(reg_run.exit_code, 0) << reg_run.output;
  const auto rj = nlohmann::json::parse(reg_run.output);
  ASSERT_TRUE(rj["stored"].get<bool>());
  ASSERT_EQ(rj["plane_placements"].get<int>(), 2) << reg_run.output;  // exactly the two moved fields
  // The registration's frame: registered minus true positions of the
  // reference plane (registration fixes relative positions; the stage sets
  // the rest), the mean over the fields.
  double gx = 0, gy = 0;
  {
    auto s = Hdf5Slide::open(slide);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    EXPECT_EQ((*s)->format_version(), 3);  // per-plane positions: refused by a version-2 reader
    auto reg = (*s)->read_registration();
    ASSERT_TRUE(reg.ok()) << reg.status().to_string();
    ASSERT_EQ(reg->fields.size(), 9u);
    for (const FieldPlacement& p : reg->fields) {
      gx += (p.x_um - a.truth_at(p.row, p.col).true_x_um) / 9;
      gy += (p.y_um - a.truth_at(p.row, p.col).true_y_um) / 9;
    }
  }

  const std::string tiff = dir.file("out.ome.tif"), zarr = dir.file("out.ome.zarr"),
                    zdump = dir.file("zarrita");
  auto ex = run_command(bin + " export " + slide + " " + tiff + " --levels 1 --json 2>/dev/null");
  ASSERT_EQ(ex.exit_code, 0) << ex.output;
  const auto ej = nlohmann::json::parse(ex.output);
  EXPECT_TRUE(ej["registered"].get<bool>());
  EXPECT_EQ(ej["planes_placed_apart"].get<int>(), 1);  // t = 1
  const double ox = ej["origin_um"][0].get<double>(), oy = ej["origin_um"][1].get<double>();
  auto ez =
      run_command(bin + " export " + slide + " " + zarr + " --format ome-zarr --levels 1 --json 2>/dev/null");
  ASSERT_EQ(ez.exit_code, 0) << ez.output;
  const auto zj = nlohmann::json::parse(ez.output);
  EXPECT_EQ(zj["origin_um"], ej["origin_um"]);
  ASSERT_FALSE(std::string(VSLIDE_NODE).empty()) << "node was not found at configure time";
  auto zr = run_command(std::string(VSLIDE_NODE) + " " + VSLIDE_EXPORT_JS_DIR + "/read_zarr.mjs " + zarr +
                        " " + zdump + " 2>&1");
  ASSERT_EQ(zr.exit_code, 0) << zr.output;

  // Where each spot must be: its slide position at t in the registration's
  // frame, as an output pixel index (pixel i's centre at origin + (i + 0.5) px).
  nlohmann::json want = nlohmann::json::array();
  for (int32_t t = 0; t < 2; ++t) {
    double dx, dy;
    a.drift_um(t, &dx, &dy);
    for (const Spot& s : spots) {
      want.push_back({{"t", t},
                      {"c", 0},
                      {"z", 0},
                      {"x", (s.x_um + dx + gx - ox) / um - 0.5},
                      {"y", (s.y_um + dy + gy - oy) / um - 0.5}});
    }
  }
  const std::string spots_file = dir.file("spots.json");
  std::ofstream(spots_file) << want.dump();
  const std::string script =
      std::string("/usr/bin/python3 ") + VSLIDE_EXPORT_TEST_DIR + "/spot_positions.py --spots " + spots_file;
  for (const std::string& reader : {"--tiff " + tiff, "--zarr-dump " + zdump}) {
    SCOPED_TRACE(reader);
    auto found = run_command(script + " " + reader + " 2>&1");
    ASSERT_EQ(found.exit_code, 0) << found.output;
    const auto got = nlohmann::json::parse(found.output);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const double ex_x = want[i]["x"].get<double>(), ex_y = want[i]["y"].get<double>();
      const double gx_px = got[i]["x"].get<double>(), gy_px = got[i]["y"].get<double>();
      std::printf("%s t %d spot %zu: at (%.2f, %.2f), truth (%.2f, %.2f): %.2f px off, peak %.0f\n",
                  reader.substr(0, reader.find(' ')).c_str(), want[i]["t"].get<int>(), i % spots.size(),
                  gx_px, gy_px, ex_x, ex_y, std::hypot(gx_px - ex_x, gy_px - ex_y),
                  got[i]["peak"].get<double>());
      EXPECT_LT(std::hypot(gx_px - ex_x, gy_px - ex_y), 1.0)
          << "t " << want[i]["t"] << " spot " << i % spots.size();
      // Whole: a misplaced field in an overlap splits a spot into two fainter ones.
      EXPECT_GT(got[i]["peak"].get<double>(), 0.6 * kSpot)
          << "t " << want[i]["t"] << " spot " << i % spots.size();
    }
  }
}

}  // namespace
}  // namespace vslide::testing
