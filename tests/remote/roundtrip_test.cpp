// Every request type against a live server, tiles bit-exact against the file.
#include <fstream>
#include <iterator>
#include <thread>

#include <gtest/gtest.h>
#include <zmq_addon.hpp>

#include "remote_fixture.h"
#include "vslide/remote/broker.h"
#include "vslide/remote/protocol.h"

namespace vslide {
namespace {

using remote::RemoteSlide;
using testing::TempDir;

struct Served {
  TempDir dir;
  std::string path;
  std::unique_ptr<Hdf5Slide> local;
  std::unique_ptr<remote::TileServer> server;

  explicit Served(testing::RemoteSlideSpec spec = {}, remote::TileServerOptions options = {}) {
    path = testing::make_remote_test_slide(dir, spec);
    auto l = Hdf5Slide::open(path);
    EXPECT_TRUE(l.ok()) << l.status().to_string();
    if (l.ok()) local = std::move(l).value();
    server = testing::start_test_server({path}, options);
  }
  std::string url(const std::string& id) const { return server->endpoint() + "/" + id; }
};

void expect_same_slide(const SlideSource& local, const RemoteSlide& remote) {
  EXPECT_EQ(remote.header(), local.header());
  EXPECT_EQ(remote.geometry(), local.geometry());
  EXPECT_EQ(remote.channels(), local.channels());
  EXPECT_EQ(remote.state(), local.state());
  EXPECT_EQ(remote.codec(), local.codec());
  EXPECT_EQ(remote.zoom_levels(), local.zoom_levels());
  EXPECT_EQ(remote.detection_layers(), local.detection_layers());
  const auto li = local.index(), ri = remote.index();
  ASSERT_EQ(ri->entries().size(), li->entries().size());
  for (size_t i = 0; i < li->entries().size(); ++i) {
    EXPECT_EQ(ri->entries()[i].field, li->entries()[i].field);
    EXPECT_EQ(ri->entries()[i].slot, li->entries()[i].slot);
    EXPECT_EQ(ri->entries()[i].planes, li->entries()[i].planes);
  }
}

void expect_tiles_bit_exact(const SlideSource& local, const RemoteSlide& remote) {
  for (const auto& key : testing::all_keys(local.geometry(), true)) {
    auto l = local.read_chunk(key);
    auto r = remote.read_chunk(key);
    ASSERT_EQ(l.ok(), r.ok()) << key.to_string() << ": " << l.status().to_string() << " vs " << r.status().to_string();
    if (!l.ok()) {
      EXPECT_EQ(r.status().code(), l.status().code()) << key.to_string();
      continue;
    }
    EXPECT_EQ(r->key, l->key);
    EXPECT_EQ(r->codec, l->codec);
    EXPECT_EQ(r->height, l->height);
    ASSERT_EQ(r->blocks.size(), l->blocks.size());
    for (size_t b = 0; b < l->blocks.size(); ++b) {
      EXPECT_EQ(r->blocks[b].bytes, l->blocks[b].bytes) << key.to_string() << " block " << b;
      EXPECT_EQ(r->blocks[b].checksum, l->blocks[b].checksum);
      EXPECT_EQ(r->blocks[b].y, l->blocks[b].y);
      EXPECT_EQ(r->blocks[b].x, l->blocks[b].x);
    }
    auto li = local.read(key);
    auto ri = remote.read(key);
    ASSERT_TRUE(ri.ok()) << ri.status().to_string();
    EXPECT_TRUE(*ri == *li) << key.to_string();
  }
}

TEST(RemoteRoundTrip, HeaderIndexAndEveryTileBitExact) {
  Served s;
  ASSERT_NE(s.server, nullptr);
  auto remote = RemoteSlide::open(s.url("vs-remote-0001"));
  ASSERT_TRUE(remote.ok()) << remote.status().to_string();
  expect_same_slide(*s.local, **remote);
  expect_tiles_bit_exact(*s.local, **remote);
  EXPECT_EQ((*remote)->describe(), s.url("vs-remote-0001"));
}

TEST(RemoteRoundTrip, SubTileBlocksBitExact) {
  testing::RemoteSlideSpec spec;
  spec.id = "vs-blocks";
  spec.chunk_height = 24;
  spec.chunk_width = 20;
  spec.with_level1 = false;
  Served s(spec);
  auto remote = RemoteSlide::open(s.url("vs-blocks"));
  ASSERT_TRUE(remote.ok()) << remote.status().to_string();
  auto chunk = (*remote)->read_chunk(TileKey{0, 1, 1, 0, 0, 0});
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->blocks.size(), 4u);
  expect_tiles_bit_exact(*s.local, **remote);
}

TEST(RemoteRoundTrip, SlideFoundByFileStem) {
  Served s;
  auto remote = RemoteSlide::open(s.url("vs-remote-0001"));
  auto by_stem = RemoteSlide::open(s.url(std::filesystem::path(s.path).stem().string()));
  ASSERT_TRUE(by_stem.ok()) << by_stem.status().to_string();
  EXPECT_EQ((*by_stem)->header().slide_id, "vs-remote-0001");
}

TEST(RemoteRoundTrip, BatchStatusListOverviewLabelsObjects) {
  Served s;
  auto remote = RemoteSlide::open(s.url("vs-remote-0001"));
  ASSERT_TRUE(remote.ok()) << remote.status().to_string();
  const auto& r = **remote;
  std::vector<TileKey> keys = {{0, 0, 0, 0, 0, 0}, {1, 2, 0, 0, 0, 0}, {0, 1, 1, 0, 0, 0}, {5, 0, 0, 0, 0, 0}};
  auto batch = r.read_chunks(keys);
  ASSERT_EQ(batch.size(), 4u);
  ASSERT_TRUE(batch[0].ok()) << batch[0].status().to_string();
  EXPECT_EQ(batch[0]->blocks[0].bytes, s.local->read_chunk(keys[0])->blocks[0].bytes);
  EXPECT_EQ(batch[1].status().code(), StatusCode::kNotFound);  // the hole
  ASSERT_TRUE(batch[2].ok());
  EXPECT_EQ(batch[2]->blocks[0].bytes, s.local->read_chunk(keys[2])->blocks[0].bytes);
  EXPECT_EQ(batch[3].status().code(), StatusCode::kOutOfRange);

  auto status = r.server_status();
  ASSERT_TRUE(status.ok()) << status.status().to_string();
  EXPECT_EQ((*status)["protocol"], remote::kProtocolVersion);
  EXPECT_GE((*status)["requests"].get<uint64_t>(), 4u);
  EXPECT_EQ((*status)["slides"], 1);

  auto list = r.list_slides();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0]["slide_id"], "vs-remote-0001");

  auto ov = r.read_overview(0);
  ASSERT_TRUE(ov.ok()) << ov.status().to_string();
  auto lov = s.local->read_overview(0);
  EXPECT_TRUE(ov->image == lov->image);
  EXPECT_DOUBLE_EQ(ov->um_per_px, 4.5);
  EXPECT_EQ(r.read_overview(1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.read_overview(7).status().code(), StatusCode::kOutOfRange);

  auto labels = r.read_labels("nuclei", TileKey{0, 0, 0, 0, 0, 0});
  ASSERT_TRUE(labels.ok()) << labels.status().to_string();
  EXPECT_EQ(labels->labels, s.local->read_labels("nuclei", TileKey{0, 0, 0, 0, 0, 0})->labels);
  EXPECT_EQ(r.read_labels("cells", TileKey{0, 0, 0, 0, 0, 0}).status().code(), StatusCode::kNotFound);
  auto objects = r.read_objects_json("nuclei");
  ASSERT_TRUE(objects.ok());
  EXPECT_EQ(*objects, *s.local->read_objects_json("nuclei"));
}

