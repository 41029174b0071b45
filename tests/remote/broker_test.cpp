// Dealers behind a broker: load balancing, and a dealer killed mid-request.
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <thread>

#include <gtest/gtest.h>

#include "remote_fixture.h"
#include "vslide/remote/broker.h"

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

TEST(RemoteBroker, DealerKilledMidRequestIsAnsweredByAnother) {
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

}  // namespace
}  // namespace vslide
