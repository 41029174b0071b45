#include "vslide/view/cpu_renderer.h"

#include <algorithm>
#include <cmath>

#include "vslide/view/frame_partition.h"

namespace vslide::view {

DrawTransform draw_transform(const Viewport& viewport, double x_um, double y_um, double um_per_texel) {
  const RectUm view = viewport.rect_um();
  const double ppu = viewport.px_per_um();
  DrawTransform t;
  t.origin_x = float((x_um - view.x0) * ppu);
  t.origin_y = float((y_um - view.y0) * ppu);
  t.scale = float(um_per_texel * ppu);
  t.inv_scale = float(1.0 / (um_per_texel * ppu));
  return t;
}

ChannelShift channel_shift(const ChannelOffset& offset) {
  ChannelShift s;
  s.scale = float(offset.scale);
  s.dx = float(offset.dx_px);
  s.dy = float(offset.dy_px);
  s.half = 0.5f * (1.0f - s.scale);
  return s;
}

std::array<float, 4> screen_rect(const Viewport& viewport, const RectUm& rect) {
  const RectUm view = viewport.rect_um();
  const double ppu = viewport.px_per_um();
  return {float((rect.x0 - view.x0) * ppu), float((rect.y0 - view.y0) * ppu),
          float((rect.x1 - view.x0) * ppu), float((rect.y1 - view.y0) * ppu)};
}

std::array<float, 3> placeholder_rgb(const OverlayStyle& style, int x, int y) {
  const float k = ((x + y) / 8) % 2 == 0 ? 1.0f : 0.25f;
  return {style.placeholder_color.r * k, style.placeholder_color.g * k, style.placeholder_color.b * k};
}

Status validate_plan(const FramePlan& plan) {
  VSLIDE_RETURN_IF_ERROR(plan.viewport.validate());
  // Channel numbers were checked against the slide when the settings were
  // made; here only the window, gamma and plane counts matter.
  VSLIDE_RETURN_IF_ERROR(plan.display.validate(1 << 30));
  for (const auto& d : plan.tiles) {
    if (d.planes.size() != plan.display.channels.size()) {
      return Status::invalid_argument("tile (" + std::to_string(d.row) + "," + std::to_string(d.col) +
                                      "): " + std::to_string(d.planes.size()) + " planes for " +
                                      std::to_string(plan.display.channels.size()) + " displayed channels");
    }
    if (d.width <= 0 || d.height <= 0 || !(d.um_per_texel > 0)) {
      return Status::invalid_argument("tile (" + std::to_string(d.row) + "," + std::to_string(d.col) +
                                      "): empty draw");
    }
    for (const auto& p : d.planes) {
      if (p.image && (p.image->width() != d.width || p.image->height() != d.height)) {
        return Status::invalid_argument("tile " + p.key.to_string() + ": plane is " +
                                        std::to_string(p.image->width()) + "x" +
                                        std::to_string(p.image->height()) + ", draw expects " +
                                        std::to_string(d.width) + "x" + std::to_string(d.height));
      }
    }
  }
  if (!plan.flatfields.empty() && plan.flatfields.size() != plan.display.channels.size())
    return Status::invalid_argument(std::to_string(plan.flatfields.size()) + " flat-fields for " +
                                    std::to_string(plan.display.channels.size()) + " displayed channels");
  for (const auto& f : plan.flatfields)
    if (f && !f->valid())
      return Status::invalid_argument("flat-field of channel " + std::to_string(f->channel) + ": gain grid " +
                                      std::to_string(f->gain_width) + "x" + std::to_string(f->gain_height) +
                                      " does not match its " + std::to_string(f->gain.size()) + " values");
  if (!plan.channel_offsets.empty() && plan.channel_offsets.size() != plan.display.channels.size())
    return Status::invalid_argument(std::to_string(plan.channel_offsets.size()) + " colour offsets for " +
                                    std::to_string(plan.display.channels.size()) + " displayed channels");
  for (const auto& o : plan.channel_offsets)
    if (!(o.scale > 0) || !std::isfinite(o.scale) || !std::isfinite(o.dx_px) || !std::isfinite(o.dy_px))
      return Status::invalid_argument("colour offset of channel " + std::to_string(o.channel) + ": (" +
                                      std::to_string(o.dx_px) + ", " + std::to_string(o.dy_px) + ") scale " +
                                      std::to_string(o.scale) + " is not usable");
  for (const auto& l : plan.labels) {
    if (!l.labels || l.labels->labels.size() != size_t(l.labels->width) * size_t(l.labels->height)) {
      return Status::invalid_argument("label tile " + l.key.to_string() + ": size does not match its pixels");
    }
  }
  return Status();
}

namespace {

// Screen pixel range a draw may touch, clipped to the viewport.
struct Span {
  int x0, y0, x1, y1;
};
Span draw_span(const DrawTransform& t, int w, int h, int vw, int vh) {
  const double ex = double(t.origin_x) + double(w) * t.scale, ey = double(t.origin_y) + double(h) * t.scale;
  Span s;
  s.x0 = int(std::clamp(std::floor(double(t.origin_x)) - 1, 0.0, double(vw)));
  s.y0 = int(std::clamp(std::floor(double(t.origin_y)) - 1, 0.0, double(vh)));
  s.x1 = int(std::clamp(std::ceil(ex) + 1, 0.0, double(vw)));
  s.y1 = int(std::clamp(std::ceil(ey) + 1, 0.0, double(vh)));
  return s;
}

inline uint8_t to_u8(float v) { return uint8_t(std::clamp(v, 0.0f, 1.0f) * 255.0f + 0.5f); }

}  // namespace

Result<RgbImage> render_cpu(const FramePlan& plan) {
  VSLIDE_RETURN_IF_ERROR(validate_plan(plan));
  const int vw = plan.viewport.width_px, vh = plan.viewport.height_px;
  RgbImage out;
  out.width = vw;
  out.height = vh;
  out.pixels.assign(size_t(vw) * size_t(vh) * 3, 0);
  const size_t n = plan.display.channels.size();
  std::vector<float> values(n);
  std::vector<ChannelShift> shifts;
  for (const ChannelOffset& o : plan.channel_offsets) shifts.push_back(channel_shift(o));
  const bool any_shift = std::any_of(shifts.begin(), shifts.end(), [](const ChannelShift& s) { return !s.identity(); });

  // Each tile over its span, in order; with colour offsets then each tile
  // again over the pixels where all its channels read inside it
  // (complete_pixels): the last tile holding a pixel completely wins over one
  // that merely covers it (frame_partition.h), so no channel goes dark at a
  // field's edge where a field beneath has it.
  std::vector<std::pair<const TileDraw*, Span>> draws;
  for (const TileDraw& d : plan.tiles) {
    const DrawTransform t = draw_transform(plan.viewport, d.x_um, d.y_um, d.um_per_texel);
    draws.push_back({&d, draw_span(t, d.width, d.height, vw, vh)});
  }
  for (size_t i = 0; any_shift && i < plan.tiles.size(); ++i) {
    const TileDraw& d = plan.tiles[i];
    const DrawTransform t = draw_transform(plan.viewport, d.x_um, d.y_um, d.um_per_texel);
    const PixelRect c = complete_pixels(plan, d, t, vw, vh);
    if (!c.empty()) draws.push_back({&d, Span{c.x0, c.y0, c.x1, c.y1}});
  }
  for (const auto& [dp, s] : draws) {
    const TileDraw& d = *dp;
    const DrawTransform t = draw_transform(plan.viewport, d.x_um, d.y_um, d.um_per_texel);
    const bool shifted = any_shift && d.level >= 0;
    const float inv_f = d.level >= 0 ? std::ldexp(1.0f, -d.level) : 0.0f;
    for (int py = s.y0; py < s.y1; ++py) {
      const float py_t = (float(py) + 0.5f - t.origin_y) * t.inv_scale;
      const float ty = std::floor(py_t);
      if (ty < 0 || ty >= float(d.height)) continue;
      for (int px = s.x0; px < s.x1; ++px) {
        const float px_t = (float(px) + 0.5f - t.origin_x) * t.inv_scale;
        const float tx = std::floor(px_t);
        if (tx < 0 || tx >= float(d.width)) continue;
        std::array<float, 3> rgb;
        if (d.placeholder) {
          rgb = placeholder_rgb(plan.style, px, py);
        } else {
          for (size_t c = 0; c < n; ++c) {
            const auto& img = d.planes[c].image;
            float cx = tx, cy = ty;
            if (img && shifted) {
              const ChannelShift& sh = shifts[c];
              const float ox = sh.dx * inv_f + sh.half, oy = sh.dy * inv_f + sh.half;
              const float qx = px_t * sh.scale, qy = py_t * sh.scale;  // two roundings, as the shader
              cx = std::floor(qx + ox);
              cy = std::floor(qy + oy);
            }
            const bool inside = cx >= 0 && cx < float(d.width) && cy >= 0 && cy < float(d.height);
            values[c] = img && inside ? float(img->at(int(cx), int(cy))) : plan.display.channels[c].low;
            const FlatField* ff = c < plan.flatfields.size() ? plan.flatfields[c].get() : nullptr;
            if (img && inside && ff && d.level >= 0)
              values[c] = ff->correct(values[c], (cx + 0.5f) / float(d.width), (cy + 0.5f) / float(d.height));
          }
          rgb = mix_pixel(plan.display, values.data());
        }
        uint8_t* o = out.at(px, py);
        o[0] = to_u8(rgb[0]);
        o[1] = to_u8(rgb[1]);
        o[2] = to_u8(rgb[2]);
      }
    }
  }

  const Rgb lc = plan.style.label_color;
  for (const LabelDraw& l : plan.labels) {
    const LabelTile& lt = *l.labels;
    const DrawTransform t = draw_transform(plan.viewport, l.x_um, l.y_um, l.um_per_texel);
    const Span s = draw_span(t, lt.width, lt.height, vw, vh);
    auto label_at = [&](int x, int y) { return lt.labels[size_t(y) * size_t(lt.width) + size_t(x)]; };
    for (int py = s.y0; py < s.y1; ++py) {
      const float fy = std::floor((float(py) + 0.5f - t.origin_y) * t.inv_scale);
      if (fy < 0 || fy >= float(lt.height)) continue;
      for (int px = s.x0; px < s.x1; ++px) {
        const float fx = std::floor((float(px) + 0.5f - t.origin_x) * t.inv_scale);
        if (fx < 0 || fx >= float(lt.width)) continue;
        const int x = int(fx), y = int(fy);
        const uint32_t v = label_at(x, y);
        if (v == 0) continue;
        const bool edge =
            (x > 0 && label_at(x - 1, y) != v) || (x + 1 < lt.width && label_at(x + 1, y) != v) ||
            (y > 0 && label_at(x, y - 1) != v) || (y + 1 < lt.height && label_at(x, y + 1) != v);
        const float a = edge ? 1.0f : plan.style.label_fill_alpha;
        uint8_t* o = out.at(px, py);
        const float c[3] = {lc.r, lc.g, lc.b};
        for (int k = 0; k < 3; ++k) o[k] = to_u8(c[k] * a + (float(o[k]) / 255.0f) * (1.0f - a));
      }
    }
  }

  const Rgb oc = plan.style.outline_color;
  const float w = plan.style.outline_width_px;
  for (const RectUm& r : plan.outlines) {
    const auto q = screen_rect(plan.viewport, r);
    const int x0 = std::max(0, int(std::floor(q[0])) - 1), x1 = std::min(vw, int(std::ceil(q[2])) + 1);
    const int y0 = std::max(0, int(std::floor(q[1])) - 1), y1 = std::min(vh, int(std::ceil(q[3])) + 1);
    for (int py = y0; py < y1; ++py) {
      const float sy = float(py) + 0.5f;
      if (sy < q[1] || sy >= q[3]) continue;
      for (int px = x0; px < x1; ++px) {
        const float sx = float(px) + 0.5f;
        if (sx < q[0] || sx >= q[2]) continue;
        const bool edge = (sx - q[0]) < w || (q[2] - sx) <= w || (sy - q[1]) < w || (q[3] - sy) <= w;
        if (!edge) continue;
        uint8_t* o = out.at(px, py);
        o[0] = to_u8(oc.r);
        o[1] = to_u8(oc.g);
        o[2] = to_u8(oc.b);
      }
    }
  }
  return out;
}

}  // namespace vslide::view
