// Results of the register part, stored beside the raw data and read back
// through SlideSource by every part downstream (view, export, analysis,
// Python, remote clients).
//
// Raw stays raw: stage positions in the TileIndex and the stored planes are
// never changed. A Registration says where each field really lies; a
// FlatField says how to correct a channel's illumination at display or
// analysis time.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vslide {

// Where the registration put one field of view. Same frame and convention as
// FieldOfView::stage_x_um/stage_y_um (top-left pixel, micrometres).
struct FieldPlacement {
  int32_t row = 0;
  int32_t col = 0;
  double x_um = 0;
  double y_um = 0;
  // True when at least one accepted pair tied this field to its neighbours;
  // false when the field kept its stage position (no texture, no overlap...).
  bool measured = false;
  double residual_px = 0;  // RMS disagreement with the accepted pairs touching it
};

// Offset of one colour field relative to the reference channel of the same
// field of view, in raw pixels: pixel (x, y) of the reference lies at
// (x * scale + dx_px, y * scale + dy_px) of this channel.
struct ChannelOffset {
  int32_t channel = 0;
  double dx_px = 0;
  double dy_px = 0;
  double scale = 1;
  double score = 0;  // normalised cross-correlation of the estimate (0..1)

  // The pixel of this channel's plane that pixel i of the reference
  // channel's shows, along x (source_x) or y (source_y), at zoom level
  // `level` (pixels 2^level times larger, the offset shrinking with them):
  // round(i * scale + dx_px / 2^level), nearest neighbour. The one sampling
  // rule of the renderers (GL shader, CPU reference), the export and the
  // overview. May lie outside the plane. REQUIRES: scale > 0 and finite.
  int32_t source_x(int32_t i, int32_t level) const;
  int32_t source_y(int32_t i, int32_t level) const;
};

// A field's placement in one (z, t) plane where it differs from the
// reference plane's (a time-lapse whose stage revisits each field with a new
// error, a z-stack on a drifting stage).
struct PlanePlacement {
  int32_t z = 0, t = 0;
  FieldPlacement field;
};

struct Registration {
  std::vector<FieldPlacement> fields;          // sorted by (row, col); measured on the reference plane
  std::vector<ChannelOffset> channel_offsets;  // one per channel, reference has 0,0
  int32_t reference_channel = 0;
  int32_t reference_z = 0, reference_t = 0;  // the plane `fields` were measured on
  // Sorted by (z, t, row, col), unique; only the fields of other planes whose
  // registered position differs from `fields` (vslide register --all-planes).
  std::vector<PlanePlacement> plane_fields;
  std::string report_json;  // method, thresholds, calibration, per-pair quality

  // Bisection lookup; nullptr when the field has no placement.
  const FieldPlacement* find(int32_t row, int32_t col) const;
  // The field's placement in plane (z, t): its own where stored, else find(row, col).
  const FieldPlacement* find(int32_t row, int32_t col, int32_t z, int32_t t) const;
};

// Per-channel shading model: corrected = (raw - dark) / gain(x, y), with gain
// normalised to a mean of 1. gain is tile_height x tile_width (or smaller and
// bilinearly resampled: gain_width x gain_height over the whole tile).
struct FlatField {
  int32_t channel = 0;
  int32_t gain_width = 0;
  int32_t gain_height = 0;
  std::vector<float> gain;  // row-major, gain_height x gain_width
  float dark = 0;

  bool valid() const {
    return gain_width > 0 && gain_height > 0 && gain.size() == size_t(gain_width) * size_t(gain_height);
  }
  // Gain at (u, v), the position in the tile as a fraction of its width and
  // height (0..1, any zoom level): bilinear between the grid's cell centres,
  // clamped at the border. The GL tile shader computes exactly this (float).
  // REQUIRES: valid().
  float gain_at(float u, float v) const;
  // The value shown and analysed: dark + (raw - dark) / gain. The dark level
  // is kept, so contrast windows and thresholds set on raw data still fit.
  float correct(float raw, float u, float v) const { return dark + (raw - dark) / gain_at(u, v); }
};

}  // namespace vslide
