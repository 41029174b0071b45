// `vslide export` end to end: the files are read back by independent readers
// (tifffile for OME-TIFF, zarrita for OME-Zarr) and every level, channel, z
// and t compared with a fused reference computed by check_export.py from the
// raw planes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/testing.h"
#include "export_fixture.h"

namespace vslide::testing {
namespace {

namespace fs = std::filesystem;

std::string check_script() { return std::string(VSLIDE_EXPORT_TEST_DIR) + "/check_export.py"; }

// node + zarrita decode the OME-Zarr into `dump`; fails (not skips) when absent.
void read_with_zarrita(const std::string& zarr, const std::string& dump) {
  const std::string js = std::string(VSLIDE_EXPORT_JS_DIR);
  ASSERT_FALSE(std::string(VSLIDE_NODE).empty()) << "node was not found at configure time";
  ASSERT_TRUE(fs::exists(js + "/node_modules/zarrita/package.json"))
      << "zarrita is not installed in " << js << ": the build runs `npm ci` there (needs the npm registry)";
  auto r = run_command(std::string(VSLIDE_NODE) + " " + js + "/read_zarr.mjs " + zarr + " " + dump);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

class ExportCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(make_export_slide(slide_, spec_, dump_).ok());
  }
  std::string export_cmd(const std::string& out, const std::string& args) {
    return vslide_binary() + " export " + slide_ + " " + out + " " + args + " 2>&1";
  }
  TempDir dir_;
  ExportSlideSpec spec_;
  std::string slide_ = dir_.file("s.h5"), dump_ = dir_.file("dump");
};

TEST_F(ExportCliTest, OmeTiffEveryLevelAndPlaneMatchTheReference) {
  const std::string out = dir_.file("s.ome.tif");
#ifdef __SANITIZE_ADDRESS__
  const std::string memory = "--memory-mb 512";  // AddressSanitizer's shadow counts as the process's heap
#else
  const std::string memory = "--memory-mb 64";
#endif
  auto r = run_command(export_cmd(out, "--levels 3 --tile 32 " + memory + " --threads 3 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"levels\": 3"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out + ".partial"));
  auto c = run_command("/usr/bin/python3 " + check_script() + " --dump " + dump_ + " --levels 3 --tiff " + out);
  EXPECT_EQ(c.exit_code, 0) << c.output;
}

TEST_F(ExportCliTest, OmeTiffRegionUncompressed) {
  const std::string out = dir_.file("r.ome.tif");
  const std::string region = "21.5,27.25,61.75,55";
  auto r = run_command(export_cmd(out, "--region-um " + region + " --levels 2 --tile 16 --compression none"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto c = run_command("/usr/bin/python3 " + check_script() + " --dump " + dump_ + " --levels 2 --region " +
                       region + " --tiff " + out);
  EXPECT_EQ(c.exit_code, 0) << c.output;
}

TEST_F(ExportCliTest, OmeZarrBloscAndZstdReadByZarrita) {
  for (const std::string codec : {"blosc", "zstd"}) {
    SCOPED_TRACE(codec);
    const std::string out = dir_.file(codec + ".ome.zarr"), zdump = dir_.file(codec + "-zarrita");
    auto r = run_command(export_cmd(out, "--format ome-zarr --levels 3 --tile 32 --shard 64 --threads 2 "
                                         "--compression " + codec));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    read_with_zarrita(out, zdump);
    auto c = run_command("/usr/bin/python3 " + check_script() + " --dump " + dump_ + " --levels 3 --zarr-dump " +
                         zdump);
    EXPECT_EQ(c.exit_code, 0) << c.output;
  }
}

TEST(ExportCliRegistered, RegisteredPositionsAndColourOffsetsInBothFormats) {
  TempDir dir;
  ExportSlideSpec spec;
  spec.registration = true;
  spec.t = 1;
  const std::string slide = dir.file("s.h5"), dump = dir.file("dump");
  ASSERT_TRUE(make_export_slide(slide, spec, dump).ok());
  const std::string tif = dir.file("s.ome.tif"), zarr = dir.file("s.ome.zarr");
  auto r = run_command(vslide_binary() + " export " + slide + " " + tif + " --levels 2 --tile 32 --json 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"registered\": true"), std::string::npos) << r.output;
  r = run_command(vslide_binary() + " export " + slide + " " + zarr + " --format ome-zarr --levels 2 --tile 32 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  read_with_zarrita(zarr, dir.file("zarrita"));
  auto c = run_command("/usr/bin/python3 " + check_script() + " --dump " + dump + " --levels 2 --tiff " + tif +
                       " --zarr-dump " + dir.file("zarrita"));
  EXPECT_EQ(c.exit_code, 0) << c.output;
}

TEST_F(ExportCliTest, RefusesToOverwriteAndNeverWritesOverTheInput) {
  const std::string out = dir_.file("s.ome.tif");
  std::ofstream(out) << "precious";
  auto r = run_command(export_cmd(out, "--levels 1"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--overwrite"), std::string::npos) << r.output;
  std::string content;
  std::getline(std::ifstream(out), content);
  EXPECT_EQ(content, "precious");
  r = run_command(export_cmd(out, "--levels 1 --overwrite"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GT(fs::file_size(out), 1000u);

  const auto before = fs::file_size(slide_);
  r = run_command(export_cmd(slide_, "--overwrite"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("input slide"), std::string::npos) << r.output;
  EXPECT_EQ(fs::file_size(slide_), before);
}

TEST_F(ExportCliTest, BadOptionsAreUsageErrors) {
  const std::string out = dir_.file("x.ome.tif");
  EXPECT_EQ(run_command(export_cmd(out, "--format png")).exit_code, 2);
  EXPECT_EQ(run_command(export_cmd(out, "--region-um 5,5,1,1")).exit_code, 2);
  auto r = run_command(export_cmd(out, "--channels 7"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("channel 7"), std::string::npos) << r.output;
  r = run_command(export_cmd(out, "--tile 100"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("multiple of 16"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".partial"));
  EXPECT_EQ(run_command(vslide_binary() + " export --help").exit_code, 0);
}

}  // namespace
}  // namespace vslide::testing
