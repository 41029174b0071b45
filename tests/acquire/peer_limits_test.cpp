// The acquisition sockets against peers that are not a well-behaved scanner:
// a cap on concurrent scans, `shutdown` only from the local machine.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <atomic>
#include <thread>

#include "harness.h"
#include "vslide/acquire/scan_dir.h"

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

// ZMQ_MAXMSGSIZE on the manager: a frame over 1 MiB drops the connection
// unread; the manager goes on serving.
TEST(PeerLimits, TheManagerReadsNoFrameOverOneMiB) {
  TempDir dir;
  fs::create_directories(dir.file("data"));
  ManagerFixture m(dir.file("data"));
  m.start();
  zmq::context_t ctx;
  zmq::socket_t peer(ctx, zmq::socket_type::dealer);
  peer.set(zmq::sockopt::linger, 0);
  peer.connect(m.endpoint);
  std::vector<zmq::message_t> parts;
  parts.emplace_back();
  parts.emplace_back(R"({"type":"status","pad":")" + std::string(2 << 20, 'x') + "\"}");
  ASSERT_TRUE(zmq::send_multipart(peer, parts));
  zmq::pollitem_t item{peer.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(1000));
  EXPECT_FALSE(item.revents & ZMQ_POLLIN) << "the manager answered a 2 MiB frame";
  EXPECT_TRUE(m.status().ok()) << read_text(m.log);
}

// ZMQ_MAXMSGSIZE on the scanner's sockets: a manager (or proxy) that answers
// with a huge frame is not read in; the request fails instead.
TEST(PeerLimits, TheScannerReadsNoReplyFrameOverItsLimit) {
  zmq::context_t ctx;
  zmq::socket_t fake(ctx, zmq::socket_type::router);
  fake.set(zmq::sockopt::linger, 0);
  fake.bind("tcp://127.0.0.1:*");
  const std::string endpoint = fake.get(zmq::sockopt::last_endpoint);
  std::atomic<bool> stop{false};
  std::thread server([&] {
    while (!stop) {
      zmq::pollitem_t item{fake.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> in;
      if (!zmq::recv_multipart(fake, std::back_inserter(in))) continue;
      std::vector<zmq::message_t> out;
      for (size_t i = 0; i + 1 < in.size(); ++i) out.push_back(std::move(in[i]));
      out.emplace_back(R"({"type":"status","pad":")" + std::string(3 << 20, 'x') + "\"}");
      (void)zmq::send_multipart(fake, out, zmq::send_flags::dontwait);
    }
  });
  acquire::ScannerOptions so;
  so.manager = endpoint;
  acquire::ScannerClient client(so);
  auto r = client.ask_manager(nlohmann::json{{"type", "status"}}, 1.5);
  stop = true;
  server.join();
  EXPECT_FALSE(r.ok()) << "a 3 MiB reply was read in";
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().to_string();
}

}  // namespace
}  // namespace vslide::testing

namespace vslide::acquire {
namespace {

// issue 16: a mistyped --data-dir must not create a path from the root.
TEST(ManagerDataDir, ScanSettingsWithTheCatalogPasswordAreTheOwnersOnly) {
  // Found auditing issue 16 on 1d55ca3: every scan's scan.json (0644, in a
  // 0755 folder) held the --catalog URL, a postgresql:// password included.
  vslide::testing::TempDir dir;
  const std::string scan_dir = dir.file("data/.scans/vs-1");
  ScanSettings s;
  s.slide_id = "vs-1";
  s.catalog_url = "postgresql://alice:s3cret@db.example/slides";
  ASSERT_TRUE(write_scan_settings(scan_dir, s).ok());
  struct stat st {};
  ASSERT_EQ(::stat((scan_dir + "/scan.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(write_scan_file(scan_dir, "proxy.endpoint", "tcp://127.0.0.1:5000").ok());
  ASSERT_EQ(::stat((scan_dir + "/proxy.endpoint").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The writer needs the URL whole (it opens the catalog itself): it is in the file.
  auto text = read_scan_file(scan_dir, "scan.json");
  ASSERT_TRUE(text.has_value());
  EXPECT_NE(text->find(s.catalog_url), std::string::npos);
}

TEST(ManagerDataDir, AMissingParentIsRefusedAndNothingIsCreated) {
  vslide::testing::TempDir dir;
  const std::string missing = dir.file("no-such-parent") + "/data";
  const auto r = vslide::testing::run_command(vslide::testing::vslide_binary() +
                                              " manager --bind tcp://127.0.0.1:0 --data-dir " + missing);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("no-such-parent")));
}

TEST(ManagerDataDir, AMissingSpoolParentIsRefusedAndNothingIsCreated) {
  // Found auditing issue 16 on 1d55ca3: --spool-dir /x/y/z was taken, and the
  // first scan created the whole path from the root.
  vslide::testing::TempDir dir;
  const std::string missing = dir.file("no-such-parent") + "/x/spool";
  const auto r = vslide::testing::run_command("timeout 10 " + vslide::testing::vslide_binary() +
                                              " manager --bind tcp://127.0.0.1:0 --data-dir " + dir.file("data") +
                                              " --spool-dir " + missing + " 2>&1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("spool folder"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("no-such-parent")));
}

}  // namespace
}  // namespace vslide::acquire
