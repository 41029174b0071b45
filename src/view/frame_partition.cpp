#include "vslide/view/frame_partition.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vslide::view {

namespace {

// frame.h's texel index along one axis, in the float operations render_cpu uses.
inline bool covers(int32_t p, float origin, float inv_scale, int32_t size) {
  const float t = std::floor((float(p) + 0.5f - origin) * inv_scale);
  return t >= 0 && t < float(size);
}

// The covered pixels along one axis. The candidate range is render_cpu's
// (a pixel beyond the draw's edge, clipped to the viewport); the texel index
// never decreases along the axis, so the covered pixels are one interval.
void covered_axis(float origin, float scale, float inv_scale, int32_t size, int32_t n, int32_t* lo,
                  int32_t* hi) {
  const double end = double(origin) + double(size) * double(scale);
  int32_t a = int32_t(std::clamp(std::floor(double(origin)) - 1, 0.0, double(n)));
  int32_t b = int32_t(std::clamp(std::ceil(end) + 1, 0.0, double(n)));
  while (a < b && !covers(a, origin, inv_scale, size)) ++a;
  while (b > a && !covers(b - 1, origin, inv_scale, size)) --b;
  *lo = a;
  *hi = b;
}

bool intersects(const PixelRect& a, const PixelRect& b) {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

// Appends p minus b (up to four rectangles: the bands above and below b,
// then left and right of it).
void subtract(const PixelRect& p, const PixelRect& b, std::vector<PixelRect>* out) {
  if (!intersects(p, b)) {
    out->push_back(p);
    return;
  }
  const int32_t y0 = std::max(p.y0, b.y0), y1 = std::min(p.y1, b.y1);
  if (p.y0 < b.y0) out->push_back(PixelRect{p.x0, p.y0, p.x1, b.y0});
  if (b.y1 < p.y1) out->push_back(PixelRect{p.x0, b.y1, p.x1, p.y1});
  if (p.x0 < b.x0) out->push_back(PixelRect{p.x0, y0, b.x0, y1});
  if (b.x1 < p.x1) out->push_back(PixelRect{b.x1, y0, p.x1, y1});
}

constexpr int32_t kCell = 64;  // pixels per side of a cell of the lookup grid

}  // namespace

PixelRect covered_pixels(const DrawTransform& t, int32_t w, int32_t h, int32_t vw, int32_t vh) {
  PixelRect r;
  covered_axis(t.origin_x, t.scale, t.inv_scale, w, vw, &r.x0, &r.x1);
  covered_axis(t.origin_y, t.scale, t.inv_scale, h, vh, &r.y0, &r.y1);
  if (r.empty()) return PixelRect{};
  return r;
}

PixelRect complete_pixels(const FramePlan& plan, const TileDraw& d, const DrawTransform& t, int32_t vw,
                          int32_t vh) {
  PixelRect r = covered_pixels(t, d.width, d.height, vw, vh);
  if (r.empty() || d.level < 0 || d.placeholder) return r;
  const float inv_f = std::ldexp(1.0f, -d.level);
  for (size_t c = 0; c < plan.channel_offsets.size() && c < d.planes.size(); ++c) {
    if (!d.planes[c].image) continue;
    const ChannelShift sh = channel_shift(plan.channel_offsets[c]);
    if (sh.identity()) continue;
    // render_cpu's texel for channel c along one axis, in the same float
    // operations; it never decreases with the pixel, so the pixels reading
    // inside the tile form one interval of the covered ones.
    auto inside = [&](int32_t p, float origin, float d_px, int32_t size) {
      const float pt = (float(p) + 0.5f - origin) * t.inv_scale;
      const float o = d_px * inv_f + sh.half;
      const float q = pt * sh.scale;
      const float texel = std::floor(q + o);
      return texel >= 0 && texel < float(size);
    };
    while (r.x0 < r.x1 && !inside(r.x0, t.origin_x, sh.dx, d.width)) ++r.x0;
    while (r.x1 > r.x0 && !inside(r.x1 - 1, t.origin_x, sh.dx, d.width)) --r.x1;
    while (r.y0 < r.y1 && !inside(r.y0, t.origin_y, sh.dy, d.height)) ++r.y0;
    while (r.y1 > r.y0 && !inside(r.y1 - 1, t.origin_y, sh.dy, d.height)) --r.y1;
    if (r.empty()) return PixelRect{};
  }
  return r;
}

void partition_plan(const FramePlan& plan, std::vector<PixelRect>* scratch, std::vector<OwnedRect>* out) {
  const int32_t vw = plan.viewport.width_px, vh = plan.viewport.height_px;
  const size_t n = plan.tiles.size();
  scratch->clear();
  out->clear();
  if (n == 0) return;
  for (const TileDraw& d : plan.tiles) {
    const DrawTransform t = draw_transform(plan.viewport, d.x_um, d.y_um, d.um_per_texel);
    scratch->push_back(covered_pixels(t, d.width, d.height, vw, vh));
  }
  bool shrunk = false;
  for (size_t i = 0; i < n; ++i) {
    const TileDraw& d = plan.tiles[i];
    const DrawTransform t = draw_transform(plan.viewport, d.x_um, d.y_um, d.um_per_texel);
    const PixelRect c = complete_pixels(plan, d, t, vw, vh);
    shrunk = shrunk || !(c == (*scratch)[i]);
    scratch->push_back(c);
  }
  if (!shrunk) scratch->resize(n);
  // The complete rectangles come after every covered one: the last draw
  // holding a pixel completely wins over any draw merely covering it.
  partition_by_owner(*scratch, out);
  for (OwnedRect& o : *out) o.draw = uint32_t(o.draw % n);
}

void partition_by_owner(const std::vector<PixelRect>& covered, std::vector<OwnedRect>* out) {
  out->clear();
  PixelRect bounds{std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::max(),
                   std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::min()};
  for (const PixelRect& r : covered) {
    if (r.empty()) continue;
    bounds = PixelRect{std::min(bounds.x0, r.x0), std::min(bounds.y0, r.y0), std::max(bounds.x1, r.x1),
                       std::max(bounds.y1, r.y1)};
  }
  if (bounds.empty()) return;
  // Draws are visited last to first; a grid of cells lists the later draws
  // touching each cell, so a draw is only clipped against its neighbours.
  const int32_t gw = (bounds.x1 - bounds.x0 + kCell - 1) / kCell;
  const int32_t gh = (bounds.y1 - bounds.y0 + kCell - 1) / kCell;
  std::vector<std::vector<uint32_t>> cells(size_t(gw) * size_t(gh));
  std::vector<uint32_t> seen(covered.size(), std::numeric_limits<uint32_t>::max());
  std::vector<PixelRect> pieces, next;
  for (size_t i = covered.size(); i-- > 0;) {
    const PixelRect& r = covered[i];
    if (r.empty()) continue;
    const int32_t cx0 = (r.x0 - bounds.x0) / kCell, cx1 = (r.x1 - 1 - bounds.x0) / kCell;
    const int32_t cy0 = (r.y0 - bounds.y0) / kCell, cy1 = (r.y1 - 1 - bounds.y0) / kCell;
    pieces.assign(1, r);
    for (int32_t cy = cy0; cy <= cy1 && !pieces.empty(); ++cy) {
      for (int32_t cx = cx0; cx <= cx1 && !pieces.empty(); ++cx) {
        for (uint32_t j : cells[size_t(cy) * size_t(gw) + size_t(cx)]) {
          if (seen[j] == i || !intersects(covered[j], r)) continue;
          seen[j] = uint32_t(i);
          next.clear();
          for (const PixelRect& p : pieces) subtract(p, covered[j], &next);
          pieces.swap(next);
          if (pieces.empty()) break;
        }
      }
    }
    for (const PixelRect& p : pieces) out->push_back(OwnedRect{p, uint32_t(i)});
    for (int32_t cy = cy0; cy <= cy1; ++cy) {
      for (int32_t cx = cx0; cx <= cx1; ++cx)
        cells[size_t(cy) * size_t(gw) + size_t(cx)].push_back(uint32_t(i));
    }
  }
}

}  // namespace vslide::view
