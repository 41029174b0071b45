// `vslide bench export` runs its baselines and exports in its own scratch
// folder, prints the ratios, and leaves a slide given with --slide (and every
// file of the user's --dir) as they were.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/testing.h"
#include "export_fixture.h"

namespace vslide::testing {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(ExportBench, PrintsRatiosAndLeavesTheUsersFilesAlone) {
  TempDir dir;
  std::ofstream(dir.file("mine.txt")) << "keep me";
  const std::string slide = dir.file("s.h5");
  ExportSlideSpec spec;
  spec.z = 1;
  spec.t = 1;
  ASSERT_TRUE(make_export_slide(slide, spec, dir.file("dump")).ok());
  fs::remove_all(dir.file("dump"));
  const std::string before = read_all(slide);

  auto r = run_command(vslide_binary() + " bench export --slide " + slide + " --repeat 1 --no-render --dir " +
                       dir.path().string() + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* row : {"read (verify)", "export OME-TIFF, pyramid", "export OME-Zarr (blosc), pyramid",
                          "--threads 1", "x read", "MB/CPU-s"}) {
    EXPECT_NE(r.output.find(row), std::string::npos) << row << "\n" << r.output;
  }
  EXPECT_EQ(read_all(slide), before) << "bench export changed the slide it was given";
  EXPECT_EQ(read_all(dir.file("mine.txt")), "keep me");
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find("vslide-bench"), std::string::npos) << "left behind: " << e.path();
  }
}

}  // namespace
}  // namespace vslide::testing
