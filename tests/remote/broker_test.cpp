// Dealers behind a broker: load balancing, and a dealer killed mid-request.
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <thread>

#include <gtest/gtest.h>

#include "remote_fixture.h"
#include "vslide/remote/broker.h"
#include "vslide/remote/curve.h"
#include "vslide/remote/protocol.h"

extern char** environ;

namespace vslide {
namespace {

using remote::RemoteSlide;
using testing::TempDir;

// A `vslide serve` child process, killed (SIGKILL) when destroyed.
class DealerProcess {
 public:
  DealerProcess(const std::vector<std::string>& args) {
    std::vector<std::string> all = {testing::vslide_binary(), "serve"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
  }
  ~DealerProcess() { kill_now(); }
  pid_t pid() const { return pid_; }
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

bool wait_for_dealers(const remote::Broker& broker, size_t n, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    if (broker.status()["dealers"].get<size_t>() == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::unique_ptr<remote::Broker> start_broker() {
  remote::BrokerOptions o;
  o.frontend = "tcp://127.0.0.1:*";
  o.backend = "tcp://127.0.0.1:*";
  o.heartbeat_ms = 100;
  o.heartbeat_liveness = 5;
  o.log = [](const std::string&) {};
  auto b = remote::Broker::start(o);
  EXPECT_TRUE(b.ok()) << b.status().to_string();
  return b.ok() ? std::move(b).value() : nullptr;
}

TEST(RemoteBroker, TwoDealersShareTheLoadBitExact) {
  TempDir dir;
  auto path = testing::make_remote_test_slide(dir);
  auto broker = start_broker();
  ASSERT_NE(broker, nullptr);
  remote::TileServerOptions o;
  o.connect = broker->backend_endpoint();
  o.heartbeat_ms = 100;
  o.workers = 1;
  auto a = testing::start_test_server({path}, o);
  auto b = testing::start_test_server({path}, o);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(wait_for_dealers(*broker, 2, 5000));

  auto remote = RemoteSlide::open(broker->frontend_endpoint() + "/vs-remote-0001");
  ASSERT_TRUE(remote.ok()) << remote.status().to_string();
  auto local = Hdf5Slide::open(path);
  const auto keys = testing::all_keys((*local)->geometry(), true);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (const auto& k : keys) {
        auto r = (*remote)->read(k);
        auto l = (*local)->read(k);
        if (r.ok() != l.ok() || (r.ok() && !(*r == *l))) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  // Both dealers took part.
  EXPECT_GT(a->status()["requests"].get<uint64_t>(), 0u);
  EXPECT_GT(b->status()["requests"].get<uint64_t>(), 0u);
}

class DealerKilled : public ::testing::TestWithParam<int> {};

// With one request per tile, and with the tile streamed in the most parts (the
// client's default for large tiles; here forced for the small test tiles).
TEST_P(DealerKilled, MidRequestIsAnsweredByAnother) {
  TempDir dir;
  auto path = testing::make_remote_test_slide(dir);
  auto broker = start_broker();
  ASSERT_NE(broker, nullptr);
  // A slow first dealer: it holds every request 1.5 s.
  DealerProcess slow({path, "--connect", broker->backend_endpoint(), "--heartbeat-ms", "100", "--delay-ms", "1500"});
  ASSERT_GT(slow.pid(), 0);
  ASSERT_TRUE(wait_for_dealers(*broker, 1, 10000)) << "dealer process did not join";

  remote::RemoteSlideOptions opt;
  opt.timeout_ms = 6000;
  opt.tile_parts = GetParam();
  opt.stream_min_bytes = 0;
  auto remote = RemoteSlide::open(broker->frontend_endpoint() + "/vs-remote-0001", opt);
  ASSERT_TRUE(remote.ok()) << remote.status().to_string();
  const TileKey key{1, 1, 1, 0, 0, 0};
  Result<Image16> result = Status::internal("not run");
  std::thread client([&] { result = (*remote)->read(key); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the request now sits in the slow dealer
  slow.kill_now();
  DealerProcess other({path, "--connect", broker->backend_endpoint(), "--heartbeat-ms", "100"});
  client.join();
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  auto local = Hdf5Slide::open(path);
  EXPECT_TRUE(*result == *(*local)->read(key));
  EXPECT_GE(broker->status()["redispatched"].get<uint64_t>(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Parts, DealerKilled, ::testing::Values(1, remote::kMaxTileParts),
                         [](const ::testing::TestParamInfo<int>& i) { return "Parts" + std::to_string(i.param); });

TEST(RemoteBroker, CurveOnTheFrontendAdmitsAuthorisedClientsOnly) {
  TempDir dir;
  testing::RemoteSlideSpec spec;
  spec.with_layers = false;
  spec.with_level1 = false;
  auto path = testing::make_remote_test_slide(dir, spec);
  auto broker_keys = remote::generate_curve_keypair();
  auto client_keys = remote::generate_curve_keypair();
  auto stranger_keys = remote::generate_curve_keypair();
  ASSERT_TRUE(broker_keys.ok() && client_keys.ok() && stranger_keys.ok());
  std::filesystem::create_directory(dir.path() / "authorized");
  ASSERT_TRUE(remote::write_key_files(*broker_keys, dir.file("broker")).ok());
  ASSERT_TRUE(remote::write_key_files(*client_keys, dir.file("authorized/client")).ok());
  std::atomic<int> refusals{0};
  remote::BrokerOptions o;
  o.frontend = "tcp://127.0.0.1:*";
  // A Unix socket backend (local dealers only): a plaintext TCP backend behind a CURVE
  // frontend is refused (HostilePeer.BrokerBackendAdmitsOnlyAuthorisedDealers covers CURVE there).
  o.backend = "ipc://" + dir.file("backend.sock");
  o.curve_secret_key_file = dir.file("broker.key_secret");
  o.authorized_keys_dir = (dir.path() / "authorized").string();
  o.log = [&](const std::string& line) { if (line.find("refused") != std::string::npos) ++refusals; };
  auto broker = remote::Broker::start(o);
  ASSERT_TRUE(broker.ok()) << broker.status().to_string();
  remote::TileServerOptions so;
  so.connect = (*broker)->backend_endpoint();
  auto dealer = testing::start_test_server({path}, so);
  ASSERT_NE(dealer, nullptr);
  ASSERT_TRUE(wait_for_dealers(**broker, 1, 5000));

  const std::string url = (*broker)->frontend_endpoint() + "/" + spec.id;
  remote::RemoteSlideOptions good;
  good.server_public_key = broker_keys->public_key;
  good.client_public_key = client_keys->public_key;
  good.client_secret_key = client_keys->secret_key;
  auto client = RemoteSlide::open(url, good);
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  EXPECT_TRUE((*client)->read(TileKey{0, 1, 0, 0, 0, 0}).ok());

  remote::RemoteSlideOptions bad = good;
  bad.client_public_key = stranger_keys->public_key;
  bad.client_secret_key = stranger_keys->secret_key;
  bad.timeout_ms = 300;
  bad.retries = 0;
  EXPECT_EQ(RemoteSlide::open(url, bad).status().code(), StatusCode::kUnavailable);
  EXPECT_GE(refusals.load(), 1);
}

}  // namespace
}  // namespace vslide
