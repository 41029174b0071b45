// Where a plane's chunks lie in the slide's image datasets (internal).
//
// Every layout stores plane p of field slot s (p = plane_index(channel, z, t),
// P planes per field) as whole chunks, so a chunk never straddles two planes:
//   linear (level 0, and every zoom level of every layout):
//            shape (S*P*H, W), extendible along axis 0; block (by, bx) of plane
//            p of slot s starts at ((s*P + p)*H + by*h, bx*w)
//   packed:  shape (R*P*H, C*W); starts at ((r*P + p)*H + by*h, c*W + bx*w)
//   grid:    shape (R, C, P, H, W), chunk (1, 1, 1, h, w);
//            starts at (r, c, p, by*h, bx*w)
#pragma once

#include <hdf5.h>

#include <vector>

#include "vslide/core/tile.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::storage_detail {

struct LevelShape {
  Layout layout = Layout::kLinear;  // zoom levels are always linear
  int32_t planes = 1;               // P
  int32_t rows = 0, cols = 0;       // R, C (packed and grid)
  int32_t height = 0, width = 0;    // plane size at this level
  int32_t chunk_h = 0, chunk_w = 0; // block size (divides the plane)

  int32_t blocks_y() const { return height / chunk_h; }
  int32_t blocks_x() const { return width / chunk_w; }
  int32_t blocks() const { return blocks_y() * blocks_x(); }
  int rank() const { return layout == Layout::kGrid ? 5 : 2; }

  std::vector<hsize_t> initial_dims() const;
  std::vector<hsize_t> max_dims() const;
  std::vector<hsize_t> chunk_dims() const;
  // First element of block `block` of plane `plane` of the field at
  // (row, col) stored in `slot`.
  std::vector<hsize_t> block_offset(int64_t slot, int32_t row, int32_t col, int32_t plane, int32_t block) const;
  // Axis-0 extent needed to hold `slot` (linear only).
  hsize_t rows_for_slot(int64_t slot) const { return hsize_t(slot + 1) * hsize_t(planes) * hsize_t(height); }
};

}  // namespace vslide::storage_detail
