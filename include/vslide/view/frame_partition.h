// Which draw of a FramePlan owns each screen pixel. Under frame.h's rule a
// draw covers the pixels whose centres fall on one of its texels, and the
// last draw covering a pixel decides its colour. The GPU renderer draws each
// tile only over the pixels it owns, so every pixel is shaded once however
// much the tiles overlap, and the passes of a many-channel frame need no
// ordering between tiles.
//
// Thread-safety: free functions of their arguments.
#pragma once

#include <cstdint>
#include <vector>

#include "vslide/view/frame.h"

namespace vslide::view {

// Screen pixels [x0, x1) x [y0, y1), y down.
struct PixelRect {
  int32_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool empty() const { return x1 <= x0 || y1 <= y0; }
  int64_t area() const { return empty() ? 0 : int64_t(x1 - x0) * int64_t(y1 - y0); }
  bool operator==(const PixelRect&) const = default;
};

// The pixels a draw of w x h texels with transform `t` covers, clipped to
// the vw x vh viewport: exactly those whose centre c gives a texel
// floor((c - origin) * inv_scale) inside the texture, evaluated in float as
// the CPU reference renderer does. Because that texel grows monotonically
// with the pixel, the covered pixels always form one rectangle.
PixelRect covered_pixels(const DrawTransform& t, int32_t w, int32_t h, int32_t vw, int32_t vh);

struct OwnedRect {
  PixelRect rect;
  uint32_t draw = 0;  // index into the covered list
};

// The part of a tile draw's covered pixels where every channel with a plane
// and a colour offset (plan.channel_offsets; frame.h's rule) also reads a
// texel inside the tile: there the draw shows all its channels. Equal to
// covered_pixels() without offsets, on the overview (level < 0) and on
// placeholders; empty when no pixel has them all.
PixelRect complete_pixels(const FramePlan& plan, const TileDraw& d, const DrawTransform& t, int32_t vw,
                          int32_t vh);

// Ownership with colour offsets: a pixel belongs to the last draw whose
// complete_pixels() hold it, else to the last draw covering it (near a
// field's edge a shifted channel reads outside the field; the field beneath
// then shows the pixel with all its channels instead of leaving that
// channel dark). Without offsets this is partition_by_owner() of the
// covered rectangles. `scratch` holds the rectangles (capacity reused).
void partition_plan(const FramePlan& plan, std::vector<PixelRect>* scratch, std::vector<OwnedRect>* out);

// Splits `covered` (one rectangle per draw, in draw order) into disjoint
// rectangles, each owned by the last draw that covers it. Their union is
// the union of `covered`. `out` is cleared first (its capacity is reused).
void partition_by_owner(const std::vector<PixelRect>& covered, std::vector<OwnedRect>* out);

}  // namespace vslide::view
