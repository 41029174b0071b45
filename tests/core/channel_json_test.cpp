// The channel table's JSON (files, peers): contrast bounds are numbers in
// 0..65535, anything else an error (fuzz_slide_json: 2.2e124 was converted
// to uint16_t, undefined behaviour; -5 wrapped to 65531).
#include <gtest/gtest.h>

#include "vslide/core/slide_header.h"

namespace vslide {
namespace {

TEST(ChannelJson, ContrastBoundsAreNumbersInRange) {
  auto ok = parse_json_as<std::vector<ChannelInfo>>(
      R"([{"name":"DAPI","contrast_low":100,"contrast_high":4000.6}])", "channels");
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ((*ok)[0].contrast_low, 100);
  EXPECT_EQ((*ok)[0].contrast_high, 4001);
  auto dflt = parse_json_as<std::vector<ChannelInfo>>(R"([{"name":"DAPI"}])", "channels");
  ASSERT_TRUE(dflt.ok());
  EXPECT_EQ((*dflt)[0].contrast_high, 4095);
  struct Case {
    const char* json;
    const char* expect;
  } cases[] = {
      {R"([{"name":"a","contrast_low":2.2e124}])", "channels: contrast_low 2.2e+124 is outside 0..65535"},
      {R"([{"name":"a","contrast_low":-5}])", "channels: contrast_low -5 is outside 0..65535"},
      {R"([{"name":"a","contrast_high":65536}])", "channels: contrast_high 65536 is outside 0..65535"},
      {R"([{"name":"a","contrast_high":"9"}])", "channels: contrast_high is not a number"},
  };
  for (const auto& c : cases) {
    auto r = parse_json_as<std::vector<ChannelInfo>>(c.json, "channels");
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().message(), c.expect) << c.json;
  }
}

TEST(FieldJson, RowAndColAreInt32Integers) {
  auto ok = parse_json_as<FieldOfView>(R"({"row":2,"col":3,"stage_x_um":1.5})", "field");
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->row, 2);
  for (const char* bad : {R"({"row":3.3e24,"col":0})", R"({"row":0,"col":2.5})", R"({"row":4294967296,"col":0})"}) {
    auto r = parse_json_as<FieldOfView>(bad, "field");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("must be an integer in int32 range"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace vslide
