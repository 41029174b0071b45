// Issue 16: hostile servers, hostile dealers, hostile clients. Every test
// here failed on be2c356 (the client trusted a server's geometry, the broker
// forwarded any reply, the server queued multi-frame messages, ...).
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <zmq_addon.hpp>

#include "remote_fixture.h"
#include "vslide/remote/broker.h"
#include "vslide/remote/curve.h"
#include "vslide/remote/protocol.h"

namespace vslide {
namespace {

using nlohmann::json;
using remote::RemoteSlide;
using testing::TempDir;

// A fake tile server: a ROUTER that answers every request with what `answer`
// makes of the request JSON (the reply JSON, payloads none).
class FakeServer {
 public:
  explicit FakeServer(std::function<json(const json&)> answer) : answer_(std::move(answer)) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  void run() {
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) == 0) continue;
      std::vector<zmq::message_t> in;
      (void)zmq::recv_multipart(socket_, std::back_inserter(in));
      if (in.size() != 3) continue;
      json req = json::parse(in[2].to_string_view());
      json reply = answer_(req);
      reply["v"] = 1;
      reply["id"] = req["id"];
      std::vector<zmq::message_t> out;
      out.push_back(std::move(in[0]));
      out.emplace_back();
      out.emplace_back(reply.dump());
      (void)zmq::send_multipart(socket_, out);
    }
  }
  std::function<json(const json&)> answer_;
  zmq::context_t context_;
  zmq::socket_t socket_{context_, zmq::socket_type::router};
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

json header_reply(const json& geometry, int channels) {
  json ch = json::array();
  for (int i = 0; i < channels; ++i) ch.push_back(json{{"name", "c" + std::to_string(i)}});
  return json{{"ok", true},
              {"op", "header"},
              {"header", json{{"slide_id", "evil"}}},
              {"geometry", geometry},
              {"state", "complete"},
              {"codec", remote::codec_to_json(CodecSpec{})},
              {"zoom_levels", json::array({0})},
              {"detection_layers", json::array()},
              {"channels", ch},
              {"index", json{{"planes_per_field", channels}, {"fields", json::array()}}}};
}

Status open_against(const json& geometry, int channels, json index = nullptr) {
  FakeServer server([&](const json& req) {
    json r = header_reply(geometry, channels);
    if (req["op"] == "index" && !index.is_null()) r["index"] = index;
    return r;
  });
  remote::RemoteSlideOptions o;
  o.timeout_ms = 2000;
  o.retries = 0;
  auto slide = RemoteSlide::open(server.endpoint() + "/evil", o);
  return slide.ok() ? Status() : slide.status();
}

TEST(HostilePeer, ClientRefusesAServersHugeOrZeroGeometry) {
  json huge{{"rows", 1}, {"cols", 1}, {"channels", 1}, {"tile_height", 60000}, {"tile_width", 60000}};
  Status s = open_against(huge, 1);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
  EXPECT_NE(s.message().find("pixels"), std::string::npos) << s.message();

  json zero{{"rows", 0}, {"cols", 0}, {"channels", 1}, {"tile_height", 0}, {"tile_width", 0}};
  EXPECT_EQ(open_against(zero, 1).code(), StatusCode::kCorruption);

  json overflow{{"rows", 2}, {"cols", 2}, {"channels", 64}, {"z_planes", 4096}, {"timepoints", 100000},
                {"tile_height", 8}, {"tile_width", 8}};
  Status o = open_against(overflow, 64);
  EXPECT_EQ(o.code(), StatusCode::kCorruption);
  EXPECT_NE(o.message().find("planes per field"), std::string::npos) << o.message();

  json fractional{{"rows", 3.7}, {"cols", 2}, {"channels", 1}, {"tile_height", 8}, {"tile_width", 8}};
  EXPECT_EQ(open_against(fractional, 1).code(), StatusCode::kCorruption);
}

