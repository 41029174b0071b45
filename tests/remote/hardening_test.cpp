// Malformed input against a live server while a well-behaved client is
// served beside it; CURVE admission.
#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <zmq_addon.hpp>

#include "remote_fixture.h"
#include "vslide/remote/curve.h"
#include "vslide/remote/protocol.h"

namespace vslide {
namespace {

using nlohmann::json;
using remote::RemoteSlide;
using testing::TempDir;

// One malformed request of kind `i % kKinds`, as frames after the DEALER's own envelope.
std::vector<std::string> malformed_request(int i, std::mt19937& rng, const std::string& slide) {
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = char(rng());
    return s;
  };
  const std::string good_key = R"({"row":0,"col":0})";
  switch (i % 16) {
    case 0: return {random_bytes(1 + rng() % 200)};                         // no delimiter
    case 1: return {"", random_bytes(1 + rng() % 200)};                     // not JSON
    case 2: return {""};                                                    // truncated multipart
    case 3: return {"", R"({"v":1,"op":"tile","slide":")" + slide + R"(","key":)"};  // truncated JSON
    case 4: return {"", R"({"v":1,"op":"tile","slide":")" + slide + R"(","key":)" + good_key + "}", "extra"};
    case 5: return {"", R"({"v":1,"op":"tiles","slide":")" + slide + R"(","keys":[)" +
                            [&] { std::string k; for (int j = 0; j < 65; ++j) k += (j ? "," : "") + good_key; return k; }() + "]}"};
    case 6: return {"", R"({"v":1,"op":"tile","slide":")" + slide + R"(","key":{"row":2147483647,"col":2147483647}})"};
    case 7: return {"", R"({"v":1,"op":"tile","slide":")" + slide + R"(","key":{"row":1e300,"col":0}})"};
    case 8: return {"", R"({"v":1,"op":5})"};
    case 9: return {"", R"({"v":1,"op":"tile","slide":[],"key":{}})"};
    case 10: return {"", R"({"v":1,"op":"tile","slide":")" + slide + R"(","key":"0,0"})"};
    case 11: return {"", (i % 32 < 16) ? R"({"v":99,"op":"status"})" : R"({"v":"1","op":"status"})"};
    case 12: return {"", R"({"v":1,"op":"drop_tables_)" + std::to_string(rng() % 1000) + R"("})"};
    case 13: return {"", R"({"v":1,"op":"overview","slide":")" + slide + R"(","channel":-9223372036854775807})"};
    case 14: return {"", R"([1,2,3])"};
    default: return {"", R"({"v":1,"id":-4,"op":"status"})"};
  }
}

TEST(RemoteHardening, FuzzedRequestsGetErrorRepliesWhileAGoodClientIsServed) {
  TempDir dir;
  testing::RemoteSlideSpec spec;
  spec.with_layers = false;
  auto path = testing::make_remote_test_slide(dir, spec);
  auto local = Hdf5Slide::open(path);
  ASSERT_TRUE(local.ok());
  auto server = testing::start_test_server({path});
  ASSERT_NE(server, nullptr);

  // The well-behaved client.
  std::atomic<bool> stop{false};
  std::atomic<int> good_ok{0}, good_bad{0};
  std::thread good([&] {
    auto remote = RemoteSlide::open(server->endpoint() + "/" + spec.id);
    if (!remote.ok()) {
      ++good_bad;
      return;
    }
    const auto expected = (*local)->read(TileKey{0, 1, 1, 0, 0, 0});
    while (!stop) {
      auto img = (*remote)->read(TileKey{0, 1, 1, 0, 0, 0});
      (img.ok() && *img == *expected) ? ++good_ok : ++good_bad;
    }
  });

  zmq::context_t ctx;
  std::mt19937 rng(1234);
  constexpr int kRequests = 3200;
  int replied = 0;
  std::set<std::string> codes;
  for (int sock_round = 0; sock_round < 4; ++sock_round) {
    zmq::socket_t sock(ctx, zmq::socket_type::dealer);
    sock.set(zmq::sockopt::linger, 0);
    sock.connect(server->endpoint());
    for (int i = 0; i < kRequests / 4; ++i) {
      auto frames = malformed_request(i, rng, spec.id);
      for (size_t f = 0; f < frames.size(); ++f) {
        sock.send(zmq::buffer(frames[f]), f + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
      zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
      ASSERT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(5000)), 1) << "no reply to malformed request kind " << i % 16;
      std::vector<zmq::message_t> reply;
      ASSERT_TRUE(zmq::recv_multipart(sock, std::back_inserter(reply)));
      ASSERT_EQ(reply.size(), 2u) << "kind " << i % 16;
      EXPECT_EQ(reply[0].size(), 0u);
      auto j = json::parse(reply[1].to_string(), nullptr, false);
      ASSERT_TRUE(j.is_object()) << reply[1].to_string();
      EXPECT_EQ(j["ok"], false) << "kind " << i % 16 << ": " << j.dump();
      codes.insert(j["error"]["code"].get<std::string>());
      ++replied;
    }
  }
  // A frame over the size limit: the server drops that connection, nothing more.
  {
    zmq::socket_t big(ctx, zmq::socket_type::dealer);
    big.set(zmq::sockopt::linger, 0);
    big.connect(server->endpoint());
    std::string huge(size_t(remote::kMaxRequestBytes) * 4, 'x');
    big.send(zmq::message_t(), zmq::send_flags::sndmore);
    big.send(zmq::buffer(huge));
    zmq::pollitem_t item{big.handle(), 0, ZMQ_POLLIN, 0};
    EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(300)), 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  good.join();
  EXPECT_EQ(replied, kRequests);
  EXPECT_TRUE(codes.count("malformed_request"));
  EXPECT_TRUE(codes.count("unknown_op"));
  EXPECT_TRUE(codes.count("out_of_range"));
  EXPECT_TRUE(codes.count("version_mismatch"));
  EXPECT_EQ(codes.count("internal"), 0u);
  EXPECT_EQ(good_bad.load(), 0);
  EXPECT_GT(good_ok.load(), 10);
  // And the server still answers.
  auto after = RemoteSlide::open(server->endpoint() + "/" + spec.id);
  ASSERT_TRUE(after.ok()) << after.status().to_string();
}

// Log lines a server writes (from its own threads), kept for the test.
struct CapturedLog {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) {
      std::lock_guard lock(mutex);
      lines.push_back(line);
    };
  }
  // Lines holding both texts.
  size_t count(const std::string& a, const std::string& b = "") {
    std::lock_guard lock(mutex);
    size_t n = 0;
    for (const auto& line : lines) n += line.find(a) != std::string::npos && line.find(b) != std::string::npos;
    return n;
  }
};

