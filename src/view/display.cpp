#include "vslide/view/display.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace vslide::view {

Result<DisplaySettings> DisplaySettings::from_channel_table(const std::vector<ChannelInfo>& table,
                                                            const std::vector<int32_t>& which) {
  DisplaySettings s;
  std::vector<int32_t> list = which;
  if (list.empty()) {
    for (size_t i = 0; i < table.size(); ++i) list.push_back(int32_t(i));
  }
  for (int32_t c : list) {
    if (c < 0 || size_t(c) >= table.size()) {
      return Status::invalid_argument("unknown channel " + std::to_string(c) + ": the slide has " +
                                      std::to_string(table.size()) + " channels (0.." +
                                      std::to_string(int(table.size()) - 1) + ")");
    }
    const ChannelInfo& info = table[size_t(c)];
    ChannelDisplay d;
    d.channel = c;
    d.color = info.color;
    d.low = info.contrast_low;
    d.high = info.contrast_high;
    if (!(d.high > d.low)) d.high = d.low + 1;  // a degenerate stored window still displays
    s.channels.push_back(d);
  }
  return s;
}

Status DisplaySettings::validate(int32_t slide_channels) const {
  if (channels.empty()) return Status::invalid_argument("no channel to display");
  std::set<int32_t> seen;
  for (const auto& c : channels) {
    const std::string name = "channel " + std::to_string(c.channel);
    if (c.channel < 0 || c.channel >= slide_channels) {
      return Status::invalid_argument("unknown channel " + std::to_string(c.channel) + ": the slide has " +
                                      std::to_string(slide_channels) + " channels");
    }
    if (!seen.insert(c.channel).second) return Status::invalid_argument(name + " is listed twice");
    if (!(c.low < c.high) || !std::isfinite(c.low) || !std::isfinite(c.high)) {
      return Status::invalid_argument(name + ": contrast low " + std::to_string(int64_t(c.low)) +
                                      " must be below high " + std::to_string(int64_t(c.high)));
    }
    if (!gamma_in_range(c.gamma)) {
      char text[96];
      std::snprintf(text, sizeof text, ": gamma %g is outside the accepted range %g to %g", double(c.gamma),
                    kMinGamma, kMaxGamma);
      return Status::invalid_argument(name + text);
    }
  }
  return Status();
}

int DisplaySettings::position_of(int32_t channel) const {
  for (size_t i = 0; i < channels.size(); ++i) {
    if (channels[i].channel == channel) return int(i);
  }
  return -1;
}

std::array<float, 3> mix_pixel(const DisplaySettings& settings, const float* values) {
  float r = 0, g = 0, b = 0;
  for (size_t i = 0; i < settings.channels.size(); ++i) {
    const ChannelDisplay& c = settings.channels[i];
    float v = (values[i] - c.low) / (c.high - c.low);
    v = std::clamp(v, 0.0f, 1.0f);
    if (c.gamma != 1.0f) v = std::pow(v, c.gamma);
    const float s = c.enabled ? v : 0.0f;
    r += c.color.r * s;
    g += c.color.g * s;
    b += c.color.b * s;
  }
  return {std::clamp(r, 0.0f, 1.0f), std::clamp(g, 0.0f, 1.0f), std::clamp(b, 0.0f, 1.0f)};
}

void Histogram16::add(const Image16View& image) {
  for (int y = 0; y < image.height(); ++y) {
    const uint16_t* r = image.row(y);
    for (int x = 0; x < image.width(); ++x) ++counts_[r[x]];
  }
  total_ += image.pixel_count();
}

uint16_t Histogram16::percentile(double p) const {
  if (total_ == 0) return 0;
  const double target = std::clamp(p, 0.0, 1.0) * double(total_);
  uint64_t acc = 0;
  for (size_t v = 0; v < counts_.size(); ++v) {
    acc += counts_[v];
    if (double(acc) >= target && acc > 0) return uint16_t(v);
  }
  return 65535;
}

Status apply_auto_contrast(DisplaySettings& settings, const std::vector<Histogram16>& histograms,
                           double low_pct, double high_pct) {
  if (histograms.size() != settings.channels.size()) {
    return Status::internal("auto-contrast: one histogram per displayed channel expected");
  }
  if (!(low_pct >= 0 && low_pct < high_pct && high_pct <= 1)) {
    return Status::invalid_argument("auto-contrast percentiles must satisfy 0 <= low < high <= 1");
  }
  for (size_t i = 0; i < histograms.size(); ++i) {
    if (histograms[i].total() == 0) {
      return Status::failed_precondition("auto-contrast: channel " +
                                         std::to_string(settings.channels[i].channel) +
                                         " has no visible pixels to measure");
    }
    float lo = histograms[i].percentile(low_pct);
    float hi = histograms[i].percentile(high_pct);
    if (!(hi > lo)) hi = lo + 1;
    settings.channels[i].low = lo;
    settings.channels[i].high = hi;
  }
  return Status();
}

}  // namespace vslide::view
