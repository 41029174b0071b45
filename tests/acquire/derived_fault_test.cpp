// A full disk under the verbs that write slides outside a scan: a derived
// layer (pyramid, detect) never damages the slide it is added to, and no
// verb crashes on ENOSPC (simulate and import-tiles used to, in HDF5's close).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "harness.h"

namespace vslide::testing {
namespace {

namespace fs = std::filesystem;

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `vslide ARGS` with the fault layer's environment.
CommandResult run_on(const FaultFs& disk, const std::string& args) {
  std::string env;
  for (const auto& e : disk.env()) env += "'" + e + "' ";
  return run_command("env " + env + vslide_binary() + " " + args);
}

class DerivedOnFullDisk : public ::testing::TestWithParam<uint64_t> {
 protected:
  void SetUp() override {
    fs::create_directories(root_);
    auto made = run_command(vslide_binary() + " simulate " + slide_ +
                            " --rows 3 --cols 3 --channels 2 --tile 256x256 --quiet");
    ASSERT_EQ(made.exit_code, 0) << made.output;
    disk_ = std::make_unique<FaultFs>(root_, dir_.file("faultfs"));
    original_ = bytes_of(slide_);
  }

  // The verb fails cleanly on a disk with `free` bytes, the slide is
  // byte-identical and verifies; with space, the verb succeeds.
  void check(const std::string& verb_args) {
    std::mt19937_64 rng(GetParam());
    const int64_t free = std::uniform_int_distribution<int64_t>(0, int64_t(original_.size()) + 200000)(rng);
    SCOPED_TRACE(verb_args + " with " + std::to_string(free) + " bytes free, slide " +
                 std::to_string(original_.size()) + " bytes");
    disk_->set_free(free);
    auto r = run_on(*disk_, verb_args);
    if (r.exit_code != 0) {
      EXPECT_LT(r.exit_code, 128) << "crashed: " << r.output;
      EXPECT_TRUE(r.output.find("disk full") != std::string::npos ||
                  r.output.find("No space") != std::string::npos || r.output.find("space") != std::string::npos)
          << r.output;
      EXPECT_TRUE(bytes_of(slide_) == original_) << "the slide changed: " << r.output;
      auto v = run_command(vslide_binary() + " verify " + slide_);
      EXPECT_EQ(v.exit_code, 0) << v.output;
      for (const auto& e : fs::directory_iterator(root_)) {
        EXPECT_EQ(e.path().filename().string().find("vslide-aside"), std::string::npos) << "left behind";
      }
    }
    disk_->set_free(-1);
    auto again = run_on(*disk_, verb_args);
    EXPECT_EQ(again.exit_code, 0) << again.output;
    auto v = run_command(vslide_binary() + " verify " + slide_);
    EXPECT_EQ(v.exit_code, 0) << v.output;
  }

  TempDir dir_;
  std::string root_ = dir_.file("disk"), slide_ = dir_.file("disk/s.h5");
  std::unique_ptr<FaultFs> disk_;
  std::string original_;
};

TEST_P(DerivedOnFullDisk, PyramidNeverDamagesTheSlide) { check("pyramid " + slide_ + " --factors 2,4 --json"); }
TEST_P(DerivedOnFullDisk, DetectNeverDamagesTheSlide) { check("detect " + slide_ + " --json"); }
INSTANTIATE_TEST_SUITE_P(Seeds, DerivedOnFullDisk, ::testing::ValuesIn(fault_seeds()));

TEST(NewSlideOnFullDisk, SimulateFailsCleanly) {
  TempDir dir;
  FaultFs disk(dir.file("disk"), dir.file("faultfs"));
  for (int64_t free : {0, 20000, 400000}) {
    disk.set_free(free);
    auto r = run_on(disk, "simulate " + dir.file("disk/s" + std::to_string(free) + ".h5") +
                              " --rows 3 --cols 3 --channels 2 --tile 256x256 --quiet");
    EXPECT_NE(r.exit_code, 0) << free << ": " << r.output;
    EXPECT_LT(r.exit_code, 128) << free << ": crashed: " << r.output;
  }
}

}  // namespace
}  // namespace vslide::testing
