// The image operations the pipelines are built from: separable Gaussian
// smoothing, robust background statistics, Otsu's threshold and connected
// components. Plain functions on plain buffers; each is thread-safe on
// distinct outputs.
#pragma once

#include <cstdint>
#include <vector>

#include "vslide/core/image.h"

namespace vslide {

// A float image, row-major and contiguous.
struct ImageF {
  int width = 0, height = 0;
  std::vector<float> pixels;
  float at(int x, int y) const { return pixels[size_t(y) * size_t(width) + size_t(x)]; }
};

// Separable Gaussian blur with standard deviation `sigma_px`; the kernel is
// truncated at 3 sigma and borders replicate the edge pixel. sigma <= 0 copies.
ImageF gaussian_blur(const Image16View& src, double sigma_px);

// Median and robust noise (1.4826 * median absolute deviation) of the values.
struct BackgroundStats {
  float level = 0;
  float noise = 0;
};
BackgroundStats background_stats(const ImageF& img);

// Otsu's threshold: maximises the between-class variance of the values'
// histogram (bins of one count over [min, max]). Pixels > threshold are foreground.
float otsu_threshold(const ImageF& img);

// Labels the 8-connected components of `mask` (non-zero = foreground) with a
// two-pass union-find; labels are 1..n in raster order of each component's
// first pixel, 0 is background. Returns n.
uint32_t label_components(const std::vector<uint8_t>& mask, int width, int height, std::vector<uint32_t>* labels);

// Chamfer (3-4) distance of every foreground pixel of `mask` to the nearest
// background pixel, in pixels (about 4% accurate); 0 on the background.
// Pixels beyond the image edge count as foreground (objects cut by the edge
// are not thinned there).
std::vector<float> distance_transform(const std::vector<uint8_t>& mask, int width, int height);

// Splits touching objects: within each component of `labels`, the "cores" are
// the pixels deeper than `level` times the component's greatest depth (its
// distance transform); a component with several cores is divided between
// them by growing each core back through the component (geodesic nearest
// core). Convex objects keep one core and stay whole. Relabels 1..n in raster
// order of the cores and returns n.
uint32_t split_touching(const std::vector<uint8_t>& mask, int width, int height, double level,
                        std::vector<uint32_t>* labels);

}  // namespace vslide
