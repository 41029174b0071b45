#include "vslide/view/tile_tree.h"

#include <algorithm>
#include <boost/geometry.hpp>
#include <boost/geometry/index/rtree.hpp>

namespace vslide::view {

namespace bg = boost::geometry;
namespace bgi = boost::geometry::index;
using Point = bg::model::point<double, 2, bg::cs::cartesian>;
using Box = bg::model::box<Point>;
using Value = std::pair<Box, uint32_t>;  // bounds, position in tiles

struct TileTree::Impl {
  std::vector<TileBounds> tiles;
  bgi::rtree<Value, bgi::rstar<16>> tree;
};

TileTree::TileTree() : impl_(std::make_unique<Impl>()) {}
TileTree::~TileTree() = default;
TileTree::TileTree(TileTree&&) noexcept = default;
TileTree& TileTree::operator=(TileTree&&) noexcept = default;

TileTree::TileTree(std::vector<TileBounds> tiles) : impl_(std::make_unique<Impl>()) {
  std::vector<Value> values;
  values.reserve(tiles.size());
  for (size_t i = 0; i < tiles.size(); ++i) {
    const RectUm& r = tiles[i].rect;
    values.emplace_back(Box(Point(r.x0, r.y0), Point(r.x1, r.y1)), uint32_t(i));
    bounds_ = bounds_.united(r);
  }
  impl_->tiles = std::move(tiles);
  impl_->tree = bgi::rtree<Value, bgi::rstar<16>>(values);  // bulk loading (packing)
  size_ = impl_->tiles.size();
}

static std::vector<TileBounds> bounds_from_index(const TileIndex& index, const MosaicGeometry& g) {
  std::vector<TileBounds> out;
  out.reserve(index.field_count());
  const double w = g.tile_width * g.pixel_size_um, h = g.tile_height * g.pixel_size_um;
  for (const auto& e : index.entries()) {
    const auto& f = e.field;
    out.push_back(
        TileBounds{f.row, f.col, RectUm{f.stage_x_um, f.stage_y_um, f.stage_x_um + w, f.stage_y_um + h}});
  }
  return out;
}

TileTree::TileTree(const TileIndex& index, const MosaicGeometry& geometry)
    : TileTree(bounds_from_index(index, geometry)) {}

std::vector<TileBounds> TileTree::query(const RectUm& region) const {
  std::vector<TileBounds> out;
  if (region.empty() || size_ == 0) return out;
  std::vector<Value> hits;
  impl_->tree.query(bgi::intersects(Box(Point(region.x0, region.y0), Point(region.x1, region.y1))),
                    std::back_inserter(hits));
  for (const auto& [box, i] : hits) {
    const TileBounds& t = impl_->tiles[i];
    // Boost's intersects is closed; the viewer wants open intersection.
    if (t.rect.intersects(region)) out.push_back(t);
  }
  std::sort(out.begin(), out.end(), [](const TileBounds& a, const TileBounds& b) {
    return std::tie(a.row, a.col) < std::tie(b.row, b.col);
  });
  return out;
}

}  // namespace vslide::view
