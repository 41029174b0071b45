#include "vslide/register/shading.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <numeric>
#include <thread>

namespace vslide {
namespace {

// Compact histogram: exact below 1024 counts, 16-count bins above, so a cell
// costs 20 KB whatever the bit depth.
constexpr int kExact = 1024, kShift = 4;
constexpr size_t kBins = kExact + ((65536 - kExact) >> kShift);
inline size_t bin_of(uint16_t v) { return v < kExact ? v : kExact + size_t((v - kExact) >> kShift); }
inline double bin_low(size_t b) { return b < kExact ? double(b) : double(kExact + ((b - kExact) << kShift)); }
inline double bin_width(size_t b) { return b < kExact ? 1.0 : double(1 << kShift); }

// Least squares fit of a 2-D polynomial sum a_ij x^i y^j (i + j <= degree)
// to values at points in [-1, 1]^2: normal equations, Gaussian elimination
// with partial pivoting (a few dozen unknowns at most).
class Poly2 {
 public:
  explicit Poly2(int degree) : degree_(degree) {}
  size_t terms() const { return size_t((degree_ + 1) * (degree_ + 2) / 2); }
  void basis(double x, double y, std::vector<double>* b) const {
    b->clear();
    for (int i = 0; i <= degree_; ++i)
      for (int j = 0; i + j <= degree_; ++j) b->push_back(std::pow(x, i) * std::pow(y, j));
  }
  bool fit(const std::vector<double>& xs, const std::vector<double>& ys, const std::vector<double>& v) {
    const size_t n = terms();
    std::vector<double> a(n * (n + 1), 0.0), b;
    for (size_t k = 0; k < v.size(); ++k) {
      basis(xs[k], ys[k], &b);
      for (size_t r = 0; r < n; ++r) {
        for (size_t c = 0; c < n; ++c) a[r * (n + 1) + c] += b[r] * b[c];
        a[r * (n + 1) + n] += b[r] * v[k];
      }
    }
    for (size_t col = 0; col < n; ++col) {
      size_t piv = col;
      for (size_t r = col + 1; r < n; ++r)
        if (std::abs(a[r * (n + 1) + col]) > std::abs(a[piv * (n + 1) + col])) piv = r;
      if (std::abs(a[piv * (n + 1) + col]) < 1e-12) return false;
      for (size_t c = 0; c <= n; ++c) std::swap(a[col * (n + 1) + c], a[piv * (n + 1) + c]);
      for (size_t r = 0; r < n; ++r) {
        if (r == col) continue;
        const double f = a[r * (n + 1) + col] / a[col * (n + 1) + col];
        for (size_t c = col; c <= n; ++c) a[r * (n + 1) + c] -= f * a[col * (n + 1) + c];
      }
    }
    coef_.resize(n);
    for (size_t r = 0; r < n; ++r) coef_[r] = a[r * (n + 1) + n] / a[r * (n + 1) + r];
    return true;
  }
  double eval(double x, double y) const {
    std::vector<double> b;
    basis(x, y, &b);
    return std::inner_product(b.begin(), b.end(), coef_.begin(), 0.0);
  }

