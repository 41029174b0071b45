// DisplaySettings: how channel intensities become screen colours (paper,
// section 5.2, equations 2 and 3).
//
// For each displayed channel c with raw intensity l:
//   v_c   = clamp((l - low_c) / (high_c - low_c), 0, 1)      contrast window
//   v_c  := v_c ^ gamma_c                                     gamma
//   rgb   = clamp(sum_c mixer_c * status_c * v_c, 0, 1)       mixer and status matrices
// where mixer_c is the channel's display colour (a column of the 3 x N mixer
// matrix) and status_c is 1 for a channel switched on, 0 for one switched off.
// Both renderers (GPU and CPU reference) implement exactly this, in float.
//
// Thread-safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "vslide/core/image.h"
#include "vslide/core/slide_header.h"
#include "vslide/core/status.h"

namespace vslide::view {

// The gamma a channel may have, the range of the window's gamma box: beyond
// it a channel shows as all but white (below) or black (above), and a value
// such as 1e300 is not a float at all. Every way in (--gamma, a view state's
// JSON, validate()) refuses what lies outside it, naming the range.
inline constexpr double kMinGamma = 0.05;
inline constexpr double kMaxGamma = 10;
inline bool gamma_in_range(double gamma) { return gamma >= kMinGamma && gamma <= kMaxGamma; }  // false for NaN

struct ChannelDisplay {
  int32_t channel = 0;  // index into the slide's channel table
  Rgb color;            // mixer matrix column
  float low = 0;        // I_inf
  float high = 4095;    // I_sup
  float gamma = 1;
  bool enabled = true;  // status matrix diagonal
};

struct DisplaySettings {
  std::vector<ChannelDisplay> channels;

  // Defaults from the channel table (colour, contrast window), for the
  // listed channels or, when `which` is empty, for every channel.
  static Result<DisplaySettings> from_channel_table(const std::vector<ChannelInfo>& table,
                                                    const std::vector<int32_t>& which = {});
  // InvalidArgument for an unknown channel (>= slide_channels), a duplicate,
  // low >= high, a gamma outside [kMinGamma, kMaxGamma] or no channel at all.
  Status validate(int32_t slide_channels) const;
  // Position of slide channel `channel` among `channels`, or -1.
  int position_of(int32_t channel) const;
};

// Exactly the equations above for one pixel's channel values (`values`
// parallel to settings.channels); returns rgb before the 8-bit conversion,
// clamped to [0, 1]. Used by the CPU reference renderer and by tests.
std::array<float, 3> mix_pixel(const DisplaySettings& settings, const float* values);

// A 16-bit intensity histogram, for auto-contrast.
class Histogram16 {
 public:
  Histogram16() : counts_(65536, 0) {}
  void add(const Image16View& image);
  uint64_t total() const { return total_; }
  const std::vector<uint64_t>& counts() const { return counts_; }  // 65536 bins
  // Smallest value v with at least fraction `p` (0..1) of the samples <= v.
  uint16_t percentile(double p) const;

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
};

// Sets each channel's window to [percentile(low_pct), percentile(high_pct)]
// of its histogram (`histograms` parallel to settings.channels), widening a
// degenerate window to keep low < high. FailedPrecondition when a channel
// has no samples (nothing visible to measure).
Status apply_auto_contrast(DisplaySettings& settings, const std::vector<Histogram16>& histograms,
                           double low_pct = 0.005, double high_pct = 0.995);

}  // namespace vslide::view
