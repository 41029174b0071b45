#include "vslide/view/geometry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace vslide::view {

RectUm RectUm::united(const RectUm& o) const {
  if (empty()) return o;
  if (o.empty()) return *this;
  return RectUm{std::min(x0, o.x0), std::min(y0, o.y0), std::max(x1, o.x1), std::max(y1, o.y1)};
}

std::string RectUm::to_string() const {
  char buf[128];
  std::snprintf(buf, sizeof buf, "[%.1f, %.1f]-[%.1f, %.1f] um", x0, y0, x1, y1);
  return buf;
}

RectUm Viewport::rect_um() const {
  const double half_w = width_px / (2 * px_per_um());
  const double half_h = height_px / (2 * px_per_um());
  return RectUm{center_x_um - half_w, center_y_um - half_h, center_x_um + half_w, center_y_um + half_h};
}

Viewport Viewport::fit(const RectUm& region, int32_t w, int32_t h, double pixel_size_um) {
  Viewport v;
  v.width_px = w;
  v.height_px = h;
  v.pixel_size_um = pixel_size_um;
  v.center_x_um = (region.x0 + region.x1) / 2;
  v.center_y_um = (region.y0 + region.y1) / 2;
  const double ppu = std::min(w / std::max(region.width(), 1e-9), h / std::max(region.height(), 1e-9));
  v.zoom = ppu * pixel_size_um;
  return v;
}

Status Viewport::validate() const {
  if (width_px <= 0 || height_px <= 0 || width_px > 32768 || height_px > 32768) {
    return Status::invalid_argument("viewport size " + std::to_string(width_px) + "x" +
                                    std::to_string(height_px) + " is not in 1..32768");
  }
  if (!(zoom > 0) || !std::isfinite(zoom)) {
    return Status::invalid_argument("viewport zoom " + std::to_string(zoom) + " must be positive");
  }
  if (!std::isfinite(center_x_um) || !std::isfinite(center_y_um)) {
    return Status::invalid_argument("viewport centre is not finite");
  }
  if (!(pixel_size_um > 0)) return Status::invalid_argument("slide pixel size must be positive");
  return Status();
}

}  // namespace vslide::view
