// TileTree: which tiles lie under a viewport (culling, paper section 5).
//
// An R-tree (Boost.Geometry, R*-tree) over the tile bounds in the slide
// frame, built from the fields' stage positions (or registered positions),
// so irregular, sparse and sheared mosaics cull where their tiles really
// are; overlapping tiles are all returned. A query costs O(log n + k).
//
// Thread-safety: immutable after construction; query() is safe from many
// threads. Ownership: copies what it needs from the index.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "vslide/core/tile.h"
#include "vslide/view/geometry.h"

namespace vslide::view {

struct TileBounds {
  int32_t row = 0, col = 0;
  RectUm rect;  // slide-frame bounds of the whole tile
};

class TileTree {
 public:
  TileTree();
  // One entry per field in `index`: [x, x + W * px) x [y, y + H * px).
  TileTree(const TileIndex& index, const MosaicGeometry& geometry);
  explicit TileTree(std::vector<TileBounds> tiles);
  ~TileTree();
  TileTree(TileTree&&) noexcept;
  TileTree& operator=(TileTree&&) noexcept;

  // Tiles whose bounds intersect `region` (open intersection: touching edges
  // do not count), sorted by (row, col) so draw order is deterministic.
  std::vector<TileBounds> query(const RectUm& region) const;
  // Union of all tile bounds; empty rect when there are no tiles.
  RectUm bounds() const { return bounds_; }
  size_t size() const { return size_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  RectUm bounds_;
  size_t size_ = 0;
};

}  // namespace vslide::view
