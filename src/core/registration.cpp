#include "vslide/core/registration.h"

#include <algorithm>

namespace vslide {

const FieldPlacement* Registration::find(int32_t row, int32_t col) const {
  auto it = std::lower_bound(fields.begin(), fields.end(), std::pair{row, col},
                             [](const FieldPlacement& f, const std::pair<int32_t, int32_t>& k) {
                               return std::pair{f.row, f.col} < k;
                             });
  if (it == fields.end() || it->row != row || it->col != col) return nullptr;
  return &*it;
}

float FlatField::gain_at(float u, float v) const {
  const float gx = std::clamp(u * float(gain_width) - 0.5f, 0.0f, float(gain_width - 1));
  const float gy = std::clamp(v * float(gain_height) - 0.5f, 0.0f, float(gain_height - 1));
  const int x0 = int(gx), y0 = int(gy);
  const int x1 = std::min(x0 + 1, gain_width - 1), y1 = std::min(y0 + 1, gain_height - 1);
  const float fx = gx - float(x0), fy = gy - float(y0);
  auto at = [&](int x, int y) { return gain[size_t(y) * size_t(gain_width) + size_t(x)]; };
  const float top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx;
  const float bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx;
  return top + (bottom - top) * fy;
}

}  // namespace vslide
