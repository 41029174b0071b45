// Translation between two images of the same size (internal to register).
//
// estimate_shift finds e such that b(q) ~ a(q + e): phase correlation of
// binned, Hann-windowed copies for the integer part (the wrap-around
// ambiguities of the circular correlation are settled by NCC), then a
// symmetric Lucas-Kanade refinement at full resolution on high-passed
// images, which also gives the NCC score. FFTW plans are made once per
// thread and size (plan creation is serialised; execution is not).
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <string>
#include <vector>

namespace vslide::reg {

// Leaves new floats uninitialised: every producer writes all of its pixels,
// and zero-filling megabytes per strip showed as ~10 % of the run.
template <typename T>
struct NoInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoInitAllocator<U>;
  };
  NoInitAllocator() = default;
  template <typename U>
  NoInitAllocator(const NoInitAllocator<U>&) {}
  template <typename U>
  void construct(U* p) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
};

struct FloatImage {
  int32_t width = 0, height = 0;
  std::vector<float, NoInitAllocator<float>> px;  // row-major; fully written by whoever makes it
  FloatImage() = default;
  FloatImage(int32_t w, int32_t h) : width(w), height(h), px(size_t(w) * size_t(h)) {}
  float* row(int32_t y) { return px.data() + size_t(y) * size_t(width); }
  const float* row(int32_t y) const { return px.data() + size_t(y) * size_t(width); }
  bool empty() const { return px.empty(); }
};

// Pixels [x, x+w) x [y, y+h) of a uint16 plane of `stride` pixels a row.
FloatImage crop(const uint16_t* plane, int32_t stride, int32_t x, int32_t y, int32_t w, int32_t h);

struct ShiftEstimate {
  bool ok = false;
  double dx = 0, dy = 0;  // b(q) ~ a(q + (dx, dy))
  double score = 0;       // NCC of the aligned, high-passed overlap (-1..1)
  std::string why;        // when !ok
  double fft_s = 0, refine_s = 0;  // time spent (this thread)
};

struct ShiftOptions {
  int32_t max_shift_x = 0, max_shift_y = 0;  // largest |shift| worth considering (0 = half the size)
  double min_overlap = 0.3;                  // fraction of the area still overlapping at the shift
  bool refine = true;                        // full-resolution Lucas-Kanade step
};

ShiftEstimate estimate_shift(const FloatImage& a, const FloatImage& b, const ShiftOptions& options);

// Phase correlation with a Gaussian-weighted whitened spectrum at full
// resolution, peak located by a log-parabola fit: for images of different
// content (colour channels), where a direct intensity match does not hold.
// Score: NCC of the images at the integer peak.
ShiftEstimate phase_correlate_subpixel(const FloatImage& a, const FloatImage& b, int32_t max_shift);

// Normalised cross-correlation of a and b over their overlap when b(q) = a(q + (sx, sy)), integer shift.
double ncc_at(const FloatImage& a, const FloatImage& b, int32_t sx, int32_t sy);

// Image minus its local mean over a (2r+1)^2 box (edges clamp).
FloatImage high_pass(const FloatImage& img, int32_t r);

// Gradient magnitude (central differences).
FloatImage gradient_magnitude(const FloatImage& img);

}  // namespace vslide::reg