TEST(HostilePeer, ClientRefusesAnIndexThatDoesNotFitTheGeometry) {
  json g{{"rows", 2}, {"cols", 2}, {"channels", 1}, {"tile_height", 8}, {"tile_width", 8}};
  EXPECT_TRUE(open_against(g, 1).ok());
  // A plane bitmap of 10^6 planes per field for a 1-channel slide.
  json big{{"planes_per_field", 1000000}, {"fields", json::array()}};
  EXPECT_EQ(open_against(g, 1, big).code(), StatusCode::kCorruption);
  json outside{{"planes_per_field", 1},
               {"fields", json::array({json{{"row", 7}, {"col", 0}, {"slot", 0}, {"planes", "1"}}})}};
  EXPECT_EQ(open_against(g, 1, outside).code(), StatusCode::kCorruption);
}

TEST(HostilePeer, TileMetadataIsBoundedByTheGeometry) {
  MosaicGeometry g;
  g.rows = g.cols = 1;
  g.tile_height = 64;
  g.tile_width = 32;
  StoredTile t;
  t.height = 64;
  t.width = 32;
  t.blocks.resize(1);
  t.blocks[0].height = 64;
  t.blocks[0].width = 32;
  EXPECT_TRUE(remote::check_tile_meta(t, {100}, g).ok());
  EXPECT_FALSE(remote::check_tile_meta(t, {uint64_t(1) << 40}, g).ok());  // a 1 TB block
  StoredTile wide = t;
  wide.height = 60000;
  EXPECT_FALSE(remote::check_tile_meta(wide, {100}, g).ok());
  StoredTile many = t;
  many.blocks.assign(10, t.blocks[0]);  // ten whole planes of scratch
  EXPECT_FALSE(remote::check_tile_meta(many, std::vector<uint64_t>(10, 100), g).ok());
  StoredTile outside = t;
  outside.key.channel = 5;
  EXPECT_FALSE(remote::check_tile_meta(outside, {100}, g).ok());
}

TEST(HostilePeer, ASecretKeyFileOpenToOthersIsRefused) {
  // Found auditing issue 16 on 1d55ca3 (where the issue is silent, do what
  // OpenSSH does): a .key_secret of mode 0644 was used without a word.
  TempDir dir;
  auto keys = remote::generate_curve_keypair();
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  const std::string prefix = dir.file("k");
  ASSERT_TRUE(remote::write_key_files(*keys, prefix).ok());
  EXPECT_TRUE(remote::read_key_file(prefix + ".key_secret").ok());
  ASSERT_EQ(::chmod((prefix + ".key_secret").c_str(), 0644), 0);
  auto loose = remote::read_key_file(prefix + ".key_secret");
  ASSERT_FALSE(loose.ok());
  EXPECT_EQ(loose.status().code(), StatusCode::kFailedPrecondition) << loose.status().to_string();
  EXPECT_NE(loose.status().message().find("chmod 600"), std::string::npos) << loose.status().to_string();
  EXPECT_NE(loose.status().message().find("0644"), std::string::npos) << loose.status().to_string();
  // The public key file is public; a pair file lying in an authorised-keys
  // folder still authorises its public key.
  EXPECT_TRUE(remote::read_key_file(prefix + ".key").ok());
  auto authorised = remote::read_authorized_keys(dir.path().string());
  ASSERT_TRUE(authorised.ok());
  EXPECT_EQ(authorised->count(keys->public_key), 1u);
  // A server does not start on it.
  TempDir slides;
  const std::string slide = testing::make_remote_test_slide(slides);
  auto out = testing::run_command(testing::vslide_binary() + " serve " + slide + " --bind tcp://127.0.0.1:* --curve-secret-key " +
                                  prefix + ".key_secret --authorized-keys " + dir.path().string() + " 2>&1");
  EXPECT_NE(out.exit_code, 0) << out.output;
  EXPECT_NE(out.output.find("chmod 600"), std::string::npos) << out.output;
}

