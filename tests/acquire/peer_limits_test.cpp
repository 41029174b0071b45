// The acquisition sockets against peers that are not a well-behaved scanner:
// a cap on concurrent scans, `shutdown` only from the local machine.
#include <gtest/gtest.h>

#include <filesystem>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "harness.h"

namespace vslide::testing {
namespace {

namespace fs = std::filesystem;

TEST(PeerLimits, BeginScanBeyondMaxScansIsRefused) {
  TempDir dir;
  fs::create_directories(dir.file("data"));
  ManagerFixture m(dir.file("data"), {"--max-scans", "1"});
  m.start();
  ScanConfig c = small_scan(21, 4, 5, 2);
  auto args = scan_args(m.endpoint, c);
  args.insert(args.end(), {"--fps", "5"});
  Proc first(args, dir.file("scan1.log"));
  ASSERT_FALSE(wait_slide_id(m, 10).empty());
  auto second = run_command(vslide_binary() + " scan --manager " + m.endpoint +
                            " --simulate --rows 1 --cols 1 --channels 1 --tile 64x64 --quiet");
  EXPECT_NE(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("max-scans"), std::string::npos) << second.output;
  auto s = m.status();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)["scans"].size(), 1u);
}

TEST(PeerLimits, ShutdownIsTakenOnlyFromTheLocalMachine) {
  const std::string address = outside_address();
  if (address.empty()) GTEST_SKIP() << "this machine has no non-loopback IPv4 address";
  TempDir dir;
  fs::create_directories(dir.file("data"));
  const int port = free_port();
  ManagerFixture m(dir.file("data"));
  m.endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  m.extra_args = {"--bind", "tcp://0.0.0.0:" + std::to_string(port)};
  m.start();
  ASSERT_TRUE(m.status().ok()) << read_text(m.log);
  acquire::ScannerOptions so;
  so.manager = "tcp://" + address + ":" + std::to_string(port);
  acquire::ScannerClient remote(so);
  auto r = remote.ask_manager(nlohmann::json{{"type", "shutdown"}}, 5);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)["type"], "error") << r->dump();
  EXPECT_NE(r->dump().find("local machine"), std::string::npos) << r->dump();
  EXPECT_TRUE(m.status().ok()) << "the manager stopped";
  so.manager = m.endpoint;
  acquire::ScannerClient local(so);
  auto ok = local.ask_manager(nlohmann::json{{"type", "shutdown"}}, 5);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)["type"], "ok") << ok->dump();
  EXPECT_EQ(m.proc_->wait(10), 0);
}

}  // namespace
}  // namespace vslide::testing

namespace vslide::acquire {
namespace {

// issue 16: a mistyped --data-dir must not create a path from the root.
TEST(ManagerDataDir, AMissingParentIsRefusedAndNothingIsCreated) {
  vslide::testing::TempDir dir;
  const std::string missing = dir.file("no-such-parent") + "/data";
  const auto r = vslide::testing::run_command(vslide::testing::vslide_binary() +
                                              " manager --bind tcp://127.0.0.1:0 --data-dir " + missing);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("no-such-parent")));
}

}  // namespace
}  // namespace vslide::acquire
