// A real `vslide view` process under Xvfb, driven from outside with
// ordinary X input (xdotool, through the XTEST extension): a drag pans, keys
// zoom and toggle the tile outlines, Ctrl+Q quits with exit code 0 and the
// view state it wrote on quit shows every input took effect.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "app_fixture.h"
#include "vslide/view/view_state.h"

extern char** environ;

namespace vslide::app {
namespace {

using namespace vslide::app::testing;
using Clock = std::chrono::steady_clock;

bool wait_for_file(const std::string& path, int seconds) {
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < end) {
    if (std::filesystem::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string xdo(const std::string& args) {
  auto r = vslide::testing::run_command("timeout 20 xdotool " + args + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << "xdotool " << args << ": " << r.output;
  return r.output;
}

TEST(ViewProcessTest, RespondsToXInputAndQuitsCleanlyOnCtrlQ) {
  std::string why;
  if (!ensure_app(&why)) GTEST_SKIP() << "no X server: " << why;
  ASSERT_EQ(vslide::testing::run_command("command -v xdotool").exit_code, 0)
      << "xdotool is not installed (scripts/install-deps.sh installs it)";
  vslide::testing::TempDir dir;
  const std::string slide = dir.file("slide.h5"), ready = dir.file("ready.json"), out = dir.file("state.json");
  write_scan(small_scan(3, 1), slide);
  const std::string display_dir = dir.file("display");
  setenv("VSLIDE_DISPLAY_DIR", display_dir.c_str(), 1);
  std::vector<std::string> args = {vslide::testing::vslide_binary(), "view", slide, "--size", "1280x800",
                                   "--ready-file", ready, "--state-out", out};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  auto kill_on_failure = [&] { kill(pid, SIGKILL); waitpid(pid, nullptr, 0); };

  if (!wait_for_file(ready, 40)) {
    kill_on_failure();
    FAIL() << "the window showed no complete frame within 40 s";
  }
  auto fitted = view::load_view_state(ready);
  ASSERT_TRUE(fitted.ok()) << fitted.status().to_string();
  std::string wid = xdo("search --sync --onlyvisible --pid " + std::to_string(pid) + " --name vslide");
  wid = wid.substr(0, wid.find('\n'));
  ASSERT_FALSE(wid.empty());
  // Where the canvas is: the window's geometry (no window manager: at 0,0).
  xdo("windowfocus --sync " + wid);
  // A drag of 120 px to the left and 40 up on the canvas (top-left area of the window).
  xdo("mousemove --window " + wid + " 300 300 mousedown 1 mousemove --window " + wid +
      " 240 280 mousemove --window " + wid + " 180 260 mouseup 1");
  xdo("key --delay 60 plus plus t");
  if (const char* shots = std::getenv("VSLIDE_SCREENSHOT_DIR")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    vslide::testing::run_command(std::string("import -window root ") + shots + "/viewer-window.png");
  }
  xdo("key ctrl+q");
  int status = 0;
  const auto end = Clock::now() + std::chrono::seconds(20);
  pid_t done = 0;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && Clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (done != pid) {
    kill_on_failure();
    FAIL() << "vslide view did not quit on Ctrl+Q";
  }
  ASSERT_TRUE(WIFEXITED(status)) << "vslide view died: status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);

  auto final_state = view::load_view_state(out);
  ASSERT_TRUE(final_state.ok()) << final_state.status().to_string();
  const double z0 = fitted->zoom, ppu = z0 / 0.1625;
  EXPECT_NEAR(final_state->zoom, z0 * 2, z0 * 1e-9) << "two + keys: x2";
  EXPECT_NEAR(final_state->center_x_um, fitted->center_x_um + 120 / ppu, 2 / ppu) << "the drag panned";
  EXPECT_NEAR(final_state->center_y_um, fitted->center_y_um + 40 / ppu, 2 / ppu);
  EXPECT_TRUE(final_state->tile_outlines) << "T toggled the outlines";
  // The display settings were saved for the slide on quit.
  EXPECT_TRUE(std::filesystem::exists(view::display_settings_path(final_state->slide_id)));
}

}  // namespace
}  // namespace vslide::app
