#include "shift.h"

#include <fftw3.h>

#include <algorithm>
#include <ctime>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

namespace vslide::reg {

namespace {

// CPU time of the calling thread: on a shared machine wall time would count
// the time other processes held the core.
struct Clock {
  using time_point = double;
  static double now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
};
double seconds_since(double t0) { return Clock::now() - t0; }

// FFTW's planner is not thread-safe; execution of a finished plan is.
std::mutex& planner_mutex() {
  static std::mutex mu;
  return mu;
}

// One size's plans and buffers, owned by one thread.
struct FftPlan {
  int32_t nx = 0, ny = 0;
  float* real = nullptr;
  fftwf_complex* fa = nullptr;
  fftwf_complex* fb = nullptr;
  fftwf_plan forward = nullptr, inverse = nullptr;
  size_t spectrum() const { return size_t(ny) * size_t(nx / 2 + 1); }
  FftPlan(int32_t x, int32_t y) : nx(x), ny(y) {
    std::lock_guard lock(planner_mutex());
    real = fftwf_alloc_real(size_t(nx) * size_t(ny));
    fa = fftwf_alloc_complex(spectrum());
    fb = fftwf_alloc_complex(spectrum());
    forward = fftwf_plan_dft_r2c_2d(ny, nx, real, fa, FFTW_ESTIMATE);
    inverse = fftwf_plan_dft_c2r_2d(ny, nx, fa, real, FFTW_ESTIMATE);
  }
  ~FftPlan() {
    std::lock_guard lock(planner_mutex());
    fftwf_destroy_plan(forward);
    fftwf_destroy_plan(inverse);
    fftwf_free(real);
    fftwf_free(fa);
    fftwf_free(fb);
  }
  FftPlan(const FftPlan&) = delete;
  FftPlan& operator=(const FftPlan&) = delete;
};

// Plans are reused by every pair of the same size on this thread.
FftPlan& plan_for(int32_t nx, int32_t ny) {
  thread_local std::map<std::pair<int32_t, int32_t>, std::unique_ptr<FftPlan>> plans;
  auto& p = plans[{nx, ny}];
  if (!p) p = std::make_unique<FftPlan>(nx, ny);
  return *p;
}

// Smallest 2^a 3^b 5^c 7^d >= n: sizes FFTW transforms fast.
int32_t fft_size(int32_t n) {
  for (int32_t m = std::max(n, 1);; ++m) {
    int32_t k = m;
    for (int32_t p : {2, 3, 5, 7}) {
      while (k % p == 0) k /= p;
    }
    if (k == 1) return m;
  }
}

FloatImage bin(const FloatImage& img, int32_t f) {
  if (f == 1) return img;
  FloatImage out(img.width / f, img.height / f);
  const float inv = 1.f / float(f * f);
  thread_local std::vector<float> acc;
  acc.assign(size_t(out.width) * size_t(f), 0.f);
  for (int32_t y = 0; y < out.height; ++y) {
    // Sum f rows (vectorises), then f neighbours along the row.
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int32_t dy = 0; dy < f; ++dy) {
      const float* r = img.row(y * f + dy);
      for (size_t x = 0; x < acc.size(); ++x) acc[x] += r[x];
    }
    float* o = out.row(y);
    for (int32_t x = 0; x < out.width; ++x) {
      float s = 0;
      for (int32_t dx = 0; dx < f; ++dx) s += acc[size_t(x * f + dx)];
      o[x] = s * inv;
    }
  }
  return out;
}

std::vector<float> hann(int32_t n) {
  std::vector<float> w(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) w[size_t(i)] = float(0.5 - 0.5 * std::cos(2 * M_PI * (i + 0.5) / n));
  return w;
}

// Mean-subtracted, windowed copy of img into the zero-padded FFT input.
void load_windowed(const FloatImage& img, FftPlan& p) {
  double sum = 0;
  for (float v : img.px) sum += v;
  const float mean = img.px.empty() ? 0.f : float(sum / double(img.px.size()));
  const auto wx = hann(img.width), wy = hann(img.height);
  std::fill(p.real, p.real + size_t(p.nx) * size_t(p.ny), 0.f);
  for (int32_t y = 0; y < img.height; ++y) {
    const float* r = img.row(y);
    float* o = p.real + size_t(y) * size_t(p.nx);
    for (int32_t x = 0; x < img.width; ++x) o[x] = (r[x] - mean) * wx[size_t(x)] * wy[size_t(y)];
  }
}

// Whitened cross-power spectrum of a and b, Gaussian-weighted (sigma in
// pixels of the correlation surface), transformed back into p.real: the
// surface peaks at e where b(q) = a(q + e).
void correlation_surface(const FloatImage& a, const FloatImage& b, FftPlan& p, double sigma) {
  load_windowed(a, p);
  fftwf_execute_dft_r2c(p.forward, p.real, p.fa);
  load_windowed(b, p);
  fftwf_execute_dft_r2c(p.forward, p.real, p.fb);
  const int32_t hx = p.nx / 2 + 1;
  const double g = 2 * M_PI * M_PI * sigma * sigma;
  for (int32_t ky = 0; ky < p.ny; ++ky) {
    const double fy = double(ky <= p.ny / 2 ? ky : ky - p.ny) / p.ny;
    for (int32_t kx = 0; kx < hx; ++kx) {
      const double fx = double(kx) / p.nx;
      const size_t i = size_t(ky) * size_t(hx) + size_t(kx);
      // a * conj(b): correlation c(s) = sum a(q + s) b(q).
      const double re = double(p.fa[i][0]) * p.fb[i][0] + double(p.fa[i][1]) * p.fb[i][1];
      const double im = double(p.fa[i][1]) * p.fb[i][0] - double(p.fa[i][0]) * p.fb[i][1];
      const double mag = std::hypot(re, im);
      const double w = mag > 1e-20 ? std::exp(-g * (fx * fx + fy * fy)) / mag : 0.0;
      p.fa[i][0] = float(re * w);
      p.fa[i][1] = float(im * w);
    }
  }
  fftwf_execute_dft_c2r(p.inverse, p.fa, p.real);
}

float surface_at(const FftPlan& p, int32_t x, int32_t y) {
  x = ((x % p.nx) + p.nx) % p.nx;
  y = ((y % p.ny) + p.ny) % p.ny;
  return p.real[size_t(y) * size_t(p.nx) + size_t(x)];
}

// Sub-pixel offset of a peak from three samples: a Gaussian (log-parabola)
// fit where all three are positive, a parabola otherwise.
double peak_offset(double l, double c, double r) {
  if (l > 0 && c > 0 && r > 0) {
    const double ll = std::log(l), lc = std::log(c), lr = std::log(r);
    const double d = ll - 2 * lc + lr;
    if (d < 0) return std::clamp(0.5 * (ll - lr) / d, -0.5, 0.5);
  }
  const double d = l - 2 * c + r;
  return d < 0 ? std::clamp(0.5 * (l - r) / d, -0.5, 0.5) : 0.0;
}

// The strongest peaks of the surface (3x3 suppression), strongest first.
std::vector<std::pair<int32_t, int32_t>> top_peaks(const FftPlan& p, int32_t count) {
  std::vector<std::pair<int32_t, int32_t>> out;
  std::vector<std::pair<float, size_t>> best;
  const size_t n = size_t(p.nx) * size_t(p.ny);
  for (int32_t k = 0; k < count; ++k) {
    float m = -1e30f;
    size_t at = 0;
    for (size_t i = 0; i < n; ++i) {
      if (p.real[i] <= m) continue;
      const int32_t x = int32_t(i % size_t(p.nx)), y = int32_t(i / size_t(p.nx));
      bool near = false;
      for (const auto& [px, py] : out) {
        int32_t ddx = std::abs(x - px), ddy = std::abs(y - py);
        ddx = std::min(ddx, p.nx - ddx);
        ddy = std::min(ddy, p.ny - ddy);
        near = near || (ddx <= 2 && ddy <= 2);
      }
      if (near) continue;
      m = p.real[i];
      at = i;
    }
    out.push_back({int32_t(at % size_t(p.nx)), int32_t(at / size_t(p.nx))});
  }
  return out;
}

// Bilinear resampling of img at (x + fx, y + fy) for x in [x0, x0 + w), y in [y0, y0 + h).
void warp(const FloatImage& img, int32_t x0, int32_t y0, float fx, float fy, int32_t w, int32_t h, float* out) {
  const float w00 = (1 - fx) * (1 - fy), w10 = fx * (1 - fy), w01 = (1 - fx) * fy, w11 = fx * fy;
  for (int32_t y = 0; y < h; ++y) {
    const float* r0 = img.row(y0 + y) + x0;
    const float* r1 = img.row(std::min(y0 + y + 1, img.height - 1)) + x0;
    float* o = out + size_t(y) * size_t(w);
    for (int32_t x = 0; x < w; ++x) o[x] = w00 * r0[x] + w10 * r0[x + 1] + w01 * r1[x] + w11 * r1[x + 1];
  }
}

double ncc_of(const float* a, const float* b, size_t n) {
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (size_t i = 0; i < n; ++i) {
    sa += a[i];
    sb += b[i];
    saa += double(a[i]) * a[i];
    sbb += double(b[i]) * b[i];
    sab += double(a[i]) * b[i];
  }
  if (n < 2) return 0;
  const double m = double(n);
  const double va = saa - sa * sa / m, vb = sbb - sb * sb / m;
  if (va <= 0 || vb <= 0) return 0;
  return (sab - sa * sb / m) / std::sqrt(va * vb);
}

// Symmetric Lucas-Kanade: finds e minimising sum (a(q + e/2) - b(q - e/2))^2
// from e0. Both images are resampled by the same fractional amount, so the
// smoothing of bilinear interpolation does not bias the estimate.
bool refine(const FloatImage& a, const FloatImage& b, double* ex, double* ey, double* score) {
  thread_local std::vector<float> wa, wb;
  const int32_t W = a.width, H = a.height;
  for (int iter = 0; iter < 5; ++iter) {
    const double hx = *ex / 2, hy = *ey / 2;
    const int32_t iax = int32_t(std::floor(hx)), iay = int32_t(std::floor(hy));
    const int32_t ibx = int32_t(std::floor(-hx)), iby = int32_t(std::floor(-hy));
    const float fax = float(hx - iax), fay = float(hy - iay), fbx = float(-hx - ibx), fby = float(-hy - iby);
    // q such that q + ia and q + ib + 1 stay inside both images.
    const int32_t x0 = std::max(-iax, -ibx), y0 = std::max(-iay, -iby);
    const int32_t x1 = std::min(W - 1 - iax, W - 1 - ibx), y1 = std::min(H - 1 - iay, H - 1 - iby);
    const int32_t w = x1 - x0, h = y1 - y0;
    if (w < 8 || h < 8) return false;
    wa.resize(size_t(w) * size_t(h));
    wb.resize(size_t(w) * size_t(h));
    warp(a, x0 + iax, y0 + iay, fax, fay, w, h, wa.data());
    warp(b, x0 + ibx, y0 + iby, fbx, fby, w, h, wb.data());
    double jxx = 0, jxy = 0, jyy = 0, jxr = 0, jyr = 0;
    for (int32_t y = 1; y + 1 < h; ++y) {
      const float* a0 = wa.data() + size_t(y) * size_t(w);
      const float* b0 = wb.data() + size_t(y) * size_t(w);
      float sxx = 0, sxy = 0, syy = 0, sxr = 0, syr = 0;
      for (int32_t x = 1; x + 1 < w; ++x) {
        const float gx = 0.25f * (a0[x + 1] - a0[x - 1] + b0[x + 1] - b0[x - 1]);
        const float gy = 0.25f * (a0[x + w] - a0[x - w] + b0[x + w] - b0[x - w]);
        const float r = a0[x] - b0[x];
        sxx += gx * gx;
        sxy += gx * gy;
        syy += gy * gy;
        sxr += gx * r;
        syr += gy * r;
      }
      jxx += sxx;
      jxy += sxy;
      jyy += syy;
      jxr += sxr;
      jyr += syr;
    }
    // g is d(residual)/de: half of each image's gradient, summed.
    const double det = jxx * jyy - jxy * jxy;
    if (!(det > 1e-12 * (jxx + jyy) * (jxx + jyy)) || !std::isfinite(det)) return false;
    const double dx = -(jyy * jxr - jxy * jyr) / det;
    const double dy = -(jxx * jyr - jxy * jxr) / det;
    // The score is of the images as last resampled (an update of < 0.01 px
    // changes it by nothing that matters).
    const bool done = std::abs(dx) < 0.01 && std::abs(dy) < 0.01;
    if (done || iter == 4) *score = ncc_of(wa.data(), wb.data(), wa.size());
    *ex += std::clamp(dx, -1.0, 1.0);
    *ey += std::clamp(dy, -1.0, 1.0);
    if (done) break;
  }
  return std::isfinite(*ex) && std::isfinite(*ey);
}

// A rectangle of a strip.
struct Span {
  int32_t x = 0, y = 0, w = 0, h = 0;
};

constexpr double kRefinePixels = 160000;

FloatImage sub_image(const FloatImage& img, const Span& s) {
  if (s.x == 0 && s.y == 0 && s.w == img.width && s.h == img.height) return img;
  FloatImage out(s.w, s.h);
  for (int32_t y = 0; y < s.h; ++y) std::copy_n(img.row(s.y + y) + s.x, s.w, out.row(y));
  return out;
}

// The window of at most ~`pixels` pixels along the long axis of a W x H strip
// with the most gradient energy in the binned strips ab and bb (bin factor f).
Span textured_window(const FloatImage& ab, const FloatImage& bb, int32_t f, int32_t W, int32_t H, double pixels) {
  const bool along_y = H >= W;
  const int32_t len = along_y ? H : W, across = along_y ? W : H;
  const int32_t want = std::max<int32_t>(int32_t(pixels / across), 64);
  if (want >= len) return Span{0, 0, W, H};
  const int32_t n = along_y ? ab.height : ab.width;  // binned positions along the long axis
  std::vector<double> energy(size_t(n), 0.0);
  for (int32_t y = 0; y + 1 < ab.height; ++y) {
    for (int32_t x = 0; x + 1 < ab.width; ++x) {
      double e = 0;
      for (const FloatImage* im : {&ab, &bb}) {
        const float gx = im->row(y)[x + 1] - im->row(y)[x], gy = im->row(y + 1)[x] - im->row(y)[x];
        e += double(gx) * gx + double(gy) * gy;
      }
      energy[size_t(along_y ? y : x)] += e;
    }
  }
  const int32_t k = std::max(1, want / f);
  double sum = 0, best = -1;
  int32_t at = 0;
  for (int32_t i = 0; i < n; ++i) {
    sum += energy[size_t(i)];
    if (i >= k) sum -= energy[size_t(i - k)];
    if (i >= k - 1 && sum > best) {
      best = sum;
      at = i - k + 1;
    }
  }
  const int32_t start = std::clamp(at * f, 0, len - want);
  return along_y ? Span{0, start, W, want} : Span{start, 0, want, H};
}

}  // namespace

