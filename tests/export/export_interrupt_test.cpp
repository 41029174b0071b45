// An export killed midway (SIGKILL, as a crash or a power cut would stop it):
// never a valid-looking OUT, only OUT.partial; an OME-Zarr one is resumed with
// --resume into the very files a run without interruption writes.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/testing.h"

extern char** environ;

namespace vslide::testing {
namespace {

namespace fs = std::filesystem;

// Starts `vslide ARGS...` in the background (output dropped).
pid_t start_vslide(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"/bin/sh", "-c", "exec " + vslide_binary()};
  for (const auto& a : args) all[2] += " " + a;
  all[2] += " >/dev/null 2>&1";
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv.data(), environ), 0);
  return pid;
}

size_t regular_files(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    n += it->is_regular_file(ec) && it->path().extension() != ".tmp";
  }
  return n;
}

// Every file under `dir` (relative path -> bytes).
std::map<std::string, std::string> tree(const fs::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path(), std::ios::binary);
    m[fs::relative(e.path(), dir).string()] = std::string(std::istreambuf_iterator<char>(f), {});
  }
  return m;
}

// Waits until `ready()` or the process ends; then kills it. False when the
// export ended on its own before `ready()` (too fast to interrupt).
template <typename Ready>
bool kill_when(pid_t pid, Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    if (ready()) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return false;
}

class ExportInterruptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    slide_ = dir_->file("s.h5");
    auto r = run_command(vslide_binary() + " simulate " + slide_ +
                         " --rows 3 --cols 3 --channels 2 --tile 1024x1024 --quiet 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static TempDir* dir_;
  static std::string slide_;
};
TempDir* ExportInterruptTest::dir_ = nullptr;
std::string ExportInterruptTest::slide_;

// Small blocks on one worker: hundreds of blocks, so the kill lands midway.
const std::string kSlow = "--tile 64 --shard 128 --threads 1 --levels 3";

TEST_F(ExportInterruptTest, KilledOmeZarrLeavesOnlyPartialAndResumesToTheSameFiles) {
  const std::string out = dir_->file("k.ome.zarr"), partial = out + ".partial";
  const pid_t pid = start_vslide({"export", slide_, out, "--format", "ome-zarr", kSlow, "--json"});
  ASSERT_TRUE(kill_when(pid, [&] { return regular_files(partial) >= 20; }))
      << "the export ended before it could be killed";
  EXPECT_FALSE(fs::exists(out)) << "a killed export left a valid-looking " << out;
  EXPECT_TRUE(fs::exists(partial));
  EXPECT_FALSE(fs::exists(partial + "/zarr.json")) << "the partial folder must be no readable image";
  EXPECT_TRUE(fs::exists(partial + "/vslide-export.json"));

  // Different options: refused, the partial kept.
  auto r = run_command(vslide_binary() + " export " + slide_ + " " + out + " --format ome-zarr " + kSlow +
                       " --compression zstd --resume 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("compression"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(partial));

  r = run_command(vslide_binary() + " export " + slide_ + " " + out + " --format ome-zarr " + kSlow +
                  " --resume --json 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_GT(j["blocks_resumed"].get<int>(), 0) << r.output;
  EXPECT_LT(j["blocks_resumed"].get<int>(), j["blocks"].get<int>()) << r.output;
  EXPECT_FALSE(fs::exists(partial));

  const std::string fresh = dir_->file("fresh.ome.zarr");
  r = run_command(vslide_binary() + " export " + slide_ + " " + fresh + " --format ome-zarr " + kSlow + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto resumed_files = tree(out), fresh_files = tree(fresh);
  EXPECT_EQ(resumed_files.size(), fresh_files.size());
  EXPECT_EQ(resumed_files.count("vslide-export.json"), 0u);
  EXPECT_TRUE(resumed_files == fresh_files) << "the resumed export differs from an uninterrupted one";
}

TEST_F(ExportInterruptTest, KilledOmeTiffLeavesOnlyPartialAndIsStartedAgain) {
  const std::string out = dir_->file("k.ome.tif"), partial = out + ".partial";
  const pid_t pid = start_vslide({"export", slide_, out, kSlow});
  std::error_code ec;
  ASSERT_TRUE(kill_when(pid, [&] { return fs::exists(partial, ec) && fs::file_size(partial, ec) > 200000; }))
      << "the export ended before it could be killed";
  EXPECT_FALSE(fs::exists(out)) << "a killed export left a valid-looking " << out;
  EXPECT_TRUE(fs::exists(partial));

  auto r = run_command(vslide_binary() + " export " + slide_ + " " + out + " " + kSlow + " --resume 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("OME-Zarr only"), std::string::npos) << r.output;
  r = run_command(vslide_binary() + " export " + slide_ + " " + out + " " + kSlow + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_FALSE(fs::exists(partial)) << "the stale partial was not removed";
}

}  // namespace
}  // namespace vslide::testing
