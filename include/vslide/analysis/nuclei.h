// NucleiPipeline: nuclei in a DNA-stain (DAPI/Hoechst) channel.
//
// Gaussian smoothing, a global threshold half way between the background
// and the typical foreground level, 8-connected components, touching nuclei split by their
// distance transform (see split_touching), a size filter. Robust rather than
// fancy: it assumes nuclei brighter than a mostly dark background; nuclei
// that overlap heavily (no neck between them) stay one object.
#pragma once

#include "vslide/analysis/pipeline.h"

namespace vslide {

// Sizes are in micrometres so they mean the same at every magnification;
// each has a pixel form that, when > 0, replaces it (for uncalibrated images).
struct NucleiParams {
  double smooth_sigma_um = 0.5;  // Gaussian smoothing before the threshold
  double smooth_sigma_px = 0;
  // Automatic threshold = background + max(noise_k * noise, foreground_fraction *
  // (foreground - background)), foreground = median above Otsu's threshold.
  double noise_k = 6.0;
  double foreground_fraction = 0.5;
  double threshold = 0;          // > 0: a fixed threshold in counts (of the smoothed image)
  double min_area_um2 = 12.0;    // smaller objects are debris or cut-off slivers
  double max_area_um2 = 1000.0;  // larger ones are clumps or artefacts
  double min_area_px = 0, max_area_px = 0;
  double split_level = 0.65;      // core depth for split_touching; <= 0 or >= 1 disables splitting

  // InvalidArgument naming the bad parameter (negative sizes, min > max...).
  Status validate() const;
};

class NucleiPipeline final : public ImagePipeline {
 public:
  explicit NucleiPipeline(const NucleiParams& params = NucleiParams()) : params_(params) {}
  std::string name() const override { return "nuclei"; }
  Result<Detection> run(const Image16View& tile, const TileKey& key, const FieldOfView& field,
                        double pixel_size_um) const override;
  const NucleiParams& params() const { return params_; }

 private:
  NucleiParams params_;
};

}  // namespace vslide