 private:
  int degree_;
  std::vector<double> coef_;
};

// Cell centre (or grid point) i of n across [0, 1], mapped to [-1, 1].
inline double centre(int i, int n) { return 2.0 * (i + 0.5) / n - 1.0; }

}  // namespace

ShadingAccumulator::ShadingAccumulator(int32_t width, int32_t height, const ShadingOptions& options)
    : width_(std::max(1, width)), height_(std::max(1, height)), options_(options) {
  cells_x_ = std::max(2, options.cells_x);
  cells_y_ = std::max(2, int32_t(std::lround(double(cells_x_) * height_ / width_)));
  cell_of_x_.resize(size_t(width_));
  cell_of_y_.resize(size_t(height_));
  for (int32_t x = 0; x < width_; ++x) cell_of_x_[size_t(x)] = int32_t(int64_t(x) * cells_x_ / width_);
  for (int32_t y = 0; y < height_; ++y) cell_of_y_[size_t(y)] = int32_t(int64_t(y) * cells_y_ / height_);
  hist_.assign(size_t(cells_x_) * size_t(cells_y_) * kBins, 0);
  count_.assign(size_t(cells_x_) * size_t(cells_y_), 0);
}

Status ShadingAccumulator::add(const Image16View& tile) {
  if (tile.width() != width_ || tile.height() != height_)
    return Status::invalid_argument("shading: tile of " + std::to_string(tile.width()) + "x" +
                                    std::to_string(tile.height()) + " for an estimate of " +
                                    std::to_string(width_) + "x" + std::to_string(height_));
  const int step = std::max(1, options_.stride);
  for (int y = 0; y < height_; y += step) {
    const uint16_t* row = tile.row(y);
    const size_t cy = size_t(cell_of_y_[size_t(y)]) * size_t(cells_x_);
    for (int x = 0; x < width_; x += step) {
      const size_t cell = cy + size_t(cell_of_x_[size_t(x)]);
      ++hist_[cell * kBins + bin_of(row[x])];
      ++count_[cell];
    }
  }
  ++tiles_;
  return Status();
}

void ShadingAccumulator::merge(const ShadingAccumulator& other) {
  if (other.hist_.size() != hist_.size()) return;
  for (size_t i = 0; i < hist_.size(); ++i) hist_[i] += other.hist_[i];
  for (size_t i = 0; i < count_.size(); ++i) count_[i] += other.count_[i];
  tiles_ += other.tiles_;
}

double ShadingAccumulator::mode(size_t cell) const {
  // The background peak: the histogram smoothed over 5 bins, its maximum
  // refined by a parabola. Unlike a low quantile it has no noise bias (the
  // noise grows with the signal, so a quantile's bias would follow the gain).
  const uint32_t* h = hist_.data() + cell * kBins;
  auto smooth = [&](size_t b) {
    double v = 0;
    for (size_t k = b >= 2 ? b - 2 : 0; k <= std::min(kBins - 1, b + 2); ++k) v += h[k];
    return v;
  };
  size_t best = 0;
  double best_v = -1;
  for (size_t b = 0; b < kBins; ++b)
    if (h[b] && smooth(b) > best_v) best_v = smooth(b), best = b;
  double x = bin_low(best) + 0.5 * bin_width(best);
  if (best > 0 && best + 1 < kBins && bin_width(best - 1) == bin_width(best + 1)) {
    const double l = smooth(best - 1), c = best_v, r = smooth(best + 1), den = l - 2 * c + r;
    if (den < 0) x += bin_width(best) * 0.5 * (l - r) / den;
  }
  return x;
}

double ShadingAccumulator::quantile(size_t cell, double q) const {
  const uint32_t* h = hist_.data() + cell * kBins;
  const double target = q * double(count_[cell]);
  double seen = 0;
  for (size_t b = 0; b < kBins; ++b) {
    if (h[b] == 0) continue;
    if (seen + h[b] >= target) return bin_low(b) + bin_width(b) * (target - seen) / double(h[b]);
    seen += h[b];
  }
  return bin_low(kBins - 1);
}

Result<ShadingEstimate> ShadingAccumulator::finish(int32_t channel) const {
  if (tiles_ == 0) return Status::failed_precondition("shading: no fields to estimate from");
  const size_t cells = count_.size();
  std::vector<double> xs, ys, low(cells), high(cells), floor5(cells);
  for (int32_t cy = 0; cy < cells_y_; ++cy)
    for (int32_t cx = 0; cx < cells_x_; ++cx) {
      const size_t c = size_t(cy) * size_t(cells_x_) + size_t(cx);
      xs.push_back(centre(cx, cells_x_));
      ys.push_back(centre(cy, cells_y_));
      low[c] = mode(c);
      high[c] = quantile(c, options_.high_quantile);
      floor5[c] = quantile(c, 0.05);
    }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + ptrdiff_t(v.size() / 2), v.end());
    return v[v.size() / 2];
  };

  ShadingEstimate est;
  est.fields_used = tiles_;
  // What each cell's gain is proportional to.
  std::vector<double> measure(cells);
  const double low_med = median(low);
  if (options_.dark && low_med - double(*options_.dark) >= 5.0) {
    est.method = "background";
    for (size_t c = 0; c < cells; ++c) measure[c] = low[c] - double(*options_.dark);
  } else {
    est.method = "spread";
    // Noise alone puts the 90% quantile about as far above the mode as the
    // 5% quantile lies below it; content must stand well above that.
    std::vector<double> ratio(cells);
    for (size_t c = 0; c < cells; ++c) {
      measure[c] = high[c] - low[c];
      ratio[c] = measure[c] / std::max(1.0, low[c] - floor5[c]);
    }
    if (median(ratio) < 8.0)
      return Status::failed_precondition(
          "shading: the fields show too little content above their background to measure the gain (" +
          std::to_string(tiles_) + " fields); give the camera's dark level to estimate from the background");
    // The dark level from the spreads: spread = (N / B) * (background - dark)
    // over the cells. Regressed this way round (the noisy spread on the
    // precise background mode), the fit is unbiased; the other way round the
    // spread's sampling noise would flatten the slope and push the intercept
    // off. Then, as with a known dark level, the gain is the background above
    // it: the mode is nearly free of sampling noise, while the spread follows
    // how much content each cell happens to hold (7.9% gain error against
    // 2-3% on the test slide, docs/REGISTRATION.md).
    std::vector<double> spread = measure;
    {
      Poly2 smooth(std::clamp(options_.degree, 0, 8));
      if (cells >= smooth.terms() * 2 && smooth.fit(xs, ys, measure))
        for (size_t c = 0; c < cells; ++c) spread[c] = smooth.eval(xs[c], ys[c]);
    }
    const double ml = std::accumulate(low.begin(), low.end(), 0.0) / double(cells);
    const double ms = std::accumulate(spread.begin(), spread.end(), 0.0) / double(cells);
    double sll = 0, sls = 0;
    for (size_t c = 0; c < cells; ++c) {
      sll += (low[c] - ml) * (low[c] - ml);
      sls += (low[c] - ml) * (spread[c] - ms);
    }
    const double darkest = *std::min_element(floor5.begin(), floor5.end());
    if (sll > 0 && sls > 0) {
      double dark = ml - ms * sll / sls;
      // Its standard error, from the raw spreads' scatter about the line
      // (the slope's error dominates: dark = ml - ms / slope).
      const double slope = sls / sll;
      double ss = 0;
      for (size_t c = 0; c < cells; ++c) ss += std::pow(measure[c] - (ms + slope * (low[c] - ml)), 2);
      const double se_slope = std::sqrt(ss / double(std::max<size_t>(cells, 3) - 2) / sll);
      est.dark_uncertainty = ms / (slope * slope) * se_slope;
      if (est.dark_uncertainty > 2.0)
        est.warnings.push_back("dark level uncertain by +-" + std::to_string(int(std::lround(est.dark_uncertainty))) +
                               " counts (too little content per cell); give --dark with the camera's offset");
      if (dark < 0 || dark > darkest) {
        est.warnings.push_back("estimated dark level " + std::to_string(dark) + " outside 0.." +
                               std::to_string(darkest) + ": clamped");
        dark = std::clamp(dark, 0.0, darkest);
      }
      if (low_med - dark >= 5.0) {
        est.method = "spread-dark";
        est.flat.dark = float(dark);
        est.dark_estimated = true;
        for (size_t c = 0; c < cells; ++c) measure[c] = low[c] - dark;
      }
    }
  }

  const int degree = std::clamp(options_.degree, 0, 8);
  Poly2 poly(degree);
  if (cells < poly.terms() * 2 || !poly.fit(xs, ys, measure))
    return Status::failed_precondition("shading: " + std::to_string(cells) + " cells cannot fit a degree " +
                                       std::to_string(degree) + " surface");
  std::vector<double> fitted(cells);
  double misfit = 0;
  for (size_t c = 0; c < cells; ++c) {
    fitted[c] = poly.eval(xs[c], ys[c]);
    if (!(fitted[c] > 0))
      return Status::failed_precondition("shading: the fitted gain is not positive everywhere (content too sparse?)");
    misfit += std::pow((measure[c] - fitted[c]) / fitted[c], 2);
  }
  est.fit_rms = std::sqrt(misfit / double(cells));

  // Dark level: low = dark + k * gain, a line over the cells.
  if (options_.dark) {
    est.flat.dark = *options_.dark;
  } else if (est.method == "spread-dark") {
    // set above
  } else {
    const double mf = std::accumulate(fitted.begin(), fitted.end(), 0.0) / double(cells);
    const double ml = std::accumulate(low.begin(), low.end(), 0.0) / double(cells);
    double sff = 0, sfl = 0;
    for (size_t c = 0; c < cells; ++c) {
      sff += (fitted[c] - mf) * (fitted[c] - mf);
      sfl += (fitted[c] - mf) * (low[c] - ml);
    }
    const double rel_range = std::sqrt(sff / double(cells)) / mf;
    if (rel_range < 0.005) {
      est.flat.dark = float(*std::min_element(floor5.begin(), floor5.end()));
      est.warnings.push_back("illumination flat within 0.5%: dark level not measurable, set to the darkest cell's 5% quantile");
    } else {
      double dark = ml - (sfl / sff) * mf;
      const double darkest = *std::min_element(floor5.begin(), floor5.end());
      if (dark < 0 || dark > darkest) {
        est.warnings.push_back("estimated dark level " + std::to_string(dark) + " outside 0.." +
                               std::to_string(darkest) + ": clamped");
        dark = std::clamp(dark, 0.0, darkest);
      }
      est.flat.dark = float(dark);
    }
    est.dark_estimated = true;
  }

  // The stored grid: the surface at the grid's cell centres, mean 1.
  FlatField& f = est.flat;
  f.channel = channel;
  f.gain_width = std::max(2, options_.grid_width);
  f.gain_height = std::max(2, int32_t(std::lround(double(f.gain_width) * height_ / width_)));
  f.gain.resize(size_t(f.gain_width) * size_t(f.gain_height));
  double sum = 0;
  for (int32_t gy = 0; gy < f.gain_height; ++gy)
    for (int32_t gx = 0; gx < f.gain_width; ++gx) {
      const double v = std::max(1e-6, poly.eval(centre(gx, f.gain_width), centre(gy, f.gain_height)));
      f.gain[size_t(gy) * size_t(f.gain_width) + size_t(gx)] = float(v);
      sum += v;
    }
  const float inv_mean = float(double(f.gain.size()) / sum);
  for (float& g : f.gain) g *= inv_mean;
  const auto [mn, mx] = std::minmax_element(f.gain.begin(), f.gain.end());
  est.gain_min = *mn;
  est.gain_max = *mx;
  if (est.gain_min < 0.2f)
    est.warnings.push_back("gain falls to " + std::to_string(est.gain_min) + " of the mean: check the estimate");
  return est;
}

