// Shading (flat-field) correction of planes at any pyramid level. Internal to
// the export part.
// The project's one rule (FlatField::correct, the same the viewer's shader
// draws): corrected = dark + (raw - dark) / gain_at(u, v) at the pixel
// centre's fraction (u, v) of the plane, at any level; rounded half up and
// clamped to uint16.
// Thread-safety: immutable after create(); apply() is safe from many threads.
#pragma once

#include <memory>
#include <vector>

#include "vslide/core/image.h"
#include "vslide/core/registration.h"
#include "vslide/core/status.h"
#include "vslide/core/tile.h"

namespace vslide {

class ShadingModel {
 public:
  // InvalidArgument for a gain of the wrong size or with non-positive values.
  static Result<std::unique_ptr<ShadingModel>> create(const FlatField& ff, const MosaicGeometry& g, int32_t levels);

  // Corrects a plane of `level` in place. REQUIRES: the level's plane size.
  void apply(int32_t level, Image16& plane) const;
  // Memory of the gain maps.
  size_t bytes() const {
    size_t n = 0;
    for (const auto& g : gain_) n += g.size() * sizeof(float);
    return n;
  }

 private:
  float dark_ = 0;
  std::vector<std::vector<float>> gain_;  // [level]: gain_at each pixel centre, level_width x level_height
};

}  // namespace vslide
