// A peer's tile index JSON (remote::index_from_json): counts are integers in
// range, never converted from a float (fuzz_slide_json: planes_per_field
// 3.3e24 was an undefined float-to-int conversion).
#include <gtest/gtest.h>

#include "vslide/remote/protocol.h"

namespace vslide::remote {
namespace {

TEST(IndexJson, PlanesPerFieldAndSlotAreIntegersInRange) {
  auto ok = index_from_json(nlohmann::json::parse(
      R"({"planes_per_field":2,"fields":[{"row":0,"col":1,"slot":0,"planes":"11"}]})"));
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->planes_per_field(), 2);
  for (const char* bad : {R"({"planes_per_field":3.3e24,"fields":[]})", R"({"planes_per_field":2.5,"fields":[]})",
                          R"({"planes_per_field":0,"fields":[]})"}) {
    auto r = index_from_json(nlohmann::json::parse(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("tile index: planes_per_field"), std::string::npos) << r.status().message();
  }
  auto slot = index_from_json(nlohmann::json::parse(
      R"({"planes_per_field":1,"fields":[{"row":0,"col":0,"slot":1e30,"planes":"1"}]})"));
  ASSERT_FALSE(slot.ok());
  EXPECT_NE(slot.status().message().find("slot 1e+30 is not an integer"), std::string::npos) << slot.status().message();
}

}  // namespace
}  // namespace vslide::remote

namespace vslide::remote {
namespace {

TEST(IndexJson, TileMetadataSizesAreIntegersInRange) {
  // fuzz_slide_json: a block width of 1.1e72 was converted to int.
  const char* bad = R"({"key":{"row":0,"col":1,"channel":1},"codec":{"name":"blosc-lz4-bitshuffle","family":"blosc",
    "compressor":"lz4","shuffle":2,"level":5,"blocksize":0},"height":64,"width":48,
    "blocks":[{"y":0,"x":0,"height":32,"width":1.1e72,"size":900,"checksum":"0000000000000000"}]})";
  std::vector<uint64_t> sizes;
  auto r = tile_meta_from_json(nlohmann::json::parse(bad), &sizes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'width' must be an integer"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace vslide::remote