// A CURVE server's options: key pair DIR/server.key_secret, authorised keys in DIR/authorized.
remote::TileServerOptions curve_options(const TempDir& dir, CapturedLog& log) {
  remote::TileServerOptions options;
  options.curve_secret_key_file = dir.file("server.key_secret");
  options.authorized_keys_dir = (dir.path() / "authorized").string();
  options.log = log.sink();
  return options;
}

TEST(RemoteHardening, CurveAdmitsAuthorisedClientsOnly) {
  TempDir dir;
  testing::RemoteSlideSpec spec;
  spec.with_layers = false;
  spec.with_level1 = false;
  auto path = testing::make_remote_test_slide(dir, spec);
  auto server_keys = remote::generate_curve_keypair();
  auto good_keys = remote::generate_curve_keypair();
  auto bad_keys = remote::generate_curve_keypair();
  ASSERT_TRUE(server_keys.ok() && good_keys.ok() && bad_keys.ok());
  std::filesystem::create_directory(dir.path() / "authorized");
  ASSERT_TRUE(remote::write_key_files(*server_keys, dir.file("server")).ok());
  ASSERT_TRUE(remote::write_key_files(*good_keys, dir.file("authorized/alice")).ok());
  std::filesystem::remove(dir.file("authorized/alice.key_secret"));
  auto reread = remote::read_key_file(dir.file("server.key_secret"));
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->secret_key, server_keys->secret_key);

  CapturedLog log;
  auto server = testing::start_test_server({path}, curve_options(dir, log));
  ASSERT_NE(server, nullptr);
  const std::string url = server->endpoint() + "/" + spec.id;

  remote::RemoteSlideOptions good;
  good.server_public_key = server_keys->public_key;
  good.client_public_key = good_keys->public_key;
  good.client_secret_key = good_keys->secret_key;
  auto alice = RemoteSlide::open(url, good);
  ASSERT_TRUE(alice.ok()) << alice.status().to_string();
  auto local = Hdf5Slide::open(path);
  EXPECT_TRUE(*(*alice)->read(TileKey{0, 0, 1, 0, 0, 0}) == *(*local)->read(TileKey{0, 0, 1, 0, 0, 0}));

  remote::RemoteSlideOptions bad = good;
  bad.client_public_key = bad_keys->public_key;
  bad.client_secret_key = bad_keys->secret_key;
  bad.timeout_ms = 300;
  auto mallory = RemoteSlide::open(url, bad);
  ASSERT_FALSE(mallory.ok());
  EXPECT_EQ(mallory.status().code(), StatusCode::kUnavailable);

  remote::RemoteSlideOptions plain;
  plain.timeout_ms = 300;
  plain.retries = 0;
  EXPECT_FALSE(RemoteSlide::open(url, plain).ok());

  EXPECT_EQ(log.count("refused", bad_keys->public_key), 1u) << "no refusal logged for the unauthorised key";
  EXPECT_GE(server->status()["refused_clients"].get<uint64_t>(), 1u);
}

