// `vslide pyramid` and `vslide render` as a user runs them.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/serve_process.h"
#include "common/testing.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/view/display.h"
#include "vslide/view/frame.h"
#include "vslide/view/gl_context.h"

namespace vslide::view {
namespace {

using testing::run_command;
using testing::TempDir;
using testing::vslide_binary;


class CliRenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    slide_ = dir_.file("s.h5");
    auto r = run_command(vslide_binary() + " simulate " + slide_ +
                         " --rows 3 --cols 4 --channels 3 --tile 160x120 --sparse 0.2 --seed 5");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  std::string render(const std::string& args, int* code) {
    auto r = run_command(vslide_binary() + " render " + slide_ + " " + args);
    *code = r.exit_code;
    return r.output;
  }
  TempDir dir_;
  std::string slide_;
};

TEST_F(CliRenderTest, PyramidIsResumableAndRenderUsesItsLayers) {
  auto p = run_command(vslide_binary() + " pyramid " + slide_ + " --factors 2,4 --overview 16 --json");
  ASSERT_EQ(p.exit_code, 0) << p.output;
  EXPECT_NE(p.output.find("\"skipped\": 0"), std::string::npos) << p.output;
  auto again = run_command(vslide_binary() + " pyramid " + slide_ + " --factors 2,4 --overview 16 --json");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("\"written\": 0"), std::string::npos) << "not resumed: " << again.output;
  EXPECT_NE(again.output.find("\"overviews\": 0"), std::string::npos) << again.output;
  auto more = run_command(vslide_binary() + " pyramid " + slide_ + " --factors 2,4,8 --overview 16 --json");
  ASSERT_EQ(more.exit_code, 0) << more.output;
  EXPECT_EQ(more.output.find("\"written\": 0"), std::string::npos) << more.output;
  auto slide = Hdf5Slide::open(slide_);
  ASSERT_TRUE(slide.ok());
  EXPECT_EQ((*slide)->zoom_levels(), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_TRUE((*slide)->read_overview(2).ok());
  slide->reset();

  int code = 0;
  const std::string png = dir_.file("v.png");
  std::string out = render("--out " + png + " --size 240x160 --layer 4 --json", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"level\": 2"), std::string::npos) << out;
  auto img = read_png(png);
  ASSERT_TRUE(img.ok()) << img.status().to_string();
  EXPECT_EQ(img->width, 240);
  EXPECT_EQ(img->height, 160);
  size_t lit = 0;
  for (size_t i = 0; i < img->pixels.size(); ++i) lit += img->pixels[i] != 0;
  EXPECT_GT(lit, img->pixels.size() / 4);
}

