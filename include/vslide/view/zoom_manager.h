// ZoomManager: which zoom layer to draw for a magnification, and which
// magnifications the user may reach (paper, section 5.3).
//
// zoom = screen pixels per raw camera pixel. Layer k holds tiles downsampled
// by 2^k; the manager picks the coarsest layer whose texels are still at
// least one screen pixel (2^k <= 1/zoom), so no layer is ever minified and
// magnification samples nearest-neighbour. Zoom is clamped to
// [min_zoom, max_zoom]; excluded ranges (open intervals) are skipped by
// snapping to the nearest allowed zoom in the direction of travel.
//
// Thread-safety: plain value; const methods are safe from many threads.
#pragma once

#include <cstdint>
#include <vector>

#include "vslide/core/status.h"

namespace vslide::view {

struct ZoomRange {
  double low = 0, high = 0;  // the open interval (low, high) is not allowed
};

class ZoomManager {
 public:
  // `levels`: the layers that can be drawn (stored or computed), any order;
  // level 0 is always added. REQUIRES 0 < min_zoom <= max_zoom.
  ZoomManager(std::vector<int32_t> levels, double min_zoom = 1.0 / 1024, double max_zoom = 64);

  // Adds an excluded range; InvalidArgument unless 0 < low < high and the
  // range leaves some of [min_zoom, max_zoom] allowed.
  Status exclude(double low, double high);

  // `zoom` clamped to [min_zoom, max_zoom] (no exclusion handling).
  double clamp(double zoom) const;
  // The zoom to use when moving from `current` towards `requested`: clamped,
  // and when it falls inside an excluded range, snapped to that range's
  // upper end when zooming in, lower end when zooming out (the nearer end
  // when requested == current).
  double next_zoom(double current, double requested) const;
  bool allowed(double zoom) const;

  // Coarsest available layer with 2^k <= 1 / zoom (0 for zoom >= 1).
  int32_t layer_for(double zoom) const;
  // Every available layer, ascending.
  const std::vector<int32_t>& levels() const { return levels_; }
  bool has_level(int32_t level) const;
  double min_zoom() const { return min_zoom_; }
  double max_zoom() const { return max_zoom_; }
  const std::vector<ZoomRange>& excluded() const { return excluded_; }

 private:
  std::vector<int32_t> levels_;
  double min_zoom_, max_zoom_;
  std::vector<ZoomRange> excluded_;  // sorted, merged
};

}  // namespace vslide::view
