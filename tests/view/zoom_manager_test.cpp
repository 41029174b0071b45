#include "vslide/view/zoom_manager.h"

#include <gtest/gtest.h>

namespace vslide::view {
namespace {

TEST(ZoomManagerTest, PicksTheCoarsestLayerThatIsNotMinified) {
  ZoomManager z({1, 2, 3, 4});
  EXPECT_EQ(z.layer_for(2.0), 0);
  EXPECT_EQ(z.layer_for(1.0), 0);
  EXPECT_EQ(z.layer_for(0.6), 0);
  EXPECT_EQ(z.layer_for(0.5), 1);
  EXPECT_EQ(z.layer_for(1.0 / 8), 3);
  EXPECT_EQ(z.layer_for(0.1), 3);
  EXPECT_EQ(z.layer_for(1.0 / 16), 4);
  EXPECT_EQ(z.layer_for(1.0 / 100), 4);  // nothing coarser available
}

TEST(ZoomManagerTest, SkipsLayersThatAreNotAvailable) {
  ZoomManager z({3, 4});  // e.g. the paper's levels 8 and 16 only
  EXPECT_EQ(z.layer_for(0.5), 0);
  EXPECT_EQ(z.layer_for(0.2), 0);
  EXPECT_EQ(z.layer_for(0.125), 3);
  EXPECT_TRUE(z.has_level(0));
  EXPECT_FALSE(z.has_level(1));
}

TEST(ZoomManagerTest, ClampsToTheAllowedRange) {
  ZoomManager z({}, 1.0 / 64, 4.0);
  EXPECT_DOUBLE_EQ(z.clamp(100), 4.0);
  EXPECT_DOUBLE_EQ(z.clamp(1e-6), 1.0 / 64);
  EXPECT_DOUBLE_EQ(z.next_zoom(1.0, 10.0), 4.0);
  EXPECT_DOUBLE_EQ(z.next_zoom(1.0, 0.5), 0.5);
}

TEST(ZoomManagerTest, ExcludedRangesSnapInTheDirectionOfTravel) {
  ZoomManager z({}, 1.0 / 64, 8.0);
  ASSERT_TRUE(z.exclude(0.3, 0.7).ok());
  EXPECT_FALSE(z.allowed(0.5));
  EXPECT_TRUE(z.allowed(0.3));
  EXPECT_TRUE(z.allowed(0.7));
  EXPECT_DOUBLE_EQ(z.next_zoom(0.25, 0.4), 0.7);   // zooming in jumps over the range
  EXPECT_DOUBLE_EQ(z.next_zoom(1.0, 0.6), 0.3);    // zooming out lands below it
  EXPECT_DOUBLE_EQ(z.next_zoom(0.35, 0.35), 0.3);  // no direction: nearest end
  EXPECT_DOUBLE_EQ(z.next_zoom(0.65, 0.65), 0.7);
  EXPECT_DOUBLE_EQ(z.next_zoom(0.25, 0.2), 0.2);  // outside the range: unchanged
}

TEST(ZoomManagerTest, OverlappingExclusionsMergeAndBadRangesAreRejected) {
  ZoomManager z({}, 0.01, 10.0);
  ASSERT_TRUE(z.exclude(0.2, 0.5).ok());
  ASSERT_TRUE(z.exclude(0.4, 0.9).ok());
  ASSERT_EQ(z.excluded().size(), 1u);
  EXPECT_DOUBLE_EQ(z.next_zoom(0.1, 0.45), 0.9);
  EXPECT_FALSE(z.exclude(0.5, 0.5).ok());
  EXPECT_FALSE(z.exclude(-1, 0.5).ok());
  Status s = z.exclude(0.001, 100);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("forbid every zoom"), std::string::npos);
}

TEST(ZoomManagerTest, SnapStaysInsideTheClampRange) {
  ZoomManager z({}, 0.1, 1.0);
  ASSERT_TRUE(z.exclude(0.8, 2.0).ok());
  EXPECT_DOUBLE_EQ(z.next_zoom(0.5, 0.9), 0.8);  // upper end is beyond max: lower end
}

}  // namespace
}  // namespace vslide::view
