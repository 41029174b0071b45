// Issue 16: the geometry limits every slide meets wherever its geometry enters
// (file, scan request, remote server), computed in 64 bits (docs/FORMAT.md).
#include <gtest/gtest.h>

#include "vslide/core/slide_header.h"
#include "vslide/core/tile.h"

namespace vslide {
namespace {

MosaicGeometry small() {
  MosaicGeometry g;
  g.rows = 2;
  g.cols = 3;
  g.tile_height = 64;
  g.tile_width = 48;
  return g;
}

TEST(GeometryLimits, PlanesPerFieldThatWouldOverflowInt32AreRefused) {
  MosaicGeometry g = small();
  g.channels = 64;
  g.z_planes = 4096;
  g.timepoints = 100000;  // each within its own limit; 2.6e10 planes per field overflowed int32
  EXPECT_FALSE(g.valid());
  EXPECT_NE(g.invalid_reason().find("planes per field"), std::string::npos) << g.invalid_reason();
  g.timepoints = 1;
  g.z_planes = 1024;  // 65536 planes: the limit itself
  EXPECT_TRUE(g.valid()) << g.invalid_reason();
}

TEST(GeometryLimits, HugeTilesZeroSizesAndBadPixelSizesAreRefused) {
  MosaicGeometry g = small();
  g.tile_height = g.tile_width = 65536;  // 8 GiB a plane
  EXPECT_NE(g.invalid_reason().find("pixels"), std::string::npos) << g.invalid_reason();
  g = small();
  g.rows = 0;
  EXPECT_NE(g.invalid_reason().find("rows 0"), std::string::npos) << g.invalid_reason();
  g = small();
  g.pixel_size_um = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(g.valid());
  EXPECT_TRUE(small().valid());
}

TEST(GeometryLimits, GeometryJsonTakesIntegersOnly) {
  auto parse = [](const char* text) { return parse_json_as<MosaicGeometry>(text, "geometry"); };
  EXPECT_TRUE(parse(R"({"rows":3,"cols":2,"tile_height":8,"tile_width":8})").ok());
  EXPECT_FALSE(parse(R"({"rows":3.7,"cols":2,"tile_height":8,"tile_width":8})").ok());
  EXPECT_FALSE(parse(R"({"rows":"3","cols":2,"tile_height":8,"tile_width":8})").ok());
  EXPECT_FALSE(parse(R"({"rows":3,"cols":2,"tile_height":8,"tile_width":4294967304})").ok());
  EXPECT_FALSE(parse(R"({"rows":3,"cols":2,"channels":1e3,"tile_height":8,"tile_width":8})").ok());
}

}  // namespace
}  // namespace vslide
