#include "vslide/view/tile_tree.h"

#include <gtest/gtest.h>

#include <random>

namespace vslide::view {
namespace {

// A random irregular mosaic: jittered, sheared, sparse, overlapping tiles.
std::vector<TileBounds> random_mosaic(std::mt19937& rng, int rows, int cols) {
  std::uniform_real_distribution<double> jitter(-30, 30), keep(0, 1), shear(-0.05, 0.05);
  const double w = 400, h = 300, step_x = 370, step_y = 280, s = shear(rng);
  std::vector<TileBounds> tiles;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      if (keep(rng) < 0.2) continue;  // sparse
      const double x = c * step_x + r * step_y * s + jitter(rng);
      const double y = r * step_y - c * step_x * s + jitter(rng);
      tiles.push_back(TileBounds{r, c, RectUm{x, y, x + w, y + h}});
    }
  }
  return tiles;
}

TEST(TileTreeTest, QueryMatchesBruteForceOnRandomIrregularMosaics) {
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 20; ++trial) {
    auto tiles = random_mosaic(rng, 5 + trial % 7, 6 + trial % 5);
    TileTree tree(tiles);
    ASSERT_EQ(tree.size(), tiles.size());
    const RectUm b = tree.bounds();
    std::uniform_real_distribution<double> px(b.x0 - 500, b.x1 + 500), py(b.y0 - 500, b.y1 + 500),
        size(1, 2000);
    for (int q = 0; q < 200; ++q) {
      const double x = px(rng), y = py(rng);
      const RectUm region{x, y, x + size(rng), y + size(rng)};
      std::vector<std::pair<int, int>> expected, got;
      for (const auto& t : tiles) {
        if (t.rect.intersects(region)) expected.emplace_back(t.row, t.col);
      }
      for (const auto& t : tree.query(region)) got.emplace_back(t.row, t.col);
      std::sort(expected.begin(), expected.end());
      ASSERT_EQ(got, expected) << "trial " << trial << " region " << region.to_string();
    }
  }
}

TEST(TileTreeTest, TouchingEdgesDoNotCountAndEmptyRegionsFindNothing) {
  TileTree tree({TileBounds{0, 0, RectUm{0, 0, 10, 10}}, TileBounds{0, 1, RectUm{10, 0, 20, 10}}});
  auto hits = tree.query(RectUm{10, 0, 15, 5});
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].col, 1);
  EXPECT_TRUE(tree.query(RectUm{5, 5, 5, 9}).empty());
  EXPECT_TRUE(tree.query(RectUm{100, 100, 200, 200}).empty());
  EXPECT_TRUE(TileTree().query(RectUm{0, 0, 1, 1}).empty());
}

TEST(TileTreeTest, BuildsFromTheIndexWithStagePositions) {
  MosaicGeometry g;
  g.rows = 2;
  g.cols = 2;
  g.tile_width = 100;
  g.tile_height = 50;
  g.pixel_size_um = 0.5;
  TileIndex index(1);
  index.upsert(FieldOfView{0, 0, 0, 0}, 0);
  index.upsert(FieldOfView{1, 1, 47.5, 23.0}, 1);  // sparse: (0,1), (1,0) absent
  TileTree tree(index, g);
  EXPECT_EQ(tree.size(), 2u);
  const RectUm b = tree.bounds();
  EXPECT_DOUBLE_EQ(b.x1, 47.5 + 50);
  EXPECT_DOUBLE_EQ(b.y1, 23.0 + 25);
  auto hits = tree.query(RectUm{49, 24, 60, 30});
  ASSERT_EQ(hits.size(), 2u);  // the overlap holds both tiles
}

}  // namespace
}  // namespace vslide::view
