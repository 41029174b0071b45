#include "vslide/core/image.h"

#include <algorithm>
#include <cstring>

namespace vslide {

Image16 Image16::copy_of(const Image16View& v) {
  Image16 out(v.width(), v.height());
  for (int y = 0; y < v.height(); ++y) {
    std::memcpy(out.row(y), v.row(y), size_t(v.width()) * sizeof(uint16_t));
  }
  return out;
}

bool same_pixels(const Image16View& a, const Image16View& b) {
  if (a.width() != b.width() || a.height() != b.height()) return false;
  for (int y = 0; y < a.height(); ++y) {
    if (std::memcmp(a.row(y), b.row(y), size_t(a.width()) * sizeof(uint16_t)) != 0) return false;
  }
  return true;
}

Image16 downsample(const Image16View& src, int factor) {
  if (factor <= 1) return Image16::copy_of(src);
  const int ow = (src.width() + factor - 1) / factor;
  const int oh = (src.height() + factor - 1) / factor;
  Image16 out(ow, oh);
  std::vector<uint64_t> sums(static_cast<size_t>(ow));
  std::vector<uint32_t> counts(static_cast<size_t>(ow));
  for (int oy = 0; oy < oh; ++oy) {
    std::fill(sums.begin(), sums.end(), 0);
    std::fill(counts.begin(), counts.end(), 0);
    const int y0 = oy * factor;
    const int y1 = std::min(src.height(), y0 + factor);
    for (int y = y0; y < y1; ++y) {
      const uint16_t* r = src.row(y);
      for (int x = 0; x < src.width(); ++x) {
        sums[size_t(x / factor)] += r[x];
        counts[size_t(x / factor)] += 1;
      }
    }
    uint16_t* o = out.row(oy);
    for (int ox = 0; ox < ow; ++ox) {
      o[ox] = uint16_t((sums[size_t(ox)] + counts[size_t(ox)] / 2) / counts[size_t(ox)]);
    }
  }
  return out;
}

}  // namespace vslide