TEST(HostilePeer, BindAddressWithAnImpossiblePortIsRefused) {
  EXPECT_FALSE(remote::check_bind_address("tcp://127.0.0.1:99999").ok());
  EXPECT_FALSE(remote::check_bind_address("tcp://127.0.0.1:0x10").ok());
  EXPECT_TRUE(remote::check_bind_address("tcp://127.0.0.1:*").ok());
  EXPECT_TRUE(remote::check_bind_address("tcp://127.0.0.1:5555").ok());
  // Where to connect: a port is needed, and 0 or * are no ports at all.
  EXPECT_FALSE(remote::check_connect_address("tcp://127.0.0.1:99999").ok());
  EXPECT_FALSE(remote::check_connect_address("tcp://127.0.0.1:0").ok());
  EXPECT_FALSE(remote::check_connect_address("tcp://127.0.0.1:*").ok());
  EXPECT_FALSE(remote::check_connect_address("tcp://127.0.0.1").ok());
  EXPECT_TRUE(remote::check_connect_address("tcp://127.0.0.1:5560").ok());
  EXPECT_TRUE(remote::check_connect_address("tcp://[::1]:5560").ok());
  EXPECT_TRUE(remote::check_connect_address("ipc:///run/vslide/manager.sock").ok());
  auto library = std::make_shared<remote::SlideLibrary>();
  remote::TileServerOptions o;
  o.bind = "tcp://127.0.0.1:99999";
  auto server = remote::TileServer::start(library, o);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
  auto out = testing::run_command(testing::vslide_binary() + " serve --bind tcp://127.0.0.1:99999 x.h5 2>&1");
  EXPECT_EQ(out.exit_code, 2) << out.output;
  EXPECT_NE(out.output.find("99999"), std::string::npos) << out.output;
}

std::vector<zmq::message_t> recv_within(zmq::socket_t& s, int ms) {
  std::vector<zmq::message_t> frames;
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, std::chrono::milliseconds(ms)) == 1) (void)zmq::recv_multipart(s, std::back_inserter(frames));
  return frames;
}

TEST(HostilePeer, ServerAnswersMultiFrameMessagesAtOnceAndBoundsEachClientsQueue) {
  TempDir dir;
  testing::RemoteSlideSpec spec;
  spec.with_layers = false;
  auto path = testing::make_remote_test_slide(dir, spec);
  remote::TileServerOptions options;
  options.workers = 1;
  options.fault_delay_ms = 300;
  options.send_hwm = 64;
  auto server = testing::start_test_server({path}, options);
  ASSERT_NE(server, nullptr);
  zmq::context_t ctx;
  zmq::socket_t sock(ctx, zmq::socket_type::dealer);
  sock.set(zmq::sockopt::linger, 0);
  sock.connect(server->endpoint());
  // A request of 40 frames of 60 KB: refused, not queued behind the busy worker.
  std::vector<zmq::message_t> big;
  big.emplace_back();
  for (int i = 0; i < 40; ++i) big.emplace_back(std::string(60000, 'x'));
  ASSERT_TRUE(zmq::send_multipart(sock, big));
  // Then 12 requests from this one client while the only worker sleeps.
  for (int i = 1; i <= 12; ++i) {
    const std::string req = R"({"v":1,"op":"status","id":)" + std::to_string(i) + "}";
    sock.send(zmq::message_t(), zmq::send_flags::sndmore);
    sock.send(zmq::buffer(req));
  }
  int malformed = 0, busy = 0, ok = 0;
  for (int i = 0; i < 13; ++i) {
    auto reply = recv_within(sock, 10000);
    ASSERT_GE(reply.size(), 2u);
    auto j = json::parse(reply[1].to_string());
    if (j["ok"] == true) ++ok;
    else if (j["error"]["code"] == "malformed_request") ++malformed;
    else if (j["error"]["code"] == "busy") ++busy;
  }
  EXPECT_EQ(malformed, 1);
  EXPECT_GE(busy, 12 - 1 - int(options.max_queued_per_client));  // one at the worker, 8 may wait
  EXPECT_EQ(ok + busy, 12);
  auto status = server->status();
  EXPECT_EQ(status["malformed_messages"].get<uint64_t>(), 1u);
  EXPECT_EQ(status["queued_bytes"].get<uint64_t>(), 0u);  // everything answered
}

