#include "vslide/core/registration.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>

namespace vslide {

const FieldPlacement* Registration::find(int32_t row, int32_t col) const {
  auto it = std::lower_bound(fields.begin(), fields.end(), std::pair{row, col},
                             [](const FieldPlacement& f, const std::pair<int32_t, int32_t>& k) {
                               return std::pair{f.row, f.col} < k;
                             });
  if (it == fields.end() || it->row != row || it->col != col) return nullptr;
  return &*it;
}

const FieldPlacement* Registration::find(int32_t row, int32_t col, int32_t z, int32_t t) const {
  const std::array<int32_t, 4> key{z, t, row, col};
  auto it = std::lower_bound(plane_fields.begin(), plane_fields.end(), key,
                             [](const PlanePlacement& p, const std::array<int32_t, 4>& k) {
                               return std::array<int32_t, 4>{p.z, p.t, p.field.row, p.field.col} < k;
                             });
  if (it != plane_fields.end() && it->z == z && it->t == t && it->field.row == row && it->field.col == col)
    return &it->field;
  return find(row, col);
}

namespace {
int32_t source_pixel(int32_t i, double scale, double shift_px, int32_t level) {
  const double s = std::floor(double(i) * scale + shift_px / std::ldexp(1.0, level) + 0.5);
  if (!std::isfinite(s)) return INT32_MIN;  // outside any plane
  return int32_t(std::clamp(s, double(INT32_MIN), double(INT32_MAX)));
}
}  // namespace

int32_t ChannelOffset::source_x(int32_t i, int32_t level) const {
  return source_pixel(i, scale, dx_px, level);
}
int32_t ChannelOffset::source_y(int32_t i, int32_t level) const {
  return source_pixel(i, scale, dy_px, level);
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