TEST(RemoteRoundTrip, ErrorsCarryCodeAndMessage) {
  Served s;
  auto unknown = RemoteSlide::open(s.url("vs-nobody"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("unknown_slide"), std::string::npos) << unknown.status().message();
  EXPECT_NE(unknown.status().message().find("vs-nobody"), std::string::npos);

  auto remote = RemoteSlide::open(s.url("vs-remote-0001"));
  ASSERT_TRUE(remote.ok());
  auto out = (*remote)->read(TileKey{0, 9, 0, 0, 0, 0});
  EXPECT_EQ(out.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(out.status().message().find("(0,9)"), std::string::npos) << out.status().message();
  // A zoom level the slide lacks: NotFound, as the local file says.
  EXPECT_EQ((*remote)->read(TileKey{0, 0, 0, 0, 0, 4}).status().code(), s.local->read(TileKey{0, 0, 0, 0, 0, 4}).status().code());
  auto hole = (*remote)->read(TileKey{1, 2, 0, 0, 0, 0});
  EXPECT_EQ(hole.status().code(), StatusCode::kNotFound) << hole.status().to_string();

  // Version mismatch, spoken raw.
  zmq::context_t ctx;
  zmq::socket_t sock(ctx, zmq::socket_type::req);
  sock.set(zmq::sockopt::linger, 0);
  sock.connect(s.server->endpoint());
  sock.send(zmq::str_buffer(R"({"v":2,"op":"status","id":7})"));
  zmq::message_t reply;
  ASSERT_TRUE(sock.recv(reply));
  auto j = nlohmann::json::parse(reply.to_string());
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["error"]["code"], "version_mismatch");
  EXPECT_EQ(j["supported"], nlohmann::json::array({1}));
}

TEST(RemoteRoundTrip, ConcurrentReadersAndPrefetch) {
  Served s;
  remote::RemoteSlideOptions opt;
  opt.cache_bytes = 1 << 20;
  auto remote = RemoteSlide::open(s.url("vs-remote-0001"), opt);
  ASSERT_TRUE(remote.ok());
  const auto keys = testing::all_keys(s.local->geometry(), true);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const auto& key = keys[size_t(t * 7 + i) % keys.size()];
        auto r = (*remote)->read(key);
        auto l = s.local->read(key);
        if (r.ok() != l.ok() || (r.ok() && !(*r == *l))) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);

  std::vector<TileKey> ring = {{0, 0, 0, 0, 0, 0}, {0, 1, 0, 0, 0, 0}, {1, 0, 1, 0, 0, 0}};
  for (const auto& k : ring) EXPECT_FALSE((*remote)->cached(k));
  (*remote)->prefetch(ring);
  (*remote)->wait_prefetch();
  for (const auto& k : ring) EXPECT_TRUE((*remote)->cached(k)) << k.to_string();
  const auto before = (*remote)->stats();
  auto img = (*remote)->read(ring[1]);
  ASSERT_TRUE(img.ok());
  EXPECT_TRUE(*img == *s.local->read(ring[1]));
  EXPECT_EQ((*remote)->stats().cache_hits, before.cache_hits + 1);
  EXPECT_EQ((*remote)->stats().requests, before.requests);  // served from the cache
}

