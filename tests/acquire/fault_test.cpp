// Fault injection over the whole acquisition pipeline (real processes, real
// files): a disk that fills up at each write site, a power cut, kills that
// take several processes at once, a writer that dies too often, an ack log
// that cannot be written. The oracle is the scanner's own ack log: every
// plane it logged must be in the slide, bit-exact against the simulator.
// 3 seeds here; `make durability` runs 20 (VSLIDE_SEEDS).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <random>
#include <thread>

#include "harness.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::testing {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> with(std::vector<std::string> args, std::initializer_list<std::string> more) {
  args.insert(args.end(), more);
  return args;
}

// Every plane of the scan in the slide, bit-exact, in a finished state;
// `vslide verify` agrees.
void expect_whole(const ManagerFixture& m, const std::string& id, const ScanConfig& c, const std::string& ack) {
  auto rec = wait_final(m, id, 60);
  ASSERT_TRUE(rec.ok()) << rec.status().to_string() << read_text(m.log);
  EXPECT_TRUE(rec->state == SlideState::kComplete || rec->state == SlideState::kRecovered)
      << slide_state_name(rec->state);
  EXPECT_EQ(rec->tile_count, int64_t(all_keys(c).size()));
  EXPECT_EQ(check_planes(rec->path, c, read_ack_log(ack)), "");
  EXPECT_EQ(check_planes(rec->path, c, all_keys(c)), "");
  auto verify = run_command(vslide_binary() + " verify " + rec->path);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST(ScannerFaults, AnAckLogThatCannotBeWrittenFailsAtStart) {
  TempDir dir;
  fs::create_directories(dir.file("data"));
  ManagerFixture m(dir.file("data"));
  m.start();
  auto r = run_command(vslide_binary() + " scan --manager " + m.endpoint +
                       " --simulate --rows 2 --cols 2 --channels 1 --tile 64x64 --quiet --ack-log " +
                       dir.file("no/such/folder/ack.log"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ack log"), std::string::npos) << r.output;
  EXPECT_TRUE(m.slide_id().empty()) << "a scan was begun";
}

// Disk full at one write site ("" = anywhere): the scanner stops with a
// clear error and nothing unstored acknowledged; once space is freed,
// `scan --resume` completes the slide with every plane.
void run_disk_full(const std::string& site, uint64_t seed) {
  TempDir dir;
  const std::string root = dir.file("disk");
  FaultFs disk(root, dir.file("faultfs"));
  fs::create_directories(root + "/data");
  ManagerFixture m(root + "/data", {"--spool-max-mb", "1"});
  m.env = disk.env(site);
  m.start();
  ASSERT_TRUE(m.status().ok()) << read_text(m.log);
  std::mt19937_64 rng(seed * 31 + site.size());
  const int64_t room = site == "catalog" ? 4096 : 1 << 20;
  const int64_t budget = std::uniform_int_distribution<int64_t>(0, room)(rng);
  disk.set_free(budget);
  SCOPED_TRACE("site '" + site + "', seed " + std::to_string(seed) + ", " + std::to_string(budget) + " bytes free");

  ScanConfig c = small_scan(seed, 4, 5, 2);  // 40 planes, about 2.5 MB in the file
  const std::string ack = dir.file("ack.log");
  auto args = with(scan_args(m.endpoint, c),
                   {"--ack-log", ack, "--stall-timeout", "2", "--reply-timeout", "1", "--reconnect-timeout", "3"});
  Proc scan(args, dir.file("scan.log"));
  const int rc = scan.wait(120);
  const std::string out = read_text(dir.file("scan.log"));
  std::string id = m.slide_id();
  if (rc != 0) {
    EXPECT_NE(rc, -1) << "the scanner hung on a full disk: " << out;
    EXPECT_TRUE(out.find("missing") != std::string::npos || out.find("space") != std::string::npos ||
                out.find("full") != std::string::npos)
        << "no clear error: " << out;
    // Every plane acknowledged so far is stored, even before space is freed.
    if (!id.empty()) {
      EXPECT_FALSE(read_text(m.data_dir + "/.scans/" + id + "/writer.log").empty());
    }
    disk.set_free(-1);
    auto again = id.empty() ? args : with(args, {"--resume", id});
    Proc resumed(again, dir.file("scan.log"));
    ASSERT_EQ(resumed.wait(120), 0) << read_text(dir.file("scan.log")) << read_text(m.log);
    if (id.empty()) id = read_text(dir.file("scan.log")).empty() ? "" : m.slide_id();
  }
  if (id.empty()) {
    // begin_scan itself was refused (catalog or scan folder full): find the slide made after space was freed.
    auto cat = open_catalog(m.catalog);
    ASSERT_TRUE(cat.ok());
    auto all = (*cat)->list();
    ASSERT_TRUE(all.ok() && !all->empty());
    id = all->back().id;
  }
  expect_whole(m, id, c, ack);
}

class DiskFull : public ::testing::TestWithParam<uint64_t> {};
TEST_P(DiskFull, Anywhere) { run_disk_full("", GetParam()); }
TEST_P(DiskFull, Spool) { run_disk_full("spool-", GetParam()); }
TEST_P(DiskFull, SlideFile) { run_disk_full(".h5", GetParam()); }
TEST_P(DiskFull, Catalog) { run_disk_full("catalog", GetParam()); }
INSTANTIATE_TEST_SUITE_P(Seeds, DiskFull, ::testing::ValuesIn(fault_seeds()));

// A power cut during a scan with --durability power: every process dies and
// whatever was not fsynced is gone. Every acknowledged plane must be in the
// recovered slide, and the resumed scan completes it.
void run_power_cut(uint64_t seed) {
  TempDir dir;
  const std::string root = dir.file("disk");
  fs::create_directories(root + "/data");
  FaultFs disk(root, dir.file("faultfs"));
  ManagerFixture m(root + "/data", {"--durability", "power", "--recover-wait", "20", "--spool-max-mb", "2"});
  m.env = disk.env();
  m.start();
  ASSERT_TRUE(m.status().ok()) << read_text(m.log);
  ScanConfig c = small_scan(seed, 4, 5, 2);
  const std::string ack = dir.file("ack.log");
  auto args = with(scan_args(m.endpoint, c), {"--fps", "60", "--ack-log", ack, "--reply-timeout", "1"});
  auto scan = std::make_unique<Proc>(args, dir.file("scan.log"));
  std::string id = wait_slide_id(m, 10);
  ASSERT_FALSE(id.empty()) << read_text(dir.file("scan.log")) << read_text(m.log);
  std::mt19937_64 rng(seed);
  const size_t cut_after = std::uniform_int_distribution<size_t>(1, 36)(rng);
  SCOPED_TRACE("seed " + std::to_string(seed) + ", power cut after " + std::to_string(cut_after) + " acks");
  ASSERT_GE(wait_acks(ack, cut_after, 30), cut_after) << read_text(dir.file("scan.log"));

  // The cut: the writer first (nothing is stored after this), then the rest.
  pid_t writer = m.writer_pid();
  ASSERT_GT(writer, 0) << "no writer to cut";
  ASSERT_EQ(::kill(writer, SIGKILL), 0);
  ASSERT_TRUE(scan->running()) << "the scan ended before the power cut";
  scan->kill9();
  m.kill9();
  for (int i = 0; i < 100 && ::kill(writer, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const size_t acked = read_ack_log(ack).size();
  std::string lost = disk.power_cut();
  SCOPED_TRACE("lost in the cut:" + lost + "; " + std::to_string(acked) + " planes acknowledged");

  m.env.clear();
  m.start();
  ASSERT_TRUE(m.status().ok()) << read_text(m.log);
  Proc resumed(with(args, {"--resume", id}), dir.file("scan.log"));
  EXPECT_EQ(resumed.wait(90), 0) << read_text(dir.file("scan.log")) << read_text(m.log);
  expect_whole(m, id, c, ack);
}

class PowerCut : public ::testing::TestWithParam<uint64_t> {};
TEST_P(PowerCut, EveryAcknowledgedPlaneSurvives) { run_power_cut(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Seeds, PowerCut, ::testing::ValuesIn(fault_seeds()));

// Writer and manager killed together while the scanner runs: the new
// manager's recovering writer takes the scanner's remaining planes (the old
// one finished the slide at once and the scanner exited 0 with a fraction).
TEST(Recovery, WriterAndManagerKilledTogetherTheScanStillGetsEveryPlane) {
  TempDir dir;
  fs::create_directories(dir.file("data"));
  ManagerFixture m(dir.file("data"), {"--recover-wait", "20"});
  m.start();
  ScanConfig c = small_scan(11, 4, 5, 2);
  const std::string ack = dir.file("ack.log");
  auto args = with(scan_args(m.endpoint, c), {"--fps", "40", "--ack-log", ack, "--reply-timeout", "1"});
  Proc scan(args, dir.file("scan.log"));
  std::string id = wait_slide_id(m, 10);
  ASSERT_FALSE(id.empty());
  wait_acks(ack, 8, 10);
  pid_t writer = m.writer_pid();
  ASSERT_GT(writer, 0);
  ASSERT_EQ(::kill(writer, SIGKILL), 0);
  m.kill9();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  m.start();
  EXPECT_EQ(scan.wait(90), 0) << read_text(dir.file("scan.log")) << read_text(m.log);
  expect_whole(m, id, c, ack);
}

// A writer that dies more often than --max-restarts: the slide is finished
// as failed (a file that opens, with every acknowledged plane), and the
// scanner exits non-zero saying how many planes are missing.
TEST(Recovery, AWriterDyingTooOftenFailsTheScanLoudlyWithAReadableFile) {
  TempDir dir;
  fs::create_directories(dir.file("data"));
  ManagerFixture m(dir.file("data"), {"--max-restarts", "1"});
  m.start();
  ScanConfig c = small_scan(12, 4, 5, 2);
  const std::string ack = dir.file("ack.log");
  auto args = with(scan_args(m.endpoint, c), {"--fps", "10", "--ack-log", ack, "--reply-timeout", "1",
                                               "--reconnect-timeout", "15"});
  Proc scan(args, dir.file("scan.log"));
  std::string id = wait_slide_id(m, 10);
  ASSERT_FALSE(id.empty());
  for (int kill = 0; kill < 2; ++kill) {
    wait_acks(ack, size_t(3 + 3 * kill), 20);
    pid_t writer = -1;
    for (int i = 0; i < 200 && writer <= 0; ++i) {
      auto s = m.status();
      if (s.ok() && !(*s)["scans"].empty() && (*s)["scans"][0]["restarts"] == kill) writer = m.writer_pid();
      if (writer <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_GT(writer, 0) << "kill " << kill << ": no writer";
    ASSERT_EQ(::kill(writer, SIGKILL), 0);
  }
  const int rc = scan.wait(90);
  const std::string out = read_text(dir.file("scan.log"));
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("missing"), std::string::npos) << out;
  auto rec = wait_final(m, id, 30);
  ASSERT_TRUE(rec.ok()) << rec.status().to_string() << read_text(m.log);
  EXPECT_EQ(rec->state, SlideState::kFailed);
  auto slide = Hdf5Slide::open(rec->path, OpenMode::kRead);
  ASSERT_TRUE(slide.ok()) << slide.status().to_string();
  EXPECT_EQ((*slide)->state(), SlideState::kFailed);
  EXPECT_EQ(check_planes(rec->path, c, read_ack_log(ack)), "");
}

}  // namespace
}  // namespace vslide::testing
