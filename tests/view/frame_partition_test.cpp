#include "vslide/view/frame_partition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace vslide::view {
namespace {

// frame.h's rule, pixel by pixel, as render_cpu applies it.
bool covers(const DrawTransform& t, int w, int h, int px, int py) {
  const float tx = std::floor((float(px) + 0.5f - t.origin_x) * t.inv_scale);
  const float ty = std::floor((float(py) + 0.5f - t.origin_y) * t.inv_scale);
  return tx >= 0 && tx < float(w) && ty >= 0 && ty < float(h);
}

TEST(FramePartitionTest, CoveredPixelsAreExactlyThoseTheSamplingRuleDraws) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> origin(-60, 160), scale(0.05f, 9.0f);
  std::uniform_int_distribution<int> size(1, 90);
  const int vw = 131, vh = 97;
  for (int trial = 0; trial < 400; ++trial) {
    DrawTransform t;
    t.origin_x = origin(rng);
    t.origin_y = origin(rng);
    t.scale = scale(rng);
    t.inv_scale = 1.0f / t.scale;
    const int w = size(rng), h = size(rng);
    const PixelRect r = covered_pixels(t, w, h, vw, vh);
    for (int py = 0; py < vh; ++py) {
      for (int px = 0; px < vw; ++px) {
        const bool inside = px >= r.x0 && px < r.x1 && py >= r.y0 && py < r.y1;
        ASSERT_EQ(inside, covers(t, w, h, px, py))
            << "trial " << trial << " pixel (" << px << "," << py << ") rect " << r.x0 << "," << r.y0 << ","
            << r.x1 << "," << r.y1;
      }
    }
  }
}

TEST(FramePartitionTest, EveryPixelBelongsToTheLastDrawCoveringIt) {
  std::mt19937 rng(11);
  const int vw = 300, vh = 220;
  for (int trial = 0; trial < 60; ++trial) {
    std::vector<PixelRect> covered;
    // A backdrop first (like the overview), then an overlapping, jittered,
    // sparse grid of tiles, an empty draw and a few stray rectangles.
    covered.push_back(PixelRect{0, 0, vw, vh});
    std::uniform_int_distribution<int> jitter(-4, 4), keep(0, 9), any(0, 299);
    for (int r = 0; r < 6; ++r) {
      for (int c = 0; c < 7; ++c) {
        if (keep(rng) == 0) continue;
        const int x = c * 45 + jitter(rng) - 10, y = r * 40 + jitter(rng) - 10;
        covered.push_back(
            PixelRect{std::max(0, x), std::max(0, y), std::min(vw, x + 50), std::min(vh, y + 44)});
      }
    }
    covered.push_back(PixelRect{});
    for (int k = 0; k < 5; ++k) {
      const int x0 = any(rng) % vw, y0 = any(rng) % vh;
      covered.push_back(
          PixelRect{x0, y0, std::min(vw, x0 + 1 + any(rng) % 80), std::min(vh, y0 + 1 + any(rng) % 60)});
    }
    if (trial % 2) covered.erase(covered.begin());  // no backdrop: gaps stay unowned
    std::vector<int> expected(size_t(vw) * size_t(vh), -1), got(size_t(vw) * size_t(vh), -1);
    for (size_t i = 0; i < covered.size(); ++i) {
      const PixelRect& r = covered[i];
      for (int y = r.y0; y < r.y1; ++y) {
        for (int x = r.x0; x < r.x1; ++x) expected[size_t(y) * vw + size_t(x)] = int(i);
      }
    }
    std::vector<OwnedRect> owned;
    partition_by_owner(covered, &owned);
    for (const OwnedRect& o : owned) {
      ASSERT_FALSE(o.rect.empty());
      for (int y = o.rect.y0; y < o.rect.y1; ++y) {
        for (int x = o.rect.x0; x < o.rect.x1; ++x) {
          ASSERT_EQ(got[size_t(y) * vw + size_t(x)], -1) << "pixel (" << x << "," << y << ") owned twice";
          got[size_t(y) * vw + size_t(x)] = int(o.draw);
        }
      }
    }
    ASSERT_EQ(got, expected) << "trial " << trial;
  }
}

TEST(FramePartitionTest, NothingToDraw) {
  std::vector<OwnedRect> owned{OwnedRect{PixelRect{0, 0, 1, 1}, 0}};
  partition_by_owner({}, &owned);
  EXPECT_TRUE(owned.empty());
  partition_by_owner({PixelRect{}, PixelRect{5, 5, 5, 9}}, &owned);
  EXPECT_TRUE(owned.empty());
}

}  // namespace
}  // namespace vslide::view
