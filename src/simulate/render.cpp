// Rendering is the hot path (target >= 300 MB/s per core): every object is
// drawn only over its disk into a uint16 accumulator, the profiles come from
// small precomputed tables, and one final vectorised pass applies the
// vignetting and the sensor noise from a counter-based per-pixel hash.
#include "render.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace vslide::sim {
namespace {

constexpr double kDarkCounts = 100;      // camera offset
constexpr double kGainCountsPerE = 0.5;  // counts per photoelectron: variance = gain * signal
constexpr double kReadNoiseCounts = 2.5;
constexpr double kPsfSigmaUm = 0.12;     // in-focus point spread (0.95 NA, ~500 nm light)
constexpr double kBlurPerDefocus = 0.8;  // extra Gaussian sigma per um of defocus
constexpr double kVignetting = 0.18;     // relative fall-off at the middle of each edge
constexpr int kMaxAcc = 8191;

// 0.5 * erfc(t / sqrt 2): a blurred step, t in [-4, 4] in steps of 1/128.
struct EdgeTable {
  static constexpr int kSteps = 128, kSize = 8 * kSteps + 1;
  std::array<float, kSize> v;
  EdgeTable() {
    for (int i = 0; i < kSize; ++i) v[i] = float(0.5 * std::erfc((i / double(kSteps) - 4.0) / std::sqrt(2.0)));
  }
  float operator()(float t) const {
    if (t <= -4.f) return 1.f;
    if (t >= 4.f) return 0.f;
    return v[int((t + 4.f) * kSteps + 0.5f)];
  }
};

// exp(-q / 2) for q = d^2 / sigma^2 in [0, 16] in steps of 1/64.
struct GaussTable {
  static constexpr int kSteps = 64, kSize = 16 * kSteps + 1;
  std::array<float, kSize> v;
  GaussTable() {
    for (int i = 0; i < kSize; ++i) v[i] = float(std::exp(-0.5 * i / double(kSteps)));
  }
  float operator()(float q) const { return q >= 16.f ? 0.f : v[int(q * kSteps + 0.5f)]; }
};

const EdgeTable& edge_table() { static const EdgeTable t; return t; }
const GaussTable& gauss_table() { static const GaussTable t; return t; }

// The accumulator (counts above the dark offset, before vignetting) and the
// mapping from pixels to specimen micrometres.
struct Canvas {
  uint16_t* acc;
  int w, h;
  double x0, y0, p;

  // Calls f(dx_um, dy_um) -> counts for each pixel centre within `reach` of
  // (cx, cy): the disk's span is computed per row, so corners cost nothing.
  template <typename F>
  void draw(double cx, double cy, double reach, F&& f) {
    const int v0 = std::max(0, int(std::floor((cy - reach - y0) / p)));
    const int v1 = std::min(h - 1, int(std::ceil((cy + reach - y0) / p)));
    const double r2 = reach * reach;
    for (int v = v0; v <= v1; ++v) {
      const double dyd = y0 + (v + 0.5) * p - cy;
      if (dyd * dyd >= r2) continue;
      const double half = std::sqrt(r2 - dyd * dyd);
      const int u0 = std::max(0, int(std::ceil((cx - half - x0) / p - 0.5)));
      const int u1 = std::min(w - 1, int(std::floor((cx + half - x0) / p - 0.5)));
      if (u0 > u1) continue;
      const float dy = float(dyd), fp = float(p);
      float dx = float(x0 + (u0 + 0.5) * p - cx);
      uint16_t* row = acc + size_t(v) * size_t(w);
      for (int u = u0; u <= u1; ++u, dx += fp) add(row + u, f(dx, dy));
    }
  }

  // A disk of radius `inner` filled with `fill` counts, plus f(dx, dy) on the
  // ring between `inner` and `reach`: the interior costs one add per pixel.
  template <typename F>
  void draw_filled(double cx, double cy, double inner, float fill, double reach, F&& f) {
    const int v0 = std::max(0, int(std::floor((cy - reach - y0) / p)));
    const int v1 = std::min(h - 1, int(std::ceil((cy + reach - y0) / p)));
    const double r2 = reach * reach, i2 = inner * inner;
    const int add_fill = int(fill + 0.5f);
    for (int v = v0; v <= v1; ++v) {
      const double dyd = y0 + (v + 0.5) * p - cy;
      if (dyd * dyd >= r2) continue;
      const double half = std::sqrt(r2 - dyd * dyd);
      const int u0 = std::max(0, int(std::ceil((cx - half - x0) / p - 0.5)));
      const int u1 = std::min(w - 1, int(std::floor((cx + half - x0) / p - 0.5)));
      if (u0 > u1) continue;
      // The filled span of this row (empty when the row misses the interior).
      int f0 = u1 + 1, f1 = u1;
      if (dyd * dyd < i2) {
        const double ih = std::sqrt(i2 - dyd * dyd);
        f0 = std::max(u0, int(std::ceil((cx - ih - x0) / p - 0.5)));
        f1 = std::min(u1, int(std::floor((cx + ih - x0) / p - 0.5)));
        if (f0 > f1) f0 = u1 + 1, f1 = u1;
      }
      const float dy = float(dyd), fp = float(p);
      uint16_t* row = acc + size_t(v) * size_t(w);
      float dx = float(x0 + (u0 + 0.5) * p - cx);
      for (int u = u0; u < f0; ++u, dx += fp) add(row + u, f(dx, dy));
      for (int u = f0; u <= f1; ++u) row[u] = uint16_t(std::min(kMaxAcc, int(row[u]) + add_fill));
      dx = float(x0 + (f1 + 1 + 0.5) * p - cx);
      for (int u = f1 + 1; u <= u1; ++u, dx += fp) add(row + u, f(dx, dy));
    }
  }