FloatImage crop(const uint16_t* plane, int32_t stride, int32_t x, int32_t y, int32_t w, int32_t h) {
  FloatImage out(w, h);
  for (int32_t r = 0; r < h; ++r) {
    const uint16_t* in = plane + size_t(y + r) * size_t(stride) + size_t(x);
    float* o = out.row(r);
    for (int32_t c = 0; c < w; ++c) o[c] = float(in[c]);
  }
  return out;
}

double ncc_at(const FloatImage& a, const FloatImage& b, int32_t sx, int32_t sy) {
  const int32_t x0 = std::max(0, -sx), x1 = std::min(b.width, a.width - sx);
  const int32_t y0 = std::max(0, -sy), y1 = std::min(b.height, a.height - sy);
  if (x1 - x0 < 2 || y1 - y0 < 2) return -1;
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (int32_t y = y0; y < y1; ++y) {
    const float* ra = a.row(y + sy) + sx;
    const float* rb = b.row(y);
    for (int32_t x = x0; x < x1; ++x) {
      sa += ra[x];
      sb += rb[x];
      saa += double(ra[x]) * ra[x];
      sbb += double(rb[x]) * rb[x];
      sab += double(ra[x]) * rb[x];
    }
  }
  const double m = double(x1 - x0) * double(y1 - y0);
  const double va = saa - sa * sa / m, vb = sbb - sb * sb / m;
  if (va <= 0 || vb <= 0) return 0;
  return (sab - sa * sb / m) / std::sqrt(va * vb);
}