bool wait_for(const std::function<bool()>& done, int ms) {
  for (int i = 0; i < ms / 10; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// ZMQ_SNDHWM bounds a client's unread replies in messages, and one reply may
// be 128 MiB: 8 of them held 1 GiB for a client that never reads. The bytes
// of replies not yet written to a client's connection are bounded too; past
// that the client gets "busy" (and every reply is still answered).
// `answered`: how many replies the server (or broker) has sent so far.
void expect_unsent_replies_bounded(const std::string& endpoint, const std::function<json()>& status,
                                   const std::function<uint64_t(const json&)>& answered, size_t bound) {
  zmq::context_t ctx;
  zmq::socket_t slow(ctx, zmq::socket_type::dealer);
  slow.set(zmq::sockopt::linger, 0);
  slow.set(zmq::sockopt::rcvhwm, 1);  // its ZeroMQ stops reading the connection after one reply
  slow.set(zmq::sockopt::rcvbuf, 64 * 1024);
  slow.connect(endpoint);
  constexpr int kRequests = 24;
  for (int i = 1; i <= kRequests; ++i) {
    const std::string req = R"({"v":1,"op":"tile","slide":"vs-big","key":{"row":0,"col":0},"id":)" +
                            std::to_string(i) + "}";
    slow.send(zmq::message_t(), zmq::send_flags::sndmore);
    slow.send(zmq::buffer(req));
  }
  ASSERT_TRUE(wait_for([&] { return answered(status()) >= kRequests; }, 10000)) << status().dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const uint64_t unsent = status()["unsent_reply_bytes"].get<uint64_t>();
  EXPECT_GT(unsent, 0u);
  EXPECT_LE(unsent, bound + (1u << 20)) << "more than the bound plus one reply";
  int ok = 0, busy = 0;
  for (int i = 0; i < kRequests; ++i) {
    auto reply = recv_within(slow, 10000);
    ASSERT_GE(reply.size(), 2u) << "reply " << i << " missing";
    auto j = json::parse(reply[1].to_string());
    if (j["ok"] == true) {
      ++ok;
    } else {
      EXPECT_EQ(j["error"]["code"], "busy") << j.dump();
      EXPECT_NE(j["error"]["message"].get<std::string>().find("not yet sent"), std::string::npos) << j.dump();
      EXPECT_GE(j["id"].get<int>(), 1);
      ++busy;
    }
  }
  EXPECT_GT(busy, 0) << "every reply was queued for a client that reads nothing";
  EXPECT_GT(ok, 0);
  // Everything read: nothing is counted as unsent any more.
  EXPECT_TRUE(wait_for([&] { return status()["unsent_reply_bytes"].get<uint64_t>() == 0; }, 5000));
}

std::string make_big_tiles(const TempDir& dir) {
  testing::RemoteSlideSpec spec;
  spec.id = "vs-big";
  spec.height = spec.width = 512;  // ~0.3 MB stored per tile
  spec.with_layers = spec.with_level1 = false;
  return testing::make_remote_test_slide(dir, spec);
}

TEST(HostilePeer, UnsentRepliesToAClientThatDoesNotReadAreBoundedInBytes) {
  TempDir dir;
  remote::TileServerOptions options;
  options.workers = 1;
  options.send_hwm = 64;               // so that the message bound does not act first
  options.max_queued_per_client = 64;  // nor the request queue's
  options.max_unsent_bytes_per_client = 1 << 20;
  auto server = testing::start_test_server({make_big_tiles(dir)}, options);
  ASSERT_NE(server, nullptr);
  expect_unsent_replies_bounded(
      server->endpoint(), [&] { return server->status(); },
      [](const json& s) { return s["requests"].get<uint64_t>(); }, options.max_unsent_bytes_per_client);
}

TEST(HostilePeer, UnsentRepliesThroughABrokerAreBoundedInBytes) {
  TempDir dir;
  remote::BrokerOptions bo;
  bo.frontend = "tcp://127.0.0.1:*";
  bo.backend = "tcp://127.0.0.1:*";
  bo.send_hwm = 64;
  bo.max_unsent_bytes_per_client = 1 << 20;
  bo.log = [](const std::string&) {};
  auto broker = remote::Broker::start(bo);
  ASSERT_TRUE(broker.ok()) << broker.status().to_string();
  remote::TileServerOptions so;
  so.connect = (*broker)->backend_endpoint();
  so.workers = 1;
  so.log = [](const std::string&) {};
  auto dealer = testing::start_test_server({make_big_tiles(dir)}, so);
  ASSERT_NE(dealer, nullptr);
  ASSERT_TRUE(wait_for([&] { return (*broker)->status()["dealers"] == 1; }, 3000));
  expect_unsent_replies_bounded(
      (*broker)->frontend_endpoint(), [&] { return (*broker)->status(); },
      [](const json& s) { return s["replies"].get<uint64_t>(); }, bo.max_unsent_bytes_per_client);
}

// A raw dealer speaking the broker wire protocol.
struct RawDealer {
  zmq::socket_t socket;
  RawDealer(zmq::context_t& ctx, const std::string& backend, const remote::CurveKeyPair* me = nullptr,
            const std::string& broker_public = "")
      : socket(ctx, zmq::socket_type::dealer) {
    socket.set(zmq::sockopt::linger, 0);
    if (me != nullptr) {
      socket.set(zmq::sockopt::curve_serverkey, broker_public);
      socket.set(zmq::sockopt::curve_publickey, me->public_key);
      socket.set(zmq::sockopt::curve_secretkey, me->secret_key);
    }
    socket.connect(backend);
    std::array<zmq::const_buffer, 3> ready = {zmq::str_buffer("VSW1"), zmq::str_buffer("READY"), zmq::str_buffer("4")};
    (void)zmq::send_multipart(socket, ready);
  }
};

TEST(HostilePeer, BrokerDropsRepliesThatMatchNoRequestInFlight) {
  remote::BrokerOptions bo;
  bo.frontend = "tcp://127.0.0.1:*";
  bo.backend = "tcp://127.0.0.1:*";
  bo.log = [](const std::string&) {};
  auto broker = remote::Broker::start(bo);
  ASSERT_TRUE(broker.ok()) << broker.status().to_string();
  zmq::context_t ctx;
  RawDealer dealer(ctx, (*broker)->backend_endpoint());
  ASSERT_TRUE(wait_for([&] { return (*broker)->status()["dealers"] == 1; }, 3000));
  zmq::socket_t client(ctx, zmq::socket_type::dealer);
  client.set(zmq::sockopt::linger, 0);
  client.connect((*broker)->frontend_endpoint());
  client.send(zmq::message_t(), zmq::send_flags::sndmore);
  client.send(zmq::str_buffer(R"({"v":1,"op":"status","id":7})"));
  // The dealer gets [VSW1, REQUEST, seq, client, "", JSON] (heartbeats skipped).
  std::vector<zmq::message_t> req;
  for (int i = 0; i < 50 && (req.size() < 2 || req[1].to_string_view() != "REQUEST"); ++i) req = recv_within(dealer.socket, 200);
  ASSERT_EQ(req.size(), 6u);
  const std::string seq = req[2].to_string(), who = req[3].to_string();
  std::string forged_seq = seq;
  forged_seq[7] = char(forged_seq[7] + 1);
  auto reply = [&](const std::string& s, const std::string& body) {
    std::vector<zmq::message_t> out;
    out.emplace_back(std::string("VSW1"));
    out.emplace_back(std::string("REPLY"));
    out.emplace_back(s);
    out.emplace_back(who);
    out.emplace_back();
    out.emplace_back(body);
    (void)zmq::send_multipart(dealer.socket, out);
  };
  reply(forged_seq, R"({"v":1,"id":7,"ok":true,"op":"status","server":{"name":"forged"}})");
  reply(seq, R"({"v":1,"id":7,"ok":true,"op":"status","server":{"name":"real"}})");
  reply(seq, R"({"v":1,"id":7,"ok":true,"op":"status","server":{"name":"replayed"}})");
  auto got = recv_within(client, 3000);
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(json::parse(got[1].to_string())["server"]["name"], "real");
  EXPECT_TRUE(recv_within(client, 300).empty()) << "a reply for no request in flight reached the client";
  EXPECT_EQ((*broker)->status()["dropped_replies"].get<uint64_t>(), 2u);
}

TEST(HostilePeer, BrokerBackendAdmitsOnlyAuthorisedDealers) {
  TempDir dir;
  auto broker_keys = remote::generate_curve_keypair();
  auto dealer_keys = remote::generate_curve_keypair();
  auto stranger = remote::generate_curve_keypair();
  auto client_keys = remote::generate_curve_keypair();
  ASSERT_TRUE(broker_keys.ok() && dealer_keys.ok() && stranger.ok() && client_keys.ok());
  std::filesystem::create_directory(dir.path() / "dealers");
  std::filesystem::create_directory(dir.path() / "clients");
  ASSERT_TRUE(remote::write_key_files(*broker_keys, dir.file("broker")).ok());
  ASSERT_TRUE(remote::write_key_files(*dealer_keys, dir.file("dealers/d1")).ok());
  ASSERT_TRUE(remote::write_key_files(*client_keys, dir.file("clients/c1")).ok());

  remote::BrokerOptions bo;
  bo.frontend = "tcp://127.0.0.1:*";
  bo.backend = "tcp://127.0.0.1:*";
  bo.curve_secret_key_file = dir.file("broker.key_secret");
  bo.authorized_keys_dir = dir.file("clients");
  bo.log = [](const std::string&) {};
  // A CURVE frontend over a plaintext TCP backend is refused.
  EXPECT_EQ(remote::Broker::start(bo).status().code(), StatusCode::kInvalidArgument);
  bo.dealer_keys_dir = dir.file("dealers");
  auto broker = remote::Broker::start(bo);
  ASSERT_TRUE(broker.ok()) << broker.status().to_string();

  zmq::context_t ctx;
  RawDealer plain(ctx, (*broker)->backend_endpoint());
  RawDealer unknown(ctx, (*broker)->backend_endpoint(), &*stranger, broker_keys->public_key);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ((*broker)->status()["dealers"], 0) << "an unauthenticated dealer registered";

  // A real dealer with its key serves a real client through the broker.
  testing::RemoteSlideSpec spec;
  spec.with_layers = false;
  spec.with_level1 = false;
  auto path = testing::make_remote_test_slide(dir, spec);
  remote::TileServerOptions so;
  so.connect = (*broker)->backend_endpoint();
  so.curve_secret_key_file = dir.file("dealers/d1.key_secret");
  so.broker_public_key_file = dir.file("broker.key");
  so.log = [](const std::string&) {};
  auto dealer = testing::start_test_server({path}, so);
  ASSERT_NE(dealer, nullptr);
  ASSERT_TRUE(wait_for([&] { return (*broker)->status()["dealers"] == 1; }, 5000));
  remote::RemoteSlideOptions co;
  co.server_public_key = broker_keys->public_key;
  co.client_public_key = client_keys->public_key;
  co.client_secret_key = client_keys->secret_key;
  auto slide = RemoteSlide::open((*broker)->frontend_endpoint() + "/" + spec.id, co);
  ASSERT_TRUE(slide.ok()) << slide.status().to_string();
  auto local = Hdf5Slide::open(path);
  EXPECT_TRUE(*(*slide)->read(TileKey{0, 1, 1, 0, 0, 0}) == *(*local)->read(TileKey{0, 1, 1, 0, 0, 0}));
}

TEST(HostilePeer, KeyRemovedFromTheAuthorisedFolderIsRefusedFromTheNextConnection) {
  TempDir dir;
  testing::RemoteSlideSpec spec;
  spec.with_layers = false;
  spec.with_level1 = false;
  auto path = testing::make_remote_test_slide(dir, spec);
  auto server_keys = remote::generate_curve_keypair();
  auto alice = remote::generate_curve_keypair();
  ASSERT_TRUE(server_keys.ok() && alice.ok());
  std::filesystem::create_directory(dir.path() / "authorized");
  ASSERT_TRUE(remote::write_key_files(*server_keys, dir.file("server")).ok());
  ASSERT_TRUE(remote::write_key_files(*alice, dir.file("authorized/alice")).ok());
  remote::TileServerOptions options;
  options.curve_secret_key_file = dir.file("server.key_secret");
  options.authorized_keys_dir = dir.file("authorized");
  options.log = [](const std::string&) {};
  auto server = testing::start_test_server({path}, options);
  ASSERT_NE(server, nullptr);
  remote::RemoteSlideOptions o;
  o.server_public_key = server_keys->public_key;
  o.client_public_key = alice->public_key;
  o.client_secret_key = alice->secret_key;
  o.timeout_ms = 1000;
  o.retries = 0;
  const std::string url = server->endpoint() + "/" + spec.id;
  ASSERT_TRUE(RemoteSlide::open(url, o).ok());
  std::filesystem::remove(dir.file("authorized/alice.key"));
  std::filesystem::remove(dir.file("authorized/alice.key_secret"));
  auto again = RemoteSlide::open(url, o);
  ASSERT_FALSE(again.ok()) << "a key removed from the folder still admitted a new connection";
  EXPECT_EQ(again.status().code(), StatusCode::kUnavailable);
}

TEST(HostilePeer, BadCataloguedFileIsCorruptionAndTheReplyNamesNoServerPath) {
  TempDir dir;
  const std::string bad = dir.file("garbage.h5");
  std::ofstream(bad) << "not an HDF5 file at all";
  auto library = std::make_shared<remote::SlideLibrary>();
  library->set_resolver([&](const std::string&) -> Result<std::string> { return bad; });
  remote::TileServerOptions o;
  o.bind = "tcp://127.0.0.1:*";
  auto server = remote::TileServer::start(library, o);
  ASSERT_TRUE(server.ok());
  remote::RemoteSlideOptions co;
  co.retries = 0;
  auto slide = RemoteSlide::open((*server)->endpoint() + "/some-id", co);
  ASSERT_FALSE(slide.ok());
  const std::string m = slide.status().message();
  EXPECT_TRUE(m.find("corruption") != std::string::npos || m.find("io_error") != std::string::npos) << m;
  EXPECT_EQ(m.find(dir.path().string()), std::string::npos) << "the reply reveals the server's path: " << m;
  EXPECT_NE(m.find("garbage.h5"), std::string::npos) << m;
}

}  // namespace
}  // namespace vslide