  // Adds c counts (rounded; may be negative), keeping 0..kMaxAcc.
  static void add(uint16_t* px, float c) {
    const int a = int(c + (c >= 0.f ? 0.5f : -0.5f));
    if (a != 0) *px = uint16_t(std::clamp(int(*px) + a, 0, kMaxAcc));
  }
};

struct Optics {
  double blur_um;  // defocus blur sigma
  double bleach;
};

// A Gaussian spot, blurred by the PSF and defocus with its flux conserved.
void draw_spot(Canvas& cv, const Optics& o, const Spot& s, double amplitude) {
  const double s2 = s.sigma_um * s.sigma_um + kPsfSigmaUm * kPsfSigmaUm;
  const double se2 = s2 + o.blur_um * o.blur_um;
  const float amp = float(amplitude * o.bleach * s2 / se2), inv = float(1.0 / se2);
  const GaussTable& g = gauss_table();
  cv.draw(s.x_um, s.y_um, 4.0 * std::sqrt(se2), [&](float dx, float dy) {
    return amp * g((dx * dx + dy * dy) * inv);
  });
}

// Normalised elliptic radius of (dx, dy) from a nucleus centre, squared.
struct Ellipse {
  float c, s, inv_a2, inv_b2;
  explicit Ellipse(const Nucleus& n)
      : c(float(std::cos(n.angle_rad))), s(float(std::sin(n.angle_rad))),
        inv_a2(float(1.0 / (n.a_um * n.a_um))), inv_b2(float(1.0 / (n.b_um * n.b_um))) {}
  float rho2(float dx, float dy) const {
    const float xr = dx * c + dy * s, yr = dy * c - dx * s;
    return xr * xr * inv_a2 + yr * yr * inv_b2;
  }
};

// A filled nucleus with a soft edge and a slight dome.
void draw_nucleus(Canvas& cv, const Optics& o, const Nucleus& n, double amplitude) {
  const double sigma_edge = std::sqrt(0.3 * 0.3 + o.blur_um * o.blur_um);
  const double r = n.radius_um();
  const float amp = float(amplitude * o.bleach), scale = float(r / sigma_edge);
  const float rho2_max = float(std::pow(1.0 + 4.0 * sigma_edge / r, 2));
  const Ellipse el(n);
  const EdgeTable& e = edge_table();
  cv.draw(n.x_um, n.y_um, n.a_um + 4.0 * sigma_edge, [&](float dx, float dy) {
    const float q = el.rho2(dx, dy);
    if (q >= rho2_max) return 0.f;
    return amp * e((std::sqrt(q) - 1.f) * scale) * (1.f - 0.2f * std::min(q, 1.f));
  });
}

// Cytoplasm: a soft disk around the nucleus, dimmer over the nucleus itself
// (drawn as the disk, then the nucleus' shape subtracted at 60%).
void draw_cytoplasm(Canvas& cv, const Optics& o, const Nucleus& n) {
  const double sigma_c = std::sqrt(0.6 * 0.6 + o.blur_um * o.blur_um);
  const float amp = float(n.cyto_amplitude * o.bleach), R = float(n.cyto_r_um), inv_c = float(1.0 / sigma_c);
  const EdgeTable& e = edge_table();
  cv.draw_filled(n.cyto_x_um, n.cyto_y_um, std::max(0.0, n.cyto_r_um - 4.0 * sigma_c), amp,
                 n.cyto_r_um + 3.0 * sigma_c, [&](float dx, float dy) {
                   return amp * e((std::sqrt(dx * dx + dy * dy) - R) * inv_c);
                 });
  draw_nucleus(cv, o, n, -0.6 * n.cyto_amplitude);
}

// A membrane-like ring at the cytoplasm's edge.
void draw_ring(Canvas& cv, const Optics& o, const Nucleus& n, double amplitude) {
  const double w = std::sqrt(0.4 * 0.4 + o.blur_um * o.blur_um);
  const float amp = float(amplitude * o.bleach * 0.4 / w), R = float(n.cyto_r_um), inv = float(1.0 / w);
  const GaussTable& g = gauss_table();
  cv.draw(n.cyto_x_um, n.cyto_y_um, n.cyto_r_um + 4.0 * w, [&](float dx, float dy) {
    const float d = (std::sqrt(dx * dx + dy * dy) - R) * inv;
    return amp * g(d * d);
  });
}

double autofluorescence(int channel) {
  static constexpr double kCounts[] = {60, 80, 50, 70};
  return channel < 4 ? kCounts[channel] : 60;
}
double bead_brightness(int channel) {
  static constexpr double kFactor[] = {1.0, 0.8, 0.9, 0.7};
  return channel < 4 ? kFactor[channel] : 0.75;
}

void draw_objects(const Specimen& sp, const PlaneSpec& ps, Canvas& cv, const Optics& o) {
  const double x1 = ps.origin_x_um + ps.width * ps.pixel_um, y1 = ps.origin_y_um + ps.height * ps.pixel_um;
  const double reach = Specimen::kReachUm;
  std::vector<Spot> spots;
  sp.for_each_nucleus(ps.origin_x_um - reach, ps.origin_y_um - reach, x1 + reach, y1 + reach,
                      [&](const Nucleus& n) {
    switch (ps.channel) {
      case 0:
        draw_nucleus(cv, o, n, n.amplitude);
        sp.chromocentres(n, &spots);
        for (const Spot& s : spots) draw_spot(cv, o, s, s.amplitude);
        break;
      case 1:
        draw_cytoplasm(cv, o, n);
        break;
      case 2:
        draw_nucleus(cv, o, n, 0.08 * n.amplitude);
        sp.foci(n, &spots);
        for (const Spot& s : spots) draw_spot(cv, o, s, s.amplitude);
        break;
      default:
        if ((ps.channel - 3) % 2 == 0) {
          draw_ring(cv, o, n, 2.0 * n.cyto_amplitude);
        } else if (sp.has_marker(n, ps.channel)) {
          draw_nucleus(cv, o, n, 0.8 * n.amplitude);
        }
        break;
    }
  });
  sp.for_each_bead(ps.origin_x_um - reach, ps.origin_y_um - reach, x1 + reach, y1 + reach,
                   [&](const Spot& s) { draw_spot(cv, o, s, s.amplitude * bead_brightness(ps.channel)); });
}

// Vignetting per axis: 1 at the centre, 1 - kVignetting at the edges.
std::vector<float> falloff(int n) {
  std::vector<float> f(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const double x = 2.0 * (i + 0.5) / n - 1.0;
    f[size_t(i)] = float(1.0 - kVignetting * x * x);
  }
  return f;
}

// murmur3's 32-bit finaliser: one well-mixed hash per pixel, vectorisable.
inline uint32_t fmix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bU;
  x ^= x >> 13;
  x *= 0xc2b2ae35U;
  x ^= x >> 16;
  return x;
}

