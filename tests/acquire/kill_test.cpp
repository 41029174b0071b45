// SIGKILL each process of the pipeline at random moments over several seeds;
// then every acknowledged plane must be in the finished file, bit-exact.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "harness.h"
#include "vslide/acquire/scan_dir.h"
#include "vslide/catalog/catalog.h"

namespace vslide::testing {
namespace {

enum class Victim { kScanner, kWriter, kManager };

void run_kill(Victim victim, uint64_t seed) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("data"));
  ManagerFixture m(dir.file("data"));
  m.start();
  ASSERT_TRUE(m.status().ok()) << read_text(m.log);
  ScanConfig c = small_scan(seed, 4, 5, 2);  // 40 planes
  std::string ack = dir.file("ack.log");
  auto args = scan_args(m.endpoint, c);
  for (std::string a : {"--fps", "40", "--ack-log", ack.c_str(), "--reply-timeout", "1"}) args.push_back(a);
  auto scan = std::make_unique<Proc>(args, dir.file("scan.log"));
  std::string id = wait_slide_id(m, 10);
  ASSERT_FALSE(id.empty()) << read_text(dir.file("scan.log")) << read_text(m.log);

  std::mt19937_64 rng(seed);
  double delay = std::uniform_real_distribution<double>(0.05, 0.7)(rng);
  std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  SCOPED_TRACE("seed " + std::to_string(seed) + ", kill after " + std::to_string(delay) + " s");

  // A kill test that killed nothing must fail, not pass.
  switch (victim) {
    case Victim::kScanner: {
      ASSERT_TRUE(scan->running()) << "the scan ended before the kill";
      scan->kill9();
      size_t before = read_ack_log(ack).size();
      auto resume_args = args;
      resume_args.push_back("--resume");
      resume_args.push_back(id);
      Proc resumed(resume_args, dir.file("scan.log"));
      ASSERT_EQ(resumed.wait(60), 0) << read_text(dir.file("scan.log"));
      // The resumed scanner sent only what was missing: no plane acknowledged twice.
      auto keys = read_ack_log(ack);
      std::set<TileKey> unique(keys.begin(), keys.end());
      EXPECT_EQ(unique.size(), keys.size());
      EXPECT_GE(keys.size(), before);
      break;
    }
    case Victim::kWriter: {
      pid_t writer = m.writer_pid();
      ASSERT_GT(writer, 0) << "no writer to kill";
      ASSERT_EQ(::kill(writer, SIGKILL), 0) << "the writer was gone before the kill";
      ASSERT_EQ(scan->wait(60), 0) << read_text(dir.file("scan.log")) << read_text(m.log);
      break;
    }
    case Victim::kManager: {
      ASSERT_TRUE(m.proc_ && m.proc_->running()) << "no manager to kill";
      m.kill9();
      ASSERT_EQ(scan->wait(60), 0) << read_text(dir.file("scan.log"));
      m.start();  // a new manager adopts or cleans up
      ASSERT_TRUE(m.status().ok());
      break;
    }
  }
  auto rec = wait_final(m, id, 30);
  ASSERT_TRUE(rec.ok()) << rec.status().to_string() << read_text(m.log);
  EXPECT_TRUE(rec->state == SlideState::kComplete || rec->state == SlideState::kRecovered)
      << slide_state_name(rec->state);
  auto acked = read_ack_log(ack);
  EXPECT_FALSE(acked.empty());
  EXPECT_EQ(check_planes(rec->path, c, acked), "");
  // The scan was carried to its end: every plane is there.
  EXPECT_EQ(check_planes(rec->path, c, all_keys(c)), "");
  EXPECT_EQ(rec->tile_count, 40);
}

class KillTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(KillTest, Scanner) { run_kill(Victim::kScanner, GetParam()); }
TEST_P(KillTest, Writer) { run_kill(Victim::kWriter, GetParam()); }
TEST_P(KillTest, Manager) { run_kill(Victim::kManager, GetParam()); }

// 3 seeds here; `make durability` runs 20 (VSLIDE_SEEDS).
INSTANTIATE_TEST_SUITE_P(Seeds, KillTest, ::testing::ValuesIn(fault_seeds()));

// Scanner, manager and writer all gone: a new manager recovers the scan from
// its spool and partial file and marks it `recovered`.
TEST(Recovery, RestartedManagerRecoversAnOrphanedScan) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("data"));
  ManagerFixture m(dir.file("data"), {"--recover-wait", "0.5"});
  m.start();
  ScanConfig c = small_scan(5, 4, 5, 2);
  std::string ack = dir.file("ack.log");
  auto args = scan_args(m.endpoint, c);
  for (std::string a : {"--fps", "30", "--ack-log", ack.c_str()}) args.push_back(a);
  Proc scan(args, dir.file("scan.log"));
  std::string id = wait_slide_id(m, 10);
  ASSERT_FALSE(id.empty());
  double deadline = now_s() + 10;
  while (read_ack_log(ack).size() < 10 && now_s() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  scan.kill9();
  m.kill9();
  std::string scan_dir = acquire::scan_dir_for(dir.file("data"), id);
  auto pid = acquire::read_scan_file(scan_dir, "writer.pid");
  ASSERT_TRUE(pid.has_value());
  ::kill(std::stoi(*pid), SIGKILL);
  auto acked = read_ack_log(ack);
  ASSERT_GE(acked.size(), 10u);

  m.start();
  auto rec = wait_final(m, id, 30);
  ASSERT_TRUE(rec.ok()) << rec.status().to_string() << read_text(m.log);
  EXPECT_EQ(rec->state, SlideState::kRecovered);
  EXPECT_GE(rec->tile_count, int64_t(acked.size()));
  EXPECT_EQ(check_planes(rec->path, c, acked), "");
}

// A scanner that vanishes: after the idle timeout the slide is finished as
// failed, with every acknowledged plane in it.
TEST(Recovery, SilentScannerEndsAsFailedWithItsPlanesIntact) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("data"));
  ManagerFixture m(dir.file("data"), {"--idle-timeout", "1.5"});
  m.start();
  ScanConfig c = small_scan(6, 4, 5, 2);
  std::string ack = dir.file("ack.log");
  auto args = scan_args(m.endpoint, c);
  for (std::string a : {"--fps", "30", "--ack-log", ack.c_str()}) args.push_back(a);
  Proc scan(args, dir.file("scan.log"));
  std::string id = wait_slide_id(m, 10);
  ASSERT_FALSE(id.empty());
  double deadline = now_s() + 10;
  while (read_ack_log(ack).size() < 8 && now_s() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  scan.kill9();
  auto rec = wait_final(m, id, 30);
  ASSERT_TRUE(rec.ok()) << rec.status().to_string();
  EXPECT_EQ(rec->state, SlideState::kFailed);
  auto acked = read_ack_log(ack);
  EXPECT_GE(rec->tile_count, int64_t(acked.size()));
  EXPECT_EQ(check_planes(rec->path, c, acked), "");
}

}  // namespace
}  // namespace vslide::testing