FloatImage high_pass(const FloatImage& img, int32_t r) {
  const int32_t W = img.width, H = img.height;
  FloatImage tmp(W, H), out(W, H);
  // Running box sums along x, then along y (edges clamp).
  for (int32_t y = 0; y < H; ++y) {
    const float* in = img.row(y);
    float* o = tmp.row(y);
    double s = 0;
    for (int32_t x = -r; x <= r; ++x) s += in[std::clamp(x, 0, W - 1)];
    for (int32_t x = 0; x < W; ++x) {
      o[x] = float(s);
      s += in[std::min(x + r + 1, W - 1)] - in[std::max(x - r, 0)];
    }
  }
  const float inv = 1.f / float((2 * r + 1) * (2 * r + 1));
  std::vector<double> col(size_t(W), 0.0);
  for (int32_t y = -r; y <= r; ++y) {
    const float* t = tmp.row(std::clamp(y, 0, H - 1));
    for (int32_t x = 0; x < W; ++x) col[size_t(x)] += t[x];
  }
  for (int32_t y = 0; y < H; ++y) {
    const float* in = img.row(y);
    float* o = out.row(y);
    for (int32_t x = 0; x < W; ++x) o[x] = in[x] - float(col[size_t(x)]) * inv;
    const float* add = tmp.row(std::min(y + r + 1, H - 1));
    const float* sub = tmp.row(std::max(y - r, 0));
    for (int32_t x = 0; x < W; ++x) col[size_t(x)] += double(add[x]) - double(sub[x]);
  }
  return out;
}

