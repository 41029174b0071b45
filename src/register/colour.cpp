#include "colour.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "shift.h"

namespace vslide::reg {

namespace {

// A patch measurement: centre of the patch (reference pixels) and e such
// that channel(q) ~ reference(q + e) there.
struct PatchShift {
  double cx, cy, ex, ey, score;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
  return v[v.size() / 2];
}

}  // namespace

ColourResult register_colours(const SlideSource& slide, int32_t reference, int32_t z, int32_t t,
                              const std::vector<std::pair<int32_t, int32_t>>& sample, bool fit_scale,
                              unsigned threads) {
  const auto t0 = std::chrono::steady_clock::now();
  const MosaicGeometry& g = slide.geometry();
  ColourResult out;
  out.offsets.push_back(ChannelOffset{reference, 0, 0, 1, 1});
  const int32_t W = g.tile_width, H = g.tile_height;
  // One central patch, or a 3x3 grid of patches when the scale is fitted.
  const int32_t grid = fit_scale ? 3 : 1;
  const int32_t ps = std::min({fit_scale ? 512 : 1024, W / grid, H / grid});
  for (int32_t c = 0; c < g.channels; ++c) {
    if (c == reference) continue;
    std::vector<PatchShift> shifts;
    std::mutex mu;
    std::atomic<size_t> next{0};
    auto worker = [&] {
      std::vector<uint16_t> ref(size_t(W) * size_t(H)), chan(size_t(W) * size_t(H));
      for (size_t i; (i = next++) < sample.size();) {
        const auto [row, col] = sample[i];
        if (!slide.read_into(TileKey{row, col, reference, z, t, 0}, ref).ok()) continue;
        if (!slide.read_into(TileKey{row, col, c, z, t, 0}, chan).ok()) continue;
        for (int32_t gy = 0; gy < grid; ++gy) {
          for (int32_t gx = 0; gx < grid; ++gx) {
            const int32_t x0 = (W * (2 * gx + 1)) / (2 * grid) - ps / 2, y0 = (H * (2 * gy + 1)) / (2 * grid) - ps / 2;
            const FloatImage a = gradient_magnitude(crop(ref.data(), W, x0, y0, ps, ps));
            const FloatImage b = gradient_magnitude(crop(chan.data(), W, x0, y0, ps, ps));
            const ShiftEstimate e = phase_correlate_subpixel(a, b, std::min(32, ps / 4));
            if (!e.ok || !(e.score > 0.1)) continue;
            std::lock_guard lock(mu);
            shifts.push_back({x0 + ps / 2.0, y0 + ps / 2.0, e.dx, e.dy, e.score});
          }
        }
      }
    };
    std::vector<std::thread> pool;
    const unsigned n = std::max(1u, std::min<unsigned>(threads, unsigned(sample.size())));
    for (unsigned k = 1; k < n; ++k) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
    ChannelOffset o{c, 0, 0, 1, 0};
    if (shifts.size() < std::max<size_t>(1, size_t(grid * grid))) {
      out.issues.push_back("channel " + std::to_string(c) + ": no structure shared with channel " +
                           std::to_string(reference) + " in the sampled fields (empty or unrelated channel); offset left at 0");
      out.offsets.push_back(o);
      continue;
    }
    std::vector<double> ex, ey, sc;
    for (const auto& s : shifts) {
      ex.push_back(s.ex);
      ey.push_back(s.ey);
      sc.push_back(s.score);
    }
    o.score = median(sc);
    if (fit_scale) {
      // e(x) = x (1 - s) - d, the same s along both axes: least squares over the patches.
      double num = 0, den = 0;
      double ax = 0, ay = 0, aex = 0, aey = 0;
      for (const auto& s : shifts) {
        ax += s.cx;
        ay += s.cy;
        aex += s.ex;
        aey += s.ey;
      }
      const double m = double(shifts.size());
      ax /= m;
      ay /= m;
      aex /= m;
      aey /= m;
      for (const auto& s : shifts) {
        num += (s.cx - ax) * (s.ex - aex) + (s.cy - ay) * (s.ey - aey);
        den += (s.cx - ax) * (s.cx - ax) + (s.cy - ay) * (s.cy - ay);
      }
      const double alpha = den > 0 ? num / den : 0;
      o.scale = 1 - alpha;
      o.dx_px = -(aex - alpha * ax);
      o.dy_px = -(aey - alpha * ay);
    } else {
      o.dx_px = -median(ex);
      o.dy_px = -median(ey);
    }
    out.offsets.push_back(o);
  }
  std::sort(out.offsets.begin(), out.offsets.end(),
            [](const ChannelOffset& a, const ChannelOffset& b) { return a.channel < b.channel; });
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace vslide::reg
