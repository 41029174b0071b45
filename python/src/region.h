// read_region's fused mosaic: the export part's MosaicFuser
// (include/vslide/export/fusion.h, docs/EXPORT.md), so Python, `vslide
// export` and the viewer place, blend and shade fields by the same rules:
// registered positions where stored (stage otherwise), colour offsets,
// flat-field (FlatField::correct), linear feathering in the overlaps.
//
// Coordinates are level-0 slide pixels: (0, 0) is the top-left corner of the
// mosaic's bounding box (the fuser's default extent), x to the right, y down;
// a region [x0, x1) x [y0, y1) at level k has ceil((x1-x0)/2^k) x
// ceil((y1-y0)/2^k) pixels. Pixels no field covers are 0.
//
// Thread-safety: reads the SlideSource from several threads (allowed by
// SlideSource); the result is the caller's.
#pragma once

#include <cstdint>
#include <vector>

#include "vslide/core/slide_source.h"
#include "vslide/export/fusion.h"

namespace vslide::python {

struct RegionRequest {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // level-0 slide pixels
  int32_t level = 0;
  std::vector<int32_t> channels;  // empty: every channel
  int32_t z = 0, t = 0;
  bool flatfield = true;        // apply the stored shading model where present
  bool registered = true;       // use the registration when stored
  unsigned threads = 0;         // 0: one per core
};

struct SlideFrame {
  double origin_x_um = 0, origin_y_um = 0;  // slide position of pixel (0, 0)
  int64_t width = 0, height = 0;            // level-0 pixels of the bounding box
  bool registered = false;                  // positions come from a registration
};

// The pixel frame read_region works in (same rules as fuse_region).
Result<SlideFrame> slide_frame(const SlideSource& slide, bool registered = true);

// channels x height x width uint16, row-major, into `out` (resized).
// InvalidArgument for an empty or inverted region, an unknown channel, a
// level the slide cannot give, or a result over 4 GiB.
Status fuse_region(const SlideSource& slide, const RegionRequest& req, std::vector<uint16_t>* out,
                   int64_t* out_width, int64_t* out_height);

}  // namespace vslide::python
