#include "vslide/analysis/image_ops.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <numeric>

namespace vslide {
namespace {

TEST(GaussianBlur, KeepsConstantsAndMass) {
  Image16 flat(40, 30);
  std::fill(flat.pixels().begin(), flat.pixels().end(), uint16_t(500));
  const ImageF f = gaussian_blur(flat, 2.0);
  for (float v : f.pixels) EXPECT_NEAR(v, 500.f, 1e-2f);

  Image16 dot(41, 41);
  dot.at(20, 20) = 10000;
  const ImageF b = gaussian_blur(dot, 1.5);
  const double mass = std::accumulate(b.pixels.begin(), b.pixels.end(), 0.0);
  EXPECT_NEAR(mass, 10000.0, 1.0);
  EXPECT_LT(b.at(20, 20), 10000.f / (2 * 3.14159 * 1.5 * 1.5) * 1.1f);
  EXPECT_NEAR(b.at(19, 20), b.at(21, 20), 1e-3f);  // symmetric
  EXPECT_NEAR(b.at(20, 19), b.at(20, 21), 1e-3f);
  EXPECT_GT(b.at(20, 20), b.at(22, 20));
}

TEST(GaussianBlur, ZeroSigmaCopiesAStridedView) {
  Image16 img(8, 6);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 8; ++x) img.at(x, y) = uint16_t(x + 10 * y);
  const ImageF f = gaussian_blur(img.view().crop(2, 1, 4, 3), 0);
  ASSERT_EQ(f.width, 4);
  ASSERT_EQ(f.height, 3);
  EXPECT_EQ(f.at(0, 0), 12.f);
  EXPECT_EQ(f.at(3, 2), 35.f);
}

TEST(BackgroundStats, MedianAndRobustNoise) {
  ImageF img{100, 100, std::vector<float>(10000)};
  // A uniform ramp 0..9999 / 100: median 50, MAD 25 -> noise 1.4826 * 25.
  for (int i = 0; i < 10000; ++i) img.pixels[size_t(i)] = float(i) / 100.f;
  const BackgroundStats s = background_stats(img);
  EXPECT_NEAR(s.level, 50.f, 0.1f);
  EXPECT_NEAR(s.noise, 1.4826f * 25.f, 0.2f);
}

TEST(Otsu, SplitsTwoModes) {
  ImageF img{100, 10, std::vector<float>(1000)};
  for (int i = 0; i < 1000; ++i) img.pixels[size_t(i)] = (i % 10 < 8 ? 200.f : 1200.f) + float(i % 7);
  const float t = otsu_threshold(img);
  EXPECT_GT(t, 206.f);
  EXPECT_LE(t, 1200.f);
}

TEST(LabelComponents, EightConnectedInRasterOrder) {
  // . # . . # #
  // # . . . . #
  // . . # # . #    the U on the right needs a union; the left pair joins diagonally
  // . . . . . #
  // # # . # # #
  const char* rows[] = {".#..##", "#....#", "..##.#", ".....#", "##.###"};
  const int w = 6, h = 5;
  std::vector<uint8_t> mask(size_t(w * h));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) mask[size_t(y * w + x)] = rows[y][x] == '#';
  std::vector<uint32_t> labels;
  const uint32_t n = label_components(mask, w, h, &labels);
  EXPECT_EQ(n, 4u);
  auto at = [&](int x, int y) { return labels[size_t(y * w + x)]; };
  EXPECT_EQ(at(1, 0), 1u);
  EXPECT_EQ(at(0, 1), 1u);  // diagonal neighbour
  EXPECT_EQ(at(4, 0), 2u);
  EXPECT_EQ(at(5, 4), 2u);
  EXPECT_EQ(at(3, 4), 2u);  // joined along the bottom
  EXPECT_EQ(at(2, 2), 3u);
  EXPECT_EQ(at(3, 2), 3u);
  EXPECT_EQ(at(0, 4), 4u);
  EXPECT_EQ(at(1, 4), 4u);
  EXPECT_EQ(at(0, 0), 0u);
}

TEST(LabelComponents, EmptyAndFullMasks) {
  std::vector<uint32_t> labels;
  EXPECT_EQ(label_components(std::vector<uint8_t>(20, 0), 5, 4, &labels), 0u);
  EXPECT_EQ(label_components(std::vector<uint8_t>(20, 1), 5, 4, &labels), 1u);
  for (uint32_t v : labels) EXPECT_EQ(v, 1u);
}

}  // namespace
}  // namespace vslide

namespace vslide {
namespace {

std::vector<uint8_t> disks(int w, int h, std::initializer_list<std::array<double, 3>> list) {
  std::vector<uint8_t> m(size_t(w * h), 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (const auto& d : list) m[size_t(y * w + x)] |= std::hypot(x - d[0], y - d[1]) <= d[2];
  return m;
}

TEST(DistanceTransform, DepthOfADisk) {
  const auto m = disks(61, 61, {{30, 30, 20}});
  const auto d = distance_transform(m, 61, 61);
  EXPECT_NEAR(d[30 * 61 + 30], 20.f, 1.5f);
  EXPECT_EQ(d[0], 0.f);
  EXPECT_NEAR(d[30 * 61 + 12], 2.f, 1.0f);  // two pixels inside the rim
}

TEST(SplitTouching, TwoDisksWithANeckSplitOneDiskDoesNot) {
  const int w = 120, h = 60;
  std::vector<uint32_t> labels;
  // Centres 36 px apart, radius 20: they overlap through a narrow neck.
  const auto pair = disks(w, h, {{40, 30, 20}, {76, 30, 20}});
  ASSERT_EQ(label_components(pair, w, h, &labels), 1u);
  ASSERT_EQ(split_touching(pair, w, h, 0.5, &labels), 2u);
  EXPECT_EQ(labels[30 * w + 30], 1u);
  EXPECT_EQ(labels[30 * w + 86], 2u);
  for (size_t i = 0; i < pair.size(); ++i) EXPECT_EQ(labels[i] != 0, pair[i] != 0);  // nothing lost or added
  const auto one = disks(w, h, {{60, 30, 25}});
  EXPECT_EQ(split_touching(one, w, h, 0.5, &labels), 1u);
}

}  // namespace
}  // namespace vslide