TEST(RemoteRoundTrip, CacheStaysWithinItsBound) {
  Served s;
  remote::RemoteSlideOptions opt;
  const size_t one_tile = s.local->read_chunk(TileKey{0, 0, 0, 0, 0, 0})->stored_bytes();
  opt.cache_bytes = one_tile * 2 + one_tile / 2;
  auto remote = RemoteSlide::open(s.url("vs-remote-0001"), opt);
  ASSERT_TRUE(remote.ok());
  std::vector<TileKey> keys = {{0, 0, 0, 0, 0, 0}, {0, 1, 0, 0, 0, 0}, {0, 2, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0}};
  (*remote)->prefetch(keys);
  (*remote)->wait_prefetch();
  int cached = 0;
  for (const auto& k : keys) cached += (*remote)->cached(k);
  EXPECT_LE(cached, 2);
  EXPECT_GE(cached, 1);
}

TEST(RemoteRoundTrip, RecompressingServerSendsSamePixels) {
  remote::TileServerOptions options;
  options.mode = remote::ServeMode::kRecompress;
  Served s({}, options);
  auto remote = RemoteSlide::open(s.url("vs-remote-0001"));
  ASSERT_TRUE(remote.ok());
  for (const auto& key : testing::all_keys(s.local->geometry(), false)) {
    auto l = s.local->read(key);
    auto r = (*remote)->read(key);
    ASSERT_EQ(l.ok(), r.ok()) << key.to_string();
    if (l.ok()) {
      EXPECT_TRUE(*l == *r) << key.to_string();
    }
  }
}

TEST(RemoteRoundTrip, StreamedReadsInPartsBitExact) {
  for (bool sub_tiles : {false, true}) {
    testing::RemoteSlideSpec spec;
    spec.id = sub_tiles ? "vs-parts-blocks" : "vs-parts";
    spec.width = 320;
    spec.height = 240;
    if (sub_tiles) {
      spec.chunk_height = 120;
      spec.chunk_width = 160;
    }
    Served s(spec);
    for (int parts : {2, 3, 4}) {
      remote::RemoteSlideOptions opt;
      opt.tile_parts = parts;
      opt.stream_min_bytes = 0;
      opt.cache_bytes = 0;
      auto remote = RemoteSlide::open(s.url(spec.id), opt);
      ASSERT_TRUE(remote.ok()) << remote.status().to_string();
      const auto before = (*remote)->stats().requests;
      for (const auto& key : testing::all_keys(s.local->geometry(), true)) {
        auto l = s.local->read(key);
        auto r = (*remote)->read(key);
        ASSERT_EQ(l.ok(), r.ok()) << key.to_string() << ": " << r.status().to_string();
        if (l.ok()) {
          EXPECT_TRUE(*l == *r) << key.to_string() << " parts " << parts;
        } else {
          EXPECT_EQ(r.status().code(), l.status().code()) << key.to_string();
        }
      }
      // Every read went out as `parts` requests.
      EXPECT_EQ((*remote)->stats().requests - before,
                uint64_t(parts) * testing::all_keys(s.local->geometry(), true).size());
    }
  }
}

