#include "shading.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace vslide {

Result<std::unique_ptr<ShadingModel>> ShadingModel::create(const FlatField& ff, const MosaicGeometry& g,
                                                           int32_t levels) {
  const std::string what = "flat-field of channel " + std::to_string(ff.channel);
  if (!ff.valid()) {
    return Status::invalid_argument(what + ": gain of " + std::to_string(ff.gain.size()) + " values for " +
                                    std::to_string(ff.gain_width) + "x" + std::to_string(ff.gain_height));
  }
  for (float v : ff.gain) {
    if (!(v > 0) || !std::isfinite(v)) return Status::invalid_argument(what + ": gain values must be positive");
  }
  auto m = std::unique_ptr<ShadingModel>(new ShadingModel());
  m->dark_ = ff.dark;
  for (int32_t l = 0; l < levels; ++l) {
    const int32_t lw = g.level_width(l), lh = g.level_height(l);
    std::vector<float> g_l(size_t(lw) * size_t(lh));
    for (int32_t y = 0; y < lh; ++y) {
      for (int32_t x = 0; x < lw; ++x) {
        g_l[size_t(y) * size_t(lw) + size_t(x)] =
            ff.gain_at((float(x) + 0.5f) / float(lw), (float(y) + 0.5f) / float(lh));
      }
    }
    m->gain_.push_back(std::move(g_l));
  }
  return m;
}

void ShadingModel::apply(int32_t level, Image16& plane) const {
  const std::vector<float>& gain = gain_[size_t(level)];
  uint16_t* p = plane.data();
  for (size_t i = 0; i < plane.pixel_count(); ++i) {
    const float v = std::floor(dark_ + (float(p[i]) - dark_) / gain[i] + 0.5f);
    p[i] = uint16_t(std::clamp(v, 0.0f, 65535.0f));
  }
}

}  // namespace vslide