// One row of the sensor: vignetting, then Poisson (normal approximation, from
// the sum of the hash's four bytes: Irwin-Hall, sd 147.8) plus read noise.
// Branch- and table-free so the compiler vectorises it; built for AVX2 and
// for the baseline, picked at load time.
__attribute__((target_clones("avx2", "default")))
void sensor_row(uint16_t* row, const float* fx, float fy, int w, uint32_t key) {
  constexpr float kInvSd = 1.0f / 147.80189f;
  constexpr float kVar0 = float(kReadNoiseCounts * kReadNoiseCounts), kGain = float(kGainCountsPerE);
  for (int u = 0; u < w; ++u) {
    const uint32_t x = fmix32(key + uint32_t(u) * 0x9e3779b9U);
    const float n = float(int((x & 255) + ((x >> 8) & 255) + ((x >> 16) & 255) + (x >> 24)) - 510) * kInvSd;
    const float s = float(row[u]) * fx[u] * fy;
    const float value = float(kDarkCounts) + 0.5f + s + std::sqrt(kGain * s + kVar0) * n;
    row[u] = uint16_t(std::min(4095.f, std::max(0.f, value)));
  }
}

void apply_sensor(const PlaneSpec& ps, uint16_t* px) {
  const std::vector<float> fx = falloff(ps.width), fy = falloff(ps.height);
  for (int v = 0; v < ps.height; ++v) {
    const uint32_t key = uint32_t(hash_combine(ps.noise_key, uint64_t(v)));
    sensor_row(px + size_t(v) * size_t(ps.width), fx.data(), fy[size_t(v)], ps.width, key);
  }
}

}  // namespace

double illumination(int x, int y, int w, int h) {
  const double u = 2.0 * (x + 0.5) / w - 1.0, v = 2.0 * (y + 0.5) / h - 1.0;
  return (1.0 - kVignetting * u * u) * (1.0 - kVignetting * v * v);  // as falloff()
}
double dark_counts() { return kDarkCounts; }

void render_plane(const Specimen& specimen, const PlaneSpec& spec, uint16_t* out) {
  const size_t n = size_t(spec.width) * size_t(spec.height);
  const Optics optics{kBlurPerDefocus * std::abs(spec.defocus_um), spec.bleach};
  std::fill(out, out + n, uint16_t(std::lround(autofluorescence(spec.channel) * spec.bleach)));
  Canvas canvas{out, spec.width, spec.height, spec.origin_x_um, spec.origin_y_um, spec.pixel_um};
  draw_objects(specimen, spec, canvas, optics);
  apply_sensor(spec, out);
}

}  // namespace vslide::sim