FloatImage gradient_magnitude(const FloatImage& img) {
  FloatImage out(img.width, img.height);
  std::fill(out.px.begin(), out.px.end(), 0.f);  // the border stays 0
  for (int32_t y = 1; y + 1 < img.height; ++y) {
    const float* r = img.row(y);
    float* o = out.row(y);
    for (int32_t x = 1; x + 1 < img.width; ++x) {
      const float gx = r[x + 1] - r[x - 1], gy = r[x + img.width] - r[x - img.width];
      o[x] = std::sqrt(gx * gx + gy * gy);
    }
  }
  return out;
}

ShiftEstimate estimate_shift(const FloatImage& a, const FloatImage& b, const ShiftOptions& opt) {
  ShiftEstimate est;
  if (a.width != b.width || a.height != b.height || a.width < 16 || a.height < 16) {
    est.why = "overlap too small (" + std::to_string(a.width) + "x" + std::to_string(a.height) + " px)";
    return est;
  }
  const auto t0 = Clock::now();
  const int32_t f = std::clamp(std::min(a.width, a.height) / 64, 1, 4);
  const FloatImage ab = bin(a, f), bb = bin(b, f);
  FftPlan& p = plan_for(fft_size(ab.width), fft_size(ab.height));
  correlation_surface(ab, bb, p, 1.0);
  const int32_t msx = (opt.max_shift_x > 0 ? opt.max_shift_x : a.width / 2) / f;
  const int32_t msy = (opt.max_shift_y > 0 ? opt.max_shift_y : a.height / 2) / f;
  // Each peak stands for shifts modulo the padded size: try each reading
  // that keeps enough overlap and judge them by NCC.
  double best = -2;
  int32_t bx = 0, by = 0;
  for (const auto& [px, py] : top_peaks(p, 2)) {
    for (int32_t sx : {px, px - p.nx, px + p.nx}) {
      for (int32_t sy : {py, py - p.ny, py + p.ny}) {
        if (std::abs(sx) > msx || std::abs(sy) > msy) continue;
        const double area = double(ab.width - std::abs(sx)) * double(ab.height - std::abs(sy));
        if (area < opt.min_overlap * double(ab.width) * double(ab.height)) continue;
        const double s = ncc_at(ab, bb, sx, sy);
        if (s > best) {
          best = s;
          bx = sx;
          by = sy;
        }
      }
    }
  }
  if (best < -1) {
    est.fft_s = seconds_since(t0);
    est.why = "no correlation peak within the search range";
    return est;
  }
  const double ox = peak_offset(surface_at(p, bx - 1, by), surface_at(p, bx, by), surface_at(p, bx + 1, by));
  const double oy = peak_offset(surface_at(p, bx, by - 1), surface_at(p, bx, by), surface_at(p, bx, by + 1));
  est.dx = f * (bx + ox);
  est.dy = f * (by + oy);
  est.score = best;
  est.fft_s = seconds_since(t0);
  est.ok = true;
  if (!opt.refine) return est;
  const auto t1 = Clock::now();
  // The refinement needs far fewer pixels than a whole strip to reach a few
  // hundredths of a pixel: it runs on the window along the strip's long axis
  // where the binned strips show the most texture.
  const Span win = textured_window(ab, bb, f, a.width, a.height, kRefinePixels);
  const FloatImage ha = high_pass(sub_image(a, win), 8), hb = high_pass(sub_image(b, win), 8);
  double ex = est.dx, ey = est.dy, score = 0;
  const bool refined = refine(ha, hb, &ex, &ey, &score);
  est.refine_s = seconds_since(t1);
  if (!refined || std::abs(ex - est.dx) > 2.0 * f || std::abs(ey - est.dy) > 2.0 * f) {
    est.ok = false;
    est.why = "no texture: the sub-pixel refinement did not converge";
    est.score = 0;
    return est;
  }
  est.dx = ex;
  est.dy = ey;
  est.score = score;
  return est;
}

ShiftEstimate phase_correlate_subpixel(const FloatImage& a, const FloatImage& b, int32_t max_shift) {
  ShiftEstimate est;
  const auto t0 = Clock::now();
  FftPlan& p = plan_for(fft_size(a.width), fft_size(a.height));
  correlation_surface(a, b, p, 1.0);
  float m = -1e30f;
  int32_t bx = 0, by = 0;
  for (int32_t y = -max_shift; y <= max_shift; ++y) {
    for (int32_t x = -max_shift; x <= max_shift; ++x) {
      const float v = surface_at(p, x, y);
      if (v > m) {
        m = v;
        bx = x;
        by = y;
      }
    }
  }
  est.dx = bx + peak_offset(surface_at(p, bx - 1, by), m, surface_at(p, bx + 1, by));
  est.dy = by + peak_offset(surface_at(p, bx, by - 1), m, surface_at(p, bx, by + 1));
  est.score = ncc_at(a, b, bx, by);
  est.ok = std::isfinite(est.dx) && std::isfinite(est.dy);
  est.fft_s = seconds_since(t0);
  return est;
}

}  // namespace vslide::reg