Result<ShadingEstimate> estimate_flatfield(const SlideSource& slide, const ShadingOptions& options) {
  const MosaicGeometry& g = slide.geometry();
  if (options.channel < 0 || options.channel >= g.channels || options.z < 0 || options.z >= g.z_planes ||
      options.t < 0 || options.t >= g.timepoints)
    return Status::invalid_argument(slide.describe() + ": channel " + std::to_string(options.channel) + " z " +
                                    std::to_string(options.z) + " t " + std::to_string(options.t) +
                                    " is outside the slide");
  const auto index = slide.index();
  const int32_t plane = g.plane_index(options.channel, options.z, options.t);
  std::vector<const TileIndex::Entry*> present;
  for (const TileIndex::Entry& e : index->entries())
    if (index->has_plane(e.field.row, e.field.col, plane)) present.push_back(&e);
  if (present.size() < 2)
    return Status::failed_precondition(slide.describe() + ": " + std::to_string(present.size()) +
                                       " field(s) hold channel " + std::to_string(options.channel) +
                                       ": a flat-field needs many fields");
  // Evenly spread over the acquisition grid, so no region dominates.
  std::vector<const TileIndex::Entry*> work;
  const size_t n = std::min(present.size(), std::max<size_t>(2, options.max_fields));
  for (size_t i = 0; i < n; ++i) work.push_back(present[i * present.size() / n]);

  int threads = options.threads > 0 ? options.threads : int(std::thread::hardware_concurrency());
  threads = std::clamp(threads, 1, int(work.size()));
  std::vector<ShadingAccumulator> acc;
  for (int i = 0; i < threads; ++i) acc.emplace_back(g.tile_width, g.tile_height, options);
  std::atomic<size_t> next{0};
  std::mutex mu;  // guards warnings, done and progress calls
  std::vector<std::string> warnings;
  size_t done = 0;
  auto worker = [&](ShadingAccumulator& a) {
    for (size_t i = next++; i < work.size(); i = next++) {
      const TileKey key{work[i]->field.row, work[i]->field.col, options.channel, options.z, options.t, 0};
      Result<Image16> tile = slide.read(key);
      Status s = tile.ok() ? a.add(tile->view()) : tile.status();
      std::lock_guard<std::mutex> lock(mu);
      if (!s.ok()) warnings.push_back(slide.describe() + ": tile " + key.to_string() + " skipped: " + s.to_string());
      ++done;
      if (options.progress) options.progress(done, work.size());
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(worker, std::ref(acc[size_t(i)]));
  worker(acc[0]);
  for (std::thread& t : pool) t.join();
  for (int i = 1; i < threads; ++i) acc[0].merge(acc[size_t(i)]);
  if (acc[0].tiles() < 2)
    return Status::failed_precondition(slide.describe() + ": only " + std::to_string(acc[0].tiles()) +
                                       " field(s) could be read for the flat-field");

  Result<ShadingEstimate> est = acc[0].finish(options.channel);
  if (!est.ok()) return Status(est.status().code(), slide.describe() + ": " + est.status().message());
  std::sort(warnings.begin(), warnings.end());
  est->warnings.insert(est->warnings.begin(), warnings.begin(), warnings.end());
  return est;
}

void apply_flatfield(const FlatField& flat, const Image16View& tile, Image16* out) {
  const int w = tile.width(), h = tile.height();
  if (out->width() != w || out->height() != h) *out = Image16(w, h);
  // The gain varies slowly: one row of gains per row, shared by its pixels.
  std::vector<float> inv(static_cast<size_t>(w));
  for (int y = 0; y < h; ++y) {
    const float v = (float(y) + 0.5f) / float(h);
    for (int x = 0; x < w; ++x) inv[size_t(x)] = 1.0f / flat.gain_at((float(x) + 0.5f) / float(w), v);
    const uint16_t* in = tile.row(y);
    uint16_t* o = out->row(y);
    for (int x = 0; x < w; ++x) {
      const float c = flat.dark + (float(in[x]) - flat.dark) * inv[size_t(x)];
      o[x] = uint16_t(std::clamp(c + 0.5f, 0.0f, 65535.0f));
    }
  }
}

}  // namespace vslide
