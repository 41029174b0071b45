// Colour registration (internal to register): the offset (and optionally the
// magnification) of each channel against the reference channel, measured on
// a few fields by phase correlation of gradient-magnitude images (the
// channels show different stains, so structure, not intensity, is matched).
#pragma once

#include <string>
#include <vector>

#include "vslide/core/registration.h"
#include "vslide/core/slide_source.h"

namespace vslide::reg {

struct ColourResult {
  std::vector<ChannelOffset> offsets;  // one per channel; the reference has 0, 0, 1
  std::vector<std::string> issues;     // channels that could not be measured, and why
  double seconds = 0;
};

// `sample` are the (row, col) of the fields to measure on.
ColourResult register_colours(const SlideSource& slide, int32_t reference, int32_t z, int32_t t,
                              const std::vector<std::pair<int32_t, int32_t>>& sample, bool fit_scale,
                              unsigned threads);

}  // namespace vslide::reg
