// Shading (flat-field) correction: estimates a channel's illumination
// profile and dark level from the slide's own fields of view, as a
// microscopist would with BaSiC or CIDRE, without a separate flat-field slide.
//
// Model (per channel): raw(x, y) = dark + gain(x, y) * signal(x, y), with the
// gain the same in every field (it belongs to the optics and the camera, not
// to the specimen) and normalised to a mean of 1. The tile is divided into
// cells; for each cell the estimator pools the pixels of many fields and
// takes two levels of their distribution: the background (the histogram's
// mode) and bright content (a high quantile). If the specimen is
// statistically the same in every cell (true over many fields), each level
// is dark + gain * Q, so
//   * their difference (the spread) is proportional to the gain, free of the
//     dark level: the gain is a smooth 2-D polynomial fitted to the spreads;
//   * the fitted spread against the background is a line whose root is the
//     dark level.
// The gain is then taken from the background above that dark level (the
// mode is nearly free of sampling noise; the spread follows how much content
// each cell holds). When the dark level is known (a camera's offset), only
// that last step runs, which needs less content.
//
// Raw stays raw: the result is stored with SlideWriter::write_flatfield and
// applied at display and analysis time with FlatField::correct.
//
// Thread-safety: ShadingAccumulator is not thread-safe (one per thread, then
// merge); estimate_flatfield() reads with `threads` threads of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "vslide/core/image.h"
#include "vslide/core/registration.h"
#include "vslide/core/slide_source.h"
#include "vslide/core/status.h"

namespace vslide {

struct ShadingOptions {
  int32_t channel = 0, z = 0, t = 0;
  size_t max_fields = 200;   // fields read, spread evenly over the slide
  int32_t cells_x = 10;      // measurement cells across the tile (rows follow the aspect)
  int32_t grid_width = 64;   // stored gain grid width (height follows the aspect)
  int32_t degree = 4;        // of the smooth 2-D polynomial fitted to the cells
  int32_t stride = 2;        // pixel subsampling when pooling (1 = every pixel)
  double high_quantile = 0.99;  // bright content (the background is the histogram's mode)
  std::optional<float> dark;  // known dark level (camera offset); estimated when unset
  int threads = 0;            // 0 = hardware concurrency
  // Called (serialised) after each field read.
  std::function<void(size_t done, size_t total)> progress;
};

struct ShadingEstimate {
  FlatField flat;
  // "background" (dark level given: gain = background above it),
  // "spread-dark" (dark level from the spread between bright content and the
  // background, regressed on the background; gain = background above it) or
  // "spread" (gain from the spread itself, when the background stands less
  // than 5 counts above the estimated dark level).
  std::string method;
  bool dark_estimated = false;
  double dark_uncertainty = 0;  // standard error of an estimated dark level, counts (0 when given)
  size_t fields_used = 0;
  float gain_min = 1, gain_max = 1;  // of the stored grid
  double fit_rms = 0;          // RMS relative misfit of the polynomial to the cells
  std::vector<std::string> warnings;
};

// Pools the pixels of tiles of one size, cell by cell (compact histograms:
// exact below 1024 counts, 16-count bins above).
class ShadingAccumulator {
 public:
  // REQUIRES: width, height > 0 and options.cells_x >= 2.
  ShadingAccumulator(int32_t width, int32_t height, const ShadingOptions& options);

  // InvalidArgument when the tile's size differs from the accumulator's.
  Status add(const Image16View& tile);
  // Adds another accumulator of the same size and options.
  void merge(const ShadingAccumulator& other);
  size_t tiles() const { return tiles_; }

  // Fits the model. FailedPrecondition (saying why) when the pooled pixels
  // cannot measure a gain: no tiles, or no content brighter than the
  // background (pass a known dark level then), or a non-positive gain.
  Result<ShadingEstimate> finish(int32_t channel) const;

 private:
  double quantile(size_t cell, double q) const;
  double mode(size_t cell) const;

  int32_t width_, height_, cells_x_, cells_y_;
  ShadingOptions options_;
  std::vector<int32_t> cell_of_x_, cell_of_y_;
  std::vector<uint32_t> hist_;  // cells * kBins
  std::vector<uint64_t> count_;  // per cell
  size_t tiles_ = 0;
};

// Reads up to options.max_fields fields of the slide's (channel, z, t) and
// fits the model. InvalidArgument for a channel/z/t outside the slide;
// FailedPrecondition when fewer than 2 fields hold the plane or when
// finish() fails. Fields that fail to read are skipped with a warning.
Result<ShadingEstimate> estimate_flatfield(const SlideSource& slide, const ShadingOptions& options);

// Corrects a tile (at any zoom level) into `out` (same size):
// round(flat.correct(raw)) clamped to 0..65535. REQUIRES: flat.valid().
void apply_flatfield(const FlatField& flat, const Image16View& tile, Image16* out);

}  // namespace vslide
