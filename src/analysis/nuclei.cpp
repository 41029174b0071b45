#include "vslide/analysis/nuclei.h"

#include <algorithm>
#include <cmath>

#include "vslide/analysis/image_ops.h"

namespace vslide {
namespace {

struct Component {
  int64_t area = 0;
  double sum_x = 0, sum_y = 0, sum_i = 0;
  int32_t x0 = INT32_MAX, y0 = INT32_MAX, x1 = -1, y1 = -1;
  bool border = false;
};

}  // namespace

Status NucleiParams::validate() const {
  auto bad = [](const std::string& what) { return Status::invalid_argument("nuclei: " + what); };
  if (!(smooth_sigma_um >= 0) || !(smooth_sigma_px >= 0)) return bad("smoothing must be >= 0");
  if (!(threshold >= 0)) return bad("threshold must be >= 0 (0 = automatic)");
  if (!(min_area_um2 >= 0) || !(max_area_um2 > 0) || !(min_area_px >= 0) || !(max_area_px >= 0))
    return bad("area limits must be >= 0");
  if (min_area_px == 0 && max_area_px == 0 && min_area_um2 > max_area_um2)
    return bad("min area " + std::to_string(min_area_um2) + " um2 above max area " + std::to_string(max_area_um2));
  if (min_area_px > 0 && max_area_px > 0 && min_area_px > max_area_px)
    return bad("min area " + std::to_string(min_area_px) + " px above max area " + std::to_string(max_area_px));
  if (!(noise_k >= 0) || !(foreground_fraction >= 0 && foreground_fraction <= 1))
    return bad("noise_k must be >= 0 and foreground_fraction in 0..1");
  return Status();
}

Result<Detection> NucleiPipeline::run(const Image16View& tile, const TileKey& key, const FieldOfView& field,
                                      double pixel_size_um) const {
  if (tile.empty()) return Status::invalid_argument("nuclei: tile " + key.to_string() + " is empty");
  if (!(pixel_size_um > 0))
    return Status::invalid_argument("nuclei: tile " + key.to_string() + ": pixel size must be > 0");
  const int w = tile.width(), h = tile.height();
  const double px_area = pixel_size_um * pixel_size_um;

  // Smooth, then threshold half way between the background and the typical
  // foreground (the median of what Otsu calls foreground), never closer to
  // the background than a multiple of its noise: an empty tile yields
  // (almost) nothing, dim nuclei pass, and the dark seam between two bright
  // touching nuclei stays below the threshold.
  VSLIDE_RETURN_IF_ERROR(params_.validate());
  const double sigma_px =
      params_.smooth_sigma_px > 0 ? params_.smooth_sigma_px : params_.smooth_sigma_um / pixel_size_um;
  const ImageF smooth = gaussian_blur(tile, sigma_px);
  const BackgroundStats bg = background_stats(smooth);
  const float otsu = otsu_threshold(smooth);
  std::vector<float> fg;
  for (size_t i = 0; i < smooth.pixels.size(); i += 3)
    if (smooth.pixels[i] > otsu) fg.push_back(smooth.pixels[i]);
  float fg_level = otsu;
  if (!fg.empty()) {
    std::nth_element(fg.begin(), fg.begin() + ptrdiff_t(fg.size() / 2), fg.end());
    fg_level = fg[fg.size() / 2];
  }
  const float threshold =
      params_.threshold > 0
          ? float(params_.threshold)
          : bg.level + float(std::max(params_.noise_k * double(bg.noise),
                                      params_.foreground_fraction * double(fg_level - bg.level)));
  std::vector<uint8_t> mask(smooth.pixels.size());
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = smooth.pixels[i] > threshold;

  Detection d;
  d.labels.width = w;
  d.labels.height = h;
  const bool split = params_.split_level > 0 && params_.split_level < 1;
  const uint32_t n = split ? split_touching(mask, w, h, params_.split_level, &d.labels.labels)
                           : label_components(mask, w, h, &d.labels.labels);

  std::vector<Component> comps(size_t(n) + 1);
  for (int y = 0; y < h; ++y) {
    const uint16_t* row = tile.row(y);
    const uint32_t* lab = d.labels.labels.data() + size_t(y) * size_t(w);
    for (int x = 0; x < w; ++x) {
      if (!lab[x]) continue;
      Component& c = comps[lab[x]];
      ++c.area;
      c.sum_x += x;
      c.sum_y += y;
      c.sum_i += row[x];
      c.x0 = std::min(c.x0, x);
      c.y0 = std::min(c.y0, y);
      c.x1 = std::max(c.x1, x);
      c.y1 = std::max(c.y1, y);
      c.border |= x == 0 || y == 0 || x == w - 1 || y == h - 1;
    }
  }

  // Size filter, then consecutive labels for what is kept.
  const double min_px = params_.min_area_px > 0 ? params_.min_area_px : params_.min_area_um2 / px_area;
  const double max_px = params_.max_area_px > 0 ? params_.max_area_px : params_.max_area_um2 / px_area;
  d.candidates = n;
  d.rejected = {{"min_area", 0}, {"max_area", 0}};
  std::vector<uint32_t> relabel(size_t(n) + 1, 0);
  for (uint32_t l = 1; l <= n; ++l) {
    const Component& c = comps[l];
    const double area_um2 = double(c.area) * px_area;
    if (double(c.area) < min_px) {
      ++d.rejected[0].rejected;
      continue;
    }
    if (double(c.area) > max_px) {
      ++d.rejected[1].rejected;
      continue;
    }
    DetectedObject o;
    o.label = uint32_t(d.objects.size() + 1);
    relabel[l] = o.label;
    o.id = (int64_t(key.row) << 40) | (int64_t(key.col) << 20) | int64_t(o.label);
    o.key = key;
    o.x_px = c.sum_x / double(c.area) + 0.5;
    o.y_px = c.sum_y / double(c.area) + 0.5;
    o.x_um = field.stage_x_um + o.x_px * pixel_size_um;
    o.y_um = field.stage_y_um + o.y_px * pixel_size_um;
    o.area_px = c.area;
    o.area_um2 = area_um2;
    o.mean_intensity = c.sum_i / double(c.area);
    o.bbox_x0 = c.x0;
    o.bbox_y0 = c.y0;
    o.bbox_x1 = c.x1 + 1;
    o.bbox_y1 = c.y1 + 1;
    o.touches_border = c.border;
    d.objects.push_back(o);
  }
  for (uint32_t& v : d.labels.labels) v = relabel[v];
  return d;
}

}  // namespace vslide