// A peer refused in a loop (a new connection, a new key: they cost nothing)
// used to log a line per handshake: the log is rate-limited, the count is not.
TEST(RemoteHardening, RefusedHandshakesAreCountedEachButLoggedAtMostEveryTenSeconds) {
  TempDir dir;
  testing::RemoteSlideSpec spec;
  spec.with_layers = spec.with_level1 = false;
  auto path = testing::make_remote_test_slide(dir, spec);
  auto server_keys = remote::generate_curve_keypair();
  ASSERT_TRUE(server_keys.ok());
  ASSERT_TRUE(remote::write_key_files(*server_keys, dir.file("server")).ok());
  std::filesystem::create_directory(dir.path() / "authorized");
  CapturedLog log;
  auto server = testing::start_test_server({path}, curve_options(dir, log));
  ASSERT_NE(server, nullptr);
  zmq::context_t ctx;
  std::vector<std::unique_ptr<zmq::socket_t>> peers;
  for (int i = 0; i < 12; ++i) {
    auto keys = remote::generate_curve_keypair();
    ASSERT_TRUE(keys.ok());
    auto s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    s->set(zmq::sockopt::linger, 0);
    ASSERT_TRUE(remote::set_curve_client(*s, *keys, server_keys->public_key).ok());
    s->connect(server->endpoint());
    peers.push_back(std::move(s));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server->status()["refused_clients"].get<uint64_t>() < 12 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server->status()["refused_clients"].get<uint64_t>(), 12u);
  EXPECT_EQ(log.count("refused CURVE client"), 1u) << "one line per refused handshake";
}

// A slide of 512x512 tiles (0.5 MB each), level 0 only, named `id`.
std::string make_big_tile_slide(const TempDir& dir, const std::string& id) {
  testing::RemoteSlideSpec spec;
  spec.id = id;
  spec.height = 512;
  spec.width = 512;
  spec.with_layers = false;
  spec.with_level1 = false;
  return testing::make_remote_test_slide(dir, spec);
}

TEST(RemoteHardening, SlowClientNeverStallsOthers) {
  TempDir dir;
  auto path = make_big_tile_slide(dir, "vs-big");
  auto server = testing::start_test_server({path});
  ASSERT_NE(server, nullptr);

  // A client that asks for 200 tiles (~100 MB of replies; fewer than the queue bound) and never reads one.
  zmq::context_t ctx;
  auto slow = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
  slow->set(zmq::sockopt::linger, 0);
  slow->set(zmq::sockopt::rcvhwm, 1);
  slow->set(zmq::sockopt::rcvbuf, 64 * 1024);
  slow->connect(server->endpoint());
  const std::string req = R"({"v":1,"op":"tile","slide":"vs-big","key":{"row":0,"col":0}})";
  for (int i = 0; i < 200; ++i) {
    slow->send(zmq::message_t(), zmq::send_flags::sndmore);
    slow->send(zmq::buffer(req));
  }
  remote::RemoteSlideOptions opt;
  opt.timeout_ms = 3000;
  opt.retries = 0;
  auto good = RemoteSlide::open(server->endpoint() + "/vs-big", opt);
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  auto local = Hdf5Slide::open(path);
  for (int i = 0; i < 20; ++i) {
    TileKey k{i % 2, (i / 2) % 3, i % 2, 0, 0, 0};
    if (k.row == 1 && k.col == 2) continue;  // the hole
    auto img = (*good)->read(k);
    ASSERT_TRUE(img.ok()) << img.status().to_string();
    EXPECT_TRUE(*img == *(*local)->read(k));
  }
  slow.reset();  // and now it vanishes
  EXPECT_TRUE((*good)->read(TileKey{0, 0, 0, 0, 0, 0}).ok());
  EXPECT_EQ((*good)->stats().retries, 0u);
}