namespace vslide {
namespace {

TEST(HostilePeer, ServerFollowsASlideFileReplacedUnderIt) {
  // `pyramid` and `detect` write a copy and rename it over the slide; the server
  // must serve the new file (its new zoom level) and never touch the old mapping's
  // pages beyond what the old file holds.
  TempDir dir;
  testing::RemoteSlideSpec spec;
  spec.with_layers = false;
  spec.with_level1 = false;
  auto path = testing::make_remote_test_slide(dir, spec);
  auto server = testing::start_test_server({path});
  ASSERT_NE(server, nullptr);
  const std::string url = server->endpoint() + "/" + spec.id;
  auto before = RemoteSlide::open(url);
  ASSERT_TRUE(before.ok()) << before.status().to_string();
  EXPECT_EQ((*before)->zoom_levels(), std::vector<int32_t>{0});

  const std::string copy = dir.file("copy.h5");
  std::filesystem::copy_file(path, copy);
  {
    auto w = Hdf5Slide::open(copy, OpenMode::kAppend);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    ASSERT_TRUE((*w)->add_zoom_level(1).ok());
    const auto& g = (*w)->geometry();
    TileKey k{0, 0, 0, 0, 0, 1};
    ASSERT_TRUE((*w)->write_plane(k, testing::remote_test_plane(g.level_width(1), g.level_height(1), k)).ok());
    ASSERT_TRUE((*w)->finish().ok());
  }
  std::filesystem::rename(copy, path);
  // The old slide object still answers a request already resolved; new lookups see the new file.
  auto old_tile = (*before)->read(TileKey{0, 1, 1, 0, 0, 0});
  EXPECT_TRUE(old_tile.ok()) << old_tile.status().to_string();
  auto after = RemoteSlide::open(url);
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  EXPECT_EQ((*after)->zoom_levels(), (std::vector<int32_t>{0, 1}));
  EXPECT_TRUE((*after)->read(TileKey{0, 0, 0, 0, 0, 1}).ok());
}

}  // namespace
}  // namespace vslide