// The default client streams planes of at least stream_min_bytes (4 MiB raw)
// in kMaxTileParts parts and asks for smaller ones (here zoom level 1) whole.
TEST(RemoteRoundTrip, DefaultClientStreamsLargeTilesOnly) {
  testing::RemoteSlideSpec spec;
  spec.id = "vs-default-parts";
  spec.rows = 1;
  spec.cols = 2;
  spec.channels = 1;
  spec.width = 2048;
  spec.height = 1024;  // 4 MiB raw at level 0, 1 MiB at level 1
  spec.with_layers = false;
  Served s(spec);
  remote::RemoteSlideOptions opt;
  opt.cache_bytes = 0;
  ASSERT_EQ(opt.tile_parts, remote::kMaxTileParts);
  auto remote = RemoteSlide::open(s.url(spec.id), opt);
  ASSERT_TRUE(remote.ok()) << remote.status().to_string();
  for (int level : {0, 1}) {
    const TileKey key{0, 0, 0, 0, 0, level};
    const auto before = (*remote)->stats().requests;
    auto l = s.local->read(key);
    auto r = (*remote)->read(key);
    ASSERT_TRUE(l.ok()) << l.status().to_string();
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_TRUE(*l == *r) << key.to_string();
    EXPECT_EQ((*remote)->stats().requests - before, level == 0 ? uint64_t(remote::kMaxTileParts) : 1u) << key.to_string();
  }
}

// The server's kernel send buffer (TileServerOptions::send_buffer_bytes):
// autotuned (0), the smallest allowed and the default all deliver a large
// tile bit-exact, streamed in parts and as one request, and "status" reports
// the setting. A tile of 8 MiB raw is several times the smallest buffer, so
// every reply crosses it in many partial writes.
TEST(RemoteRoundTrip, EverySendBufferDeliversLargeTilesBitExact) {
  testing::RemoteSlideSpec spec;
  spec.id = "vs-send-buffer";
  spec.rows = 1;
  spec.cols = 3;  // (0,2) is the fixture's hole
  spec.channels = 1;
  spec.width = 2048;
  spec.height = 2048;
  spec.with_layers = false;
  spec.with_level1 = false;
  for (int bytes : {0, remote::kMinSendBufferBytes, remote::kDefaultSendBufferBytes}) {
    remote::TileServerOptions options;
    options.send_buffer_bytes = bytes;
    Served s(spec, options);
    ASSERT_NE(s.server, nullptr);
    EXPECT_EQ(s.server->status()["send_buffer_bytes"].get<int>(), bytes);
    for (int parts : {1, remote::kMaxTileParts}) {
      remote::RemoteSlideOptions opt;
      opt.cache_bytes = 0;
      opt.tile_parts = parts;
      auto remote = RemoteSlide::open(s.url(spec.id), opt);
      ASSERT_TRUE(remote.ok()) << remote.status().to_string();
      auto status = (*remote)->server_status();
      ASSERT_TRUE(status.ok()) << status.status().to_string();
      EXPECT_EQ((*status)["send_buffer_bytes"].get<int>(), bytes);
      for (int round = 0; round < 3; ++round) {
        const TileKey key{0, round % 2, 0, 0, 0, 0};
        auto l = s.local->read(key);
        auto r = (*remote)->read(key);
        ASSERT_TRUE(l.ok()) << l.status().to_string();
        ASSERT_TRUE(r.ok()) << r.status().to_string() << " (send buffer " << bytes << ", " << parts << " parts)";
        EXPECT_TRUE(*l == *r) << key.to_string() << " send buffer " << bytes << ", " << parts << " parts";
      }
    }
  }
}