// docs/PROTOCOL.md: a client keeping up to kMaxRequestsInFlight requests in
// flight on one connection, and reading its replies, gets every reply.
TEST(RemoteHardening, RequestsInFlightUpToTheDocumentedLimitAllGetReplies) {
  TempDir dir;
  auto path = make_big_tile_slide(dir, "vs-flight");
  auto server = testing::start_test_server({path});
  ASSERT_NE(server, nullptr);
  zmq::context_t ctx;
  zmq::socket_t client(ctx, zmq::socket_type::dealer);
  client.set(zmq::sockopt::linger, 0);
  client.connect(server->endpoint());
  uint64_t next_id = 1, replies = 0;
  std::set<uint64_t> waiting;
  auto send_one = [&] {
    const uint64_t id = next_id++;
    const int n = int(id % 5);  // (1,2) is the test slide's hole
    json req{{"v", 1}, {"id", id}, {"op", "tile"}, {"slide", "vs-flight"}, {"key", {{"row", n / 3}, {"col", n % 3}}}};
    client.send(zmq::message_t(), zmq::send_flags::sndmore);
    client.send(zmq::buffer(req.dump()));
    waiting.insert(id);
  };
  // Keep the window full for 400 requests: a reply frees one place.
  while (next_id <= uint64_t(remote::kMaxRequestsInFlight)) send_one();
  while (!waiting.empty()) {
    zmq::pollitem_t item{client.handle(), 0, ZMQ_POLLIN, 0};
    ASSERT_GT(zmq::poll(&item, 1, std::chrono::milliseconds(5000)), 0)
        << waiting.size() << " replies missing after " << replies << " (first missing id " << *waiting.begin() << ")";
    std::vector<zmq::message_t> frames;
    ASSERT_TRUE(zmq::recv_multipart(client, std::back_inserter(frames)));
    ASSERT_GE(frames.size(), 2u);
    auto body = json::parse(frames[1].to_string_view());
    ASSERT_EQ(body.value("ok", false), true) << body.dump();
    EXPECT_EQ(waiting.erase(body["id"].get<uint64_t>()), 1u);
    ++replies;
    if (next_id <= 400) send_one();
  }
  EXPECT_EQ(replies, 400u);
}

TEST(RemoteHardening, FullQueueAnswersBusy) {
  TempDir dir;
  testing::RemoteSlideSpec spec;
  spec.with_layers = false;
  auto path = testing::make_remote_test_slide(dir, spec);
  remote::TileServerOptions options;
  options.workers = 1;
  options.max_queue = 2;
  options.fault_delay_ms = 100;
  options.send_hwm = 16;  // room for every reply: this test is about the queue, not dropping
  auto server = testing::start_test_server({path}, options);
  ASSERT_NE(server, nullptr);
  zmq::context_t ctx;
  zmq::socket_t sock(ctx, zmq::socket_type::dealer);
  sock.set(zmq::sockopt::linger, 0);
  sock.connect(server->endpoint());
  for (int i = 1; i <= 8; ++i) {
    const std::string req = R"({"v":1,"op":"status","id":)" + std::to_string(i) + "}";
    sock.send(zmq::message_t(), zmq::send_flags::sndmore);
    sock.send(zmq::buffer(req));
  }
  int ok = 0, busy = 0;
  std::set<uint64_t> ids;
  for (int i = 0; i < 8; ++i) {
    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    ASSERT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(5000)), 1);
    std::vector<zmq::message_t> reply;
    ASSERT_TRUE(zmq::recv_multipart(sock, std::back_inserter(reply)));
    auto j = json::parse(reply.at(1).to_string());
    ids.insert(j["id"].get<uint64_t>());
    if (j["ok"] == true) ++ok;
    else if (j["error"]["code"] == "busy") ++busy;
  }
  EXPECT_EQ(ids.size(), 8u);  // every request answered, each by its own id
  EXPECT_GE(ok, 3);           // one at the worker, two queued
  EXPECT_GE(busy, 1);
  EXPECT_EQ(ok + busy, 8);
}

}  // namespace
}  // namespace vslide