TEST_F(CliRenderTest, GpuAndCpuRenderersAgree) {
  int code = 0;
  const std::string args =
      "--size 200x150 --channels 0,2 --color 2=#ff8000 --contrast 0=100:2000 --gamma 2=0.8 "
      "--overlay tile-outlines --center-um 40,30 --zoom 0.7";
  std::string out = render("--out " + dir_.file("gpu.png") + " " + args, &code);
  ASSERT_EQ(code, 0) << out;
  out = render("--out " + dir_.file("cpu.png") + " --cpu " + args, &code);
  ASSERT_EQ(code, 0) << out;
  auto a = read_png(dir_.file("gpu.png"));
  auto b = read_png(dir_.file("cpu.png"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LE(compare_images(*a, *b).max_abs, 1);
}

TEST_F(CliRenderTest, ARemoteSlideRendersIdenticallyToTheFile) {
  auto p = run_command(vslide_binary() + " pyramid " + slide_ + " --factors 2 --overview 8");
  ASSERT_EQ(p.exit_code, 0) << p.output;
  std::string id;
  {
    auto slide = Hdf5Slide::open(slide_);
    ASSERT_TRUE(slide.ok());
    id = (*slide)->header().slide_id;
  }
  testing::ServeProcess dealer({slide_, "--bind", "tcp://127.0.0.1:*"});
  ASSERT_FALSE(dealer.endpoint().empty()) << "vslide serve printed no endpoint";
  const std::string args = " --size 220x140 --channels 0,1 --overlay tile-outlines";
  int code = 0;
  std::string out = render("--out " + dir_.file("local.png") + args, &code);
  ASSERT_EQ(code, 0) << out;
  auto r = run_command(vslide_binary() + " render " + dealer.endpoint() + "/" + id + " --out " +
                       dir_.file("remote.png") + args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto a = read_png(dir_.file("local.png"));
  auto b = read_png(dir_.file("remote.png"));
  ASSERT_TRUE(a.ok() && b.ok());
  const ImageDiff d = compare_images(*a, *b);
  EXPECT_EQ(d.max_abs, 0) << d.pixels_differing << " pixels differ";
}

TEST_F(CliRenderTest, BadInputsExitNonZeroWithAClearMessage) {
  int code = 0;
  const std::string png = " --out " + dir_.file("x.png");
  std::string out = render(png + " --channels 0,7", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("unknown channel 7: the slide has 3 channels"), std::string::npos) << out;
  out = render(png + " --contrast 1=900:100", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("channel 1: contrast low 900 must be below high 100"), std::string::npos) << out;
  out = render(png + " --center-um 99999,99999 --zoom 1", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("lies outside the slide"), std::string::npos) << out;
  out = render(png + " --region-um 10,10,5,20", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("is empty"), std::string::npos) << out;
  out = render(png + " --overlay detections:nuclei", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("no detection layer 'nuclei'"), std::string::npos) << out;
  out = render(png + " --layer 3", &code);
  EXPECT_EQ(code, 2);
  out = render(png + " --contrast 0=1:2 --auto-contrast", &code);
  EXPECT_EQ(code, 2);
  out = render("", &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("--out PNG is required"), std::string::npos) << out;
  auto missing = run_command(vslide_binary() + " render " + dir_.file("none.h5") + png);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("none.h5"), std::string::npos) << missing.output;
}

// Audit of issue 16: `--gamma 0=1e300` said "gamma must be positive" (the
// double became float infinity); every gamma outside the accepted range is
// refused with that range, on the command line, in a view state and in
// DisplaySettings::validate.
TEST_F(CliRenderTest, AGammaOutsideTheAcceptedRangeIsRefusedNamingTheRange) {
  int code = 0;
  const std::string png = " --out " + dir_.file("x.png");
  for (const std::string g : {"1e300", "11", "0.01", "0", "-1", "nan", "inf"}) {
    std::string out = render(png + " --gamma 0=" + g, &code);
    EXPECT_EQ(code, 2) << g << "\n" << out;
    EXPECT_NE(out.find("--gamma 0=" + g + ": gamma must lie between 0.05 and 10"), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(dir_.file("x.png"))) << g;
  }
  std::string out = render(png + " --cpu --gamma 0=10 --gamma 1=0.05", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(run_command(vslide_binary() + " render --help").output.find("0.05 to 10"), std::string::npos);

  const std::string state = dir_.file("state.json");
  std::ofstream(state) << R"({"channels": [{"channel": 0, "low": 0, "high": 4000, "gamma": 1e300}]})";
  out = render(" --out " + dir_.file("y.png") + " --display " + state, &code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("channel 0: gamma 1e+300 is outside the accepted range 0.05 to 10"), std::string::npos) << out;

  DisplaySettings d;
  d.channels.push_back(ChannelDisplay{});
  for (float g : {0.04f, 10.5f, std::numeric_limits<float>::infinity(), std::nanf("")}) {
    d.channels[0].gamma = g;
    Status s = d.validate(1);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << g;
    EXPECT_NE(s.message().find("is outside the accepted range 0.05 to 10"), std::string::npos) << s.to_string();
  }
  d.channels[0].gamma = 10;
  EXPECT_TRUE(d.validate(1).ok());
}

TEST_F(CliRenderTest, MissingLayerWarnsAndComputesIt) {
  int code = 0;
  std::string out = render("--out " + dir_.file("l.png") + " --size 100x80 --layer 8", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("warning: "), std::string::npos) << out;
  EXPECT_NE(out.find("zoom layer 3 (factor 8) is not stored"), std::string::npos) << out;
}

TEST_F(CliRenderTest, WithoutGlTheMessageSaysWhatToInstall) {
  // Only the NVIDIA device path allowed: on a machine without one there is no GL.
  setenv("VSLIDE_EGL", "device", 1);
  auto ctx = GlContext::create();
  unsetenv("VSLIDE_EGL");
  if (ctx.ok() && (*ctx)->renderer().find("NVIDIA") != std::string::npos)
    GTEST_SKIP() << "an NVIDIA GPU is present";
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(ctx.status().message().find("install"), std::string::npos) << ctx.status().message();
  auto r = run_command("VSLIDE_EGL=device " + vslide_binary() + " render " + slide_ + " --out " +
                       dir_.file("n.png"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("libegl-mesa0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--cpu"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace vslide::view
