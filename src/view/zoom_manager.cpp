#include "vslide/view/zoom_manager.h"

#include <algorithm>
#include <cmath>

namespace vslide::view {

ZoomManager::ZoomManager(std::vector<int32_t> levels, double min_zoom, double max_zoom)
    : levels_(std::move(levels)), min_zoom_(min_zoom), max_zoom_(std::max(min_zoom, max_zoom)) {
  levels_.push_back(0);
  std::sort(levels_.begin(), levels_.end());
  levels_.erase(std::unique(levels_.begin(), levels_.end()), levels_.end());
  levels_.erase(std::remove_if(levels_.begin(), levels_.end(), [](int32_t l) { return l < 0 || l > 30; }),
                levels_.end());
}

Status ZoomManager::exclude(double low, double high) {
  if (!(low > 0) || !(high > low) || !std::isfinite(high)) {
    return Status::invalid_argument("excluded zoom range (" + std::to_string(low) + ", " +
                                    std::to_string(high) + ") must satisfy 0 < low < high");
  }
  if (low <= min_zoom_ && high >= max_zoom_) {
    return Status::invalid_argument("excluded zoom range (" + std::to_string(low) + ", " +
                                    std::to_string(high) + ") would forbid every zoom in [" +
                                    std::to_string(min_zoom_) + ", " + std::to_string(max_zoom_) + "]");
  }
  excluded_.push_back(ZoomRange{low, high});
  std::sort(excluded_.begin(), excluded_.end(), [](auto& a, auto& b) { return a.low < b.low; });
  std::vector<ZoomRange> merged;
  for (const auto& r : excluded_) {
    if (!merged.empty() && r.low < merged.back().high) {
      merged.back().high = std::max(merged.back().high, r.high);
    } else {
      merged.push_back(r);
    }
  }
  excluded_ = std::move(merged);
  return Status();
}

double ZoomManager::clamp(double zoom) const {
  if (!(zoom == zoom)) return min_zoom_;  // NaN
  return std::clamp(zoom, min_zoom_, max_zoom_);
}

bool ZoomManager::allowed(double zoom) const {
  if (zoom < min_zoom_ || zoom > max_zoom_) return false;
  for (const auto& r : excluded_) {
    if (zoom > r.low && zoom < r.high) return false;
  }
  return true;
}

double ZoomManager::next_zoom(double current, double requested) const {
  double z = clamp(requested);
  for (const auto& r : excluded_) {
    if (!(z > r.low && z < r.high)) continue;
    bool up;
    if (requested > current) {
      up = true;
    } else if (requested < current) {
      up = false;
    } else {
      up = (r.high - z) < (z - r.low);
    }
    double snapped = up ? r.high : r.low;
    // The snapped end may lie beyond the clamp range: take the other end.
    if (snapped > max_zoom_ || snapped < min_zoom_) snapped = up ? r.low : r.high;
    return snapped;
  }
  return z;
}

int32_t ZoomManager::layer_for(double zoom) const {
  int32_t best = 0;
  if (!(zoom > 0)) return levels_.back();
  const double inv = 1.0 / zoom;
  for (int32_t l : levels_) {
    if (std::ldexp(1.0, l) <= inv * (1 + 1e-9)) best = l;
  }
  return best;
}

bool ZoomManager::has_level(int32_t level) const {
  return std::binary_search(levels_.begin(), levels_.end(), level);
}

}  // namespace vslide::view