// Buffers below kMinSendBufferBytes stall transfers: servers and brokers refuse them.
TEST(RemoteRoundTrip, TooSmallSendBufferRefused) {
  auto library = std::make_shared<remote::SlideLibrary>();
  remote::TileServerOptions options;
  options.bind = "tcp://127.0.0.1:*";
  options.send_buffer_bytes = 64 << 10;
  auto server = remote::TileServer::start(library, options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(server.status().message().find("send buffer of 65536 bytes"), std::string::npos) << server.status().message();
  remote::BrokerOptions b;
  b.frontend = "tcp://127.0.0.1:*";
  b.backend = "tcp://127.0.0.1:*";
  b.send_buffer_bytes = 1;
  auto broker = remote::Broker::start(b);
  ASSERT_FALSE(broker.ok());
  EXPECT_EQ(broker.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(broker.status().message().find("broker: send buffer of 1 bytes"), std::string::npos) << broker.status().message();
  EXPECT_TRUE(remote::check_send_buffer(0, "x").ok());
  EXPECT_TRUE(remote::check_send_buffer(remote::kMinSendBufferBytes, "x").ok());
}

// Raw "tile" requests with "part": the reply carries the documented byte range of each block.
TEST(RemoteRoundTrip, TilePartsOnTheWire) {
  Served s;
  zmq::context_t ctx;
  zmq::socket_t sock(ctx, zmq::socket_type::req);
  sock.set(zmq::sockopt::linger, 0);
  sock.set(zmq::sockopt::rcvtimeo, 5000);
  sock.connect(s.server->endpoint());
  auto ask = [&](const std::string& text, std::vector<zmq::message_t>* frames) {
    sock.send(zmq::buffer(text));
    frames->clear();
    EXPECT_TRUE(zmq::recv_multipart(sock, std::back_inserter(*frames)));
    return frames->empty() ? nlohmann::json() : nlohmann::json::parse(frames->front().to_string());
  };
  std::vector<zmq::message_t> frames;
  auto header = ask(R"({"v":1,"op":"header","slide":"vs-remote-0001"})", &frames);
  EXPECT_EQ(header["tile_parts"], remote::kMaxTileParts);

  const TileKey key{0, 1, 1, 0, 0, 0};
  const auto stored = s.local->read_chunk(key)->blocks[0].bytes;
  std::vector<uint8_t> joined;
  for (int i = 0; i < 3; ++i) {
    auto j = ask(R"({"v":1,"id":5,"op":"tile","slide":"vs-remote-0001","key":{"row":0,"col":1,"channel":1},"part":[)" +
                     std::to_string(i) + ",3]}",
                 &frames);
    ASSERT_EQ(j["ok"], true) << j.dump();
    EXPECT_EQ(j["part"], nlohmann::json::array({i, 3}));
    EXPECT_EQ(j["tile"]["blocks"][0]["size"], stored.size());
    ASSERT_EQ(frames.size(), 2u);
    const auto* p = static_cast<const uint8_t*>(frames[1].data());
    EXPECT_EQ(frames[1].size(), remote::part_end(stored.size(), i, 3) - remote::part_begin(stored.size(), i, 3));
    joined.insert(joined.end(), p, p + frames[1].size());
  }
  EXPECT_EQ(joined, stored);

  for (const char* bad : {"[3,3]", "[0,0]", "[0,9]", "[0,5]", "\"0,1\"", "[-1,2]", "[0,1,2]", "[0.5,2]", "{}"}) {
    auto j = ask(std::string(R"({"v":1,"op":"tile","slide":"vs-remote-0001","key":{"row":0,"col":0},"part":)") + bad + "}",
                 &frames);
    EXPECT_EQ(j["ok"], false) << bad;
    EXPECT_EQ(j["error"]["code"], "malformed_request") << bad << ": " << j.dump();
  }
  // Errors of the tile itself come first, part or not.
  auto hole = ask(R"({"v":1,"op":"tile","slide":"vs-remote-0001","key":{"row":1,"col":2},"part":[1,2]})", &frames);
  EXPECT_EQ(hole["error"]["code"], "not_found") << hole.dump();
}

TEST(RemoteRoundTrip, RecompressingServerOffersNoParts) {
  remote::TileServerOptions options;
  options.mode = remote::ServeMode::kRecompress;
  Served s({}, options);
  remote::RemoteSlideOptions opt;
  opt.stream_min_bytes = 0;
  opt.tile_parts = 4;  // asked for, not offered: one request
  auto remote = RemoteSlide::open(s.url("vs-remote-0001"), opt);
  ASSERT_TRUE(remote.ok());
  const auto before = (*remote)->stats().requests;
  ASSERT_TRUE((*remote)->read(TileKey{0, 0, 0, 0, 0, 0}).ok());
  EXPECT_EQ((*remote)->stats().requests, before + 1);
}

TEST(RemoteRoundTrip, UnixSocketForSameHostClients) {
  TempDir dir;
  testing::RemoteSlideSpec spec;
  spec.width = 320;
  spec.height = 240;
  const std::string path = testing::make_remote_test_slide(dir, spec);
  remote::TileServerOptions options;
  options.bind = "ipc://" + dir.file("tiles.sock");
  auto server = testing::start_test_server({path}, options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->endpoint(), options.bind);
  remote::RemoteSlideOptions opt;
  opt.stream_min_bytes = 0;  // streamed reads too
  opt.tile_parts = 2;
  auto remote = RemoteSlide::open(server->endpoint() + "/vs-remote-0001", opt);
  ASSERT_TRUE(remote.ok()) << remote.status().to_string();
  auto local = Hdf5Slide::open(path);
  ASSERT_TRUE(local.ok());
  expect_tiles_bit_exact(**local, **remote);
}

// Flips one byte in the middle of `key`'s stored chunk, in place (the
// server's mapping of the file sees the change).
void flip_stored_byte(const std::string& path, const TileKey& key) {
  std::vector<uint8_t> chunk;
  {
    auto s = Hdf5Slide::open(path);
    ASSERT_TRUE(s.ok());
    auto st = (*s)->read_chunk(key);
    ASSERT_TRUE(st.ok()) << st.status().to_string();
    chunk = st->blocks.at(0).bytes;
  }
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  std::string file((std::istreambuf_iterator<char>(f)), {});
  const auto at = file.find(std::string(chunk.begin(), chunk.end()));
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(file.find(std::string(chunk.begin(), chunk.end()), at + 1), std::string::npos);
  f.seekp(std::streamoff(at + chunk.size() / 2));
  f.put(char(file[at + chunk.size() / 2] ^ 0x20));
}

// A server checks a stored chunk the first time it sends it; the client
// checks every chunk it receives, so bytes that change later are caught too
// (by the client, or by the server, which reopens a file that changed under
// it and checks that chunk again).
TEST(RemoteRoundTrip, CorruptChunkRefusedBeforeAndAfterTheServersFirstCheck) {
  Served s;
  const TileKey before{0, 1, 1, 0, 0, 0}, after{1, 0, 0, 0, 0, 0};
  flip_stored_byte(s.path, before);
  auto r = RemoteSlide::open(s.url("vs-remote-0001"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  for (int i = 0; i < 2; ++i) {  // still refused the second time: a failed check is not remembered as passed
    auto chunk = (*r)->read_chunk(before);
    EXPECT_EQ(chunk.status().code(), StatusCode::kCorruption) << chunk.status().to_string();
    EXPECT_NE(chunk.status().message().find("checksum"), std::string::npos) << chunk.status().to_string();
    EXPECT_EQ((*r)->read(before).status().code(), StatusCode::kCorruption);
  }

  ASSERT_TRUE((*r)->read_chunk(after).ok());  // sent and checked by the server once
  ASSERT_TRUE((*r)->read(after).ok());
  flip_stored_byte(s.path, after);
  auto chunk = (*r)->read_chunk(after);
  EXPECT_EQ(chunk.status().code(), StatusCode::kCorruption) << chunk.status().to_string();
  EXPECT_NE(chunk.status().message().find("checksum mismatch"), std::string::npos) << chunk.status().to_string();
  EXPECT_EQ((*r)->read(after).status().code(), StatusCode::kCorruption);
  EXPECT_EQ((*r)->read_chunks({after})[0].status().code(), StatusCode::kCorruption);
}

TEST(RemoteRoundTrip, NoServerMeansUnavailableAfterRetry) {
  remote::RemoteSlideOptions opt;
  opt.timeout_ms = 150;
  // A port nobody listens on: bind and close one to find it.
  std::string endpoint;
  {
    zmq::context_t ctx;
    zmq::socket_t probe(ctx, zmq::socket_type::router);
    probe.bind("tcp://127.0.0.1:*");
    endpoint = probe.get(zmq::sockopt::last_endpoint);
  }
  auto r = RemoteSlide::open(endpoint + "/vs-x", opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("2 tries"), std::string::npos) << r.status().message();
  EXPECT_EQ(RemoteSlide::open("tcp://127.0.0.1/vs").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vslide
