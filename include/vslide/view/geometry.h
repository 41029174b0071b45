// Rectangles in the slide frame and the viewport that maps them to screen.
//
// The slide frame is in micrometres, x to the right and y down, as the stage
// reports field positions (a field's position is its tile's top-left pixel
// corner). The screen is in pixels, origin at the top-left corner of the
// output image. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>

#include "vslide/core/status.h"

namespace vslide::view {

struct RectUm {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // [x0, x1) x [y0, y1)
  double width() const { return x1 - x0; }
  double height() const { return y1 - y0; }
  bool empty() const { return !(x1 > x0) || !(y1 > y0); }
  bool intersects(const RectUm& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
  RectUm united(const RectUm& o) const;
  std::string to_string() const;
};

// What the screen shows: a centre, a zoom and an output size.
// zoom = screen pixels per raw camera pixel (1 = 1:1, 1/16 = each screen
// pixel covers 16x16 camera pixels).
struct Viewport {
  double center_x_um = 0, center_y_um = 0;
  double zoom = 1;
  int32_t width_px = 1920, height_px = 1080;
  double pixel_size_um = 0.1625;  // the slide's camera pixel, object side

  double px_per_um() const { return zoom / pixel_size_um; }
  RectUm rect_um() const;
  // The viewport showing `region` whole, centred, in an output of w x h.
  static Viewport fit(const RectUm& region, int32_t w, int32_t h, double pixel_size_um);
  // InvalidArgument for a non-positive size or zoom or a non-finite centre.
  Status validate() const;
};

}  // namespace vslide::view
