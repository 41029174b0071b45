// A mosaic with a known truth cut from one real image (tests and `vslide
// bench register`): rows x cols overlapping fields at known integer offsets,
// the stage reporting each position with a uniform error of up to
// +-jitter_px. Thread-safety: plain function.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "vslide/core/image.h"
#include "vslide/core/slide_source.h"

namespace vslide {

struct CutMosaicSpec {
  int32_t rows = 3, cols = 3;
  int32_t tile_width = 0, tile_height = 0;  // 0: derived from the image and the overlap
  double overlap = 0.25;                    // fraction of the tile shared with a neighbour
  double jitter_px = 6;                     // stage error, uniform in +-jitter_px
  double pixel_size_um = 0.65;
  uint64_t seed = 3;
};

// The geometry the spec gives for an image of this size; InvalidArgument
// when the image is too small for it.
Result<MosaicGeometry> cut_mosaic_geometry(const Image16& image, const CutMosaicSpec& spec);

// Writes the fields (write_field + write_plane, channel 0) and returns the
// true top-left corner of each field in micrometres, in (row, col) order.
Result<std::vector<std::pair<double, double>>> write_cut_mosaic(const Image16& image, const CutMosaicSpec& spec,
                                                                SlideWriter& writer);

}  // namespace vslide
