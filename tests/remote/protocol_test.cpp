// The protocol's JSON mappings and URL parsing.
#include <gtest/gtest.h>

#include "vslide/remote/protocol.h"

namespace vslide::remote {
namespace {

using nlohmann::json;

TEST(Protocol, ParsesUrls) {
  auto u = parse_remote_url("tcp://127.0.0.1:5555/vs-1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->endpoint, "tcp://127.0.0.1:5555");
  EXPECT_EQ(u->slide_id, "vs-1");
  EXPECT_FALSE(parse_remote_url("tcp://host:5555").ok());
  EXPECT_FALSE(parse_remote_url("tcp://host:5555/").ok());
  EXPECT_FALSE(parse_remote_url("tcp://host/vs").ok());
  EXPECT_FALSE(parse_remote_url("tcp://host:99999/vs").ok());
  EXPECT_FALSE(parse_remote_url("udp://host:1/vs").ok());
  auto ipc = parse_remote_url("ipc:///run/vslide/tiles.sock/vs-2");
  ASSERT_TRUE(ipc.ok()) << ipc.status().to_string();
  EXPECT_EQ(ipc->endpoint, "ipc:///run/vslide/tiles.sock");
  EXPECT_EQ(ipc->slide_id, "vs-2");
  EXPECT_FALSE(parse_remote_url("ipc:///run/vslide.sock/").ok());
  EXPECT_FALSE(parse_remote_url("ipc://vs-2").ok());
}

TEST(Protocol, KeysAreParsedStrictly) {
  auto k = key_from_json(json{{"row", 3}, {"col", 7}, {"channel", 2}, {"level", 1}});
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, (TileKey{3, 7, 2, 0, 0, 1}));
  EXPECT_FALSE(key_from_json(json{{"row", 3}}).ok());
  EXPECT_FALSE(key_from_json(json{{"row", "3"}, {"col", 1}}).ok());
  EXPECT_FALSE(key_from_json(json{{"row", 1.5}, {"col", 1}}).ok());
  EXPECT_FALSE(key_from_json(json{{"row", 1}, {"col", 1e12}}).ok());
  EXPECT_FALSE(key_from_json(json{{"row", 1}, {"col", 5000000000LL}}).ok());
  EXPECT_FALSE(key_from_json(json{{"row", 1}, {"col", 1}, {"colour", 1}}).ok());
  EXPECT_FALSE(key_from_json(json::array({1, 2})).ok());
  auto msg = key_from_json(json{{"row", 1}, {"col", "x"}}).status().message();
  EXPECT_NE(msg.find("'col'"), std::string::npos) << msg;
}

TEST(Protocol, TileMetaRoundTrips) {
  StoredTile t;
  t.key = TileKey{1, 2, 0, 0, 0, 0};
  t.codec = *CodecSpec::parse("blosc-zstd-bitshuffle");
  t.height = 48;
  t.width = 40;
  t.blocks.push_back(ChunkBlock{0, 0, 24, 40, std::vector<uint8_t>(17, 1), 0xfedcba9876543210ull});
  t.blocks.push_back(ChunkBlock{24, 0, 24, 40, std::vector<uint8_t>(5, 2), 42});
  std::vector<uint64_t> sizes;
  auto back = tile_meta_from_json(json::parse(tile_meta_to_json(t).dump()), &sizes);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->key, t.key);
  EXPECT_EQ(back->codec, t.codec);
  EXPECT_EQ(back->blocks[0].checksum, 0xfedcba9876543210ull);
  EXPECT_EQ(back->blocks[1].y, 24);
  EXPECT_EQ(sizes, (std::vector<uint64_t>{17, 5}));
  EXPECT_EQ(checksum_to_hex(42), "000000000000002a");
  EXPECT_FALSE(checksum_from_hex("2a").has_value());
  EXPECT_FALSE(checksum_from_hex("zz0000000000002a").has_value());
}

TEST(Protocol, IndexRoundTrips) {
  TileIndex index(3);
  index.upsert(FieldOfView{0, 1, 1.5, 2.5, 0.5, 100}, 4);
  index.upsert(FieldOfView{2, 0, 3, 4, 0, 0}, 0);
  index.mark_plane(0, 1, 2);
  index.mark_plane(2, 0, 0);
  auto back = index_from_json(json::parse(index_to_json(index).dump()));
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->entries().size(), 2u);
  EXPECT_EQ(back->entries()[0].field, index.entries()[0].field);
  EXPECT_EQ(back->entries()[0].slot, 4);
  EXPECT_EQ(back->entries()[0].planes, (std::vector<bool>{false, false, true}));
  EXPECT_TRUE(back->has_plane(2, 0, 0));
}

TEST(Protocol, ErrorRepliesMapToStatusCodes) {
  auto s = status_from_error_reply(error_reply(3, WireError::kUnknownSlide, "slide 'x' is not served here"), "url");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "url: unknown_slide: slide 'x' is not served here");
  EXPECT_EQ(status_from_error_reply(json{{"ok", false}}, "u").code(), StatusCode::kInternal);
  for (auto e : {WireError::kOutOfRange, WireError::kCorruption, WireError::kBusy, WireError::kVersionMismatch}) {
    EXPECT_EQ(parse_wire_error(wire_error_name(e)), e);
  }
}

}  // namespace
}  // namespace vslide::remote
