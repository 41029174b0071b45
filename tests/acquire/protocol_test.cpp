#include "vslide/acquire/protocol.h"

#include <gtest/gtest.h>

namespace vslide::acquire {
namespace {

ScanSpec good_spec() {
  ScanSpec s;
  s.header.slide_id = "vs-test";
  s.header.name = "plate 3 well B4";
  s.geometry.rows = 2;
  s.geometry.cols = 3;
  s.geometry.channels = 2;
  s.geometry.tile_width = 64;
  s.geometry.tile_height = 32;
  s.channels = default_channels(2);
  s.codec = CodecSpec::fast_default();
  return s;
}

TEST(Protocol, ScanSpecRoundTrips) {
  auto back = scan_spec_from_json(scan_spec_to_json(good_spec()));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->header, good_spec().header);
  EXPECT_EQ(back->geometry, good_spec().geometry);
  ASSERT_EQ(back->channels.size(), 2u);
  EXPECT_EQ(back->channels[1].name, good_spec().channels[1].name);
  EXPECT_EQ(back->channels[1].contrast_high, good_spec().channels[1].contrast_high);
  // Colours travel as #rrggbb: after one trip the spec is stable.
  EXPECT_EQ(scan_spec_from_json(scan_spec_to_json(*back))->channels, back->channels);
  EXPECT_EQ(back->codec.name(), "blosc-lz4-bitshuffle");
}

TEST(Protocol, BadHeadersAreRejectedWithTheMember) {
  auto j = scan_spec_to_json(good_spec());
  j["geometry"]["rows"] = 0;
  auto r = scan_spec_from_json(j);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("geometry"), std::string::npos) << r.status().message();

  j = scan_spec_to_json(good_spec());
  j["channels"].erase(1);
  r = scan_spec_from_json(j);
  EXPECT_NE(r.status().message().find("1 channel entries for a geometry of 2"), std::string::npos)
      << r.status().message();

  j = scan_spec_to_json(good_spec());
  j.erase("header");
  EXPECT_NE(scan_spec_from_json(j).status().message().find("no \"header\""), std::string::npos);

  j = scan_spec_to_json(good_spec());
  j["codec"] = "lzw";
  EXPECT_NE(scan_spec_from_json(j).status().message().find("unknown codec"), std::string::npos);

  j = scan_spec_to_json(good_spec());
  j["geometry"]["tile_width"] = "wide";
  EXPECT_EQ(scan_spec_from_json(j).status().code(), StatusCode::kInvalidArgument);
}

TEST(Protocol, FieldMetaRoundTripsAndChecksItsKey) {
  FieldMeta m;
  m.seq = 42;
  m.key = TileKey{1, 2, 1, 0, 0, 0};
  m.field.row = 1;
  m.field.col = 2;
  m.field.stage_x_um = 123.5;
  m.codec = CodecSpec::fast_default();
  m.width = 64;
  m.height = 32;
  m.checksum = 0xdeadbeefcafeULL;
  auto back = field_meta_from_json(field_meta_to_json(m));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->key, m.key);
  EXPECT_EQ(back->field, m.field);
  EXPECT_EQ(back->checksum, m.checksum);
  EXPECT_EQ(back->seq, 42u);

  auto j = field_meta_to_json(m);
  j["field"]["col"] = 3;
  EXPECT_NE(field_meta_from_json(j).status().message().find("stage field is (1,3)"), std::string::npos);
  j = field_meta_to_json(m);
  j.erase("checksum");
  EXPECT_NE(field_meta_from_json(j).status().message().find("no \"checksum\""), std::string::npos);
}

TEST(Protocol, ErrorRepliesCarryTheirStatus) {
  Status st = Status::already_exists("field (1,2) channel 1: duplicate");
  Status back = status_from_reply(error_reply(st));
  EXPECT_EQ(back.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(back.message(), st.message());
  EXPECT_TRUE(status_from_reply(nlohmann::json{{"type", "ack"}}).ok());
}

TEST(Protocol, MalformedMessages) {
  std::string text = "not json";
  auto r = parse_message(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), "proxy");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  text = "{\"seq\":1}";
  r = parse_message(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), "proxy");
  EXPECT_NE(r.status().message().find("no string \"type\""), std::string::npos);
  EXPECT_EQ(endpoint_host("tcp://10.0.0.5:5560"), "10.0.0.5");
  EXPECT_EQ(endpoint_host("tcp://*:5560"), "127.0.0.1");
  EXPECT_EQ(key_from_array(nlohmann::json::array({1, 2})).status().code(), StatusCode::kInvalidArgument);
}

// Row 2^32+1 used to become row 1: a peer's integers outside int32 are refused.
TEST(Protocol, KeysOutsideTheInt32RangeAreRefused) {
  FieldMeta m;
  m.key = TileKey{1, 0, 0, 0, 0, 0};
  m.field.row = 1;
  m.codec = CodecSpec::fast_default();
  m.width = m.height = 64;
  ASSERT_TRUE(field_meta_from_json(field_meta_to_json(m)).ok());
  for (const char* member : {"row", "col", "channel"}) {
    auto j = field_meta_to_json(m);
    j["key"][member] = (int64_t(1) << 32) + 1;
    if (std::string(member) == "row") j["field"]["row"] = (int64_t(1) << 32) + 1;
    auto r = field_meta_from_json(j);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << member;
    EXPECT_NE(r.status().message().find("32-bit"), std::string::npos) << r.status().message();
  }
  auto j = field_meta_to_json(m);
  j["width"] = -(int64_t(1) << 33);
  EXPECT_FALSE(field_meta_from_json(j).ok());
  EXPECT_FALSE(key_from_array(nlohmann::json::array({4294967297LL, 0, 0, 0, 0})).ok());
}

}  // namespace
}  // namespace vslide::acquire
