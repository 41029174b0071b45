#include "slide_layout.h"

namespace vslide::storage_detail {

std::vector<hsize_t> LevelShape::initial_dims() const {
  switch (layout) {
    case Layout::kLinear: return {0, hsize_t(width)};
    case Layout::kPacked:
      return {hsize_t(rows) * hsize_t(planes) * hsize_t(height), hsize_t(cols) * hsize_t(width)};
    case Layout::kGrid: return {hsize_t(rows), hsize_t(cols), hsize_t(planes), hsize_t(height), hsize_t(width)};
  }
  return {};
}

std::vector<hsize_t> LevelShape::max_dims() const {
  auto d = initial_dims();
  if (layout == Layout::kLinear) d[0] = H5S_UNLIMITED;
  return d;
}

std::vector<hsize_t> LevelShape::chunk_dims() const {
  if (layout == Layout::kGrid) return {1, 1, 1, hsize_t(chunk_h), hsize_t(chunk_w)};
  return {hsize_t(chunk_h), hsize_t(chunk_w)};
}

std::vector<hsize_t> LevelShape::block_offset(int64_t slot, int32_t row, int32_t col, int32_t plane,
                                              int32_t block) const {
  const hsize_t by = hsize_t(block / blocks_x()), bx = hsize_t(block % blocks_x());
  const hsize_t y = by * hsize_t(chunk_h), x = bx * hsize_t(chunk_w);
  switch (layout) {
    case Layout::kLinear:
      return {(hsize_t(slot) * hsize_t(planes) + hsize_t(plane)) * hsize_t(height) + y, x};
    case Layout::kPacked:
      return {(hsize_t(row) * hsize_t(planes) + hsize_t(plane)) * hsize_t(height) + y,
              hsize_t(col) * hsize_t(width) + x};
    case Layout::kGrid: return {hsize_t(row), hsize_t(col), hsize_t(plane), y, x};
  }
  return {};
}

}  // namespace vslide::storage_detail
