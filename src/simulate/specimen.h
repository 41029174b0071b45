// The virtual specimen behind the synthetic scanner (internal to simulate).
//
// Everything is a pure function of (seed, position): nuclei live on a grid of
// kCellUm cells, generated from hash(seed, cell); beads on a coarser grid. A
// region is enumerated by visiting the cells that overlap it, so no
// slide-sized state exists. A cell holds nothing, one nucleus, or (with
// probability kDoublet) two smaller nuclei touching through a narrow neck,
// like daughter cells after division. Content of different cells never
// overlaps: everything stays at least kGapUm inside its own cell.
// Thread-safety: immutable after construction.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace vslide::sim {

// splitmix64 finaliser: a fast, well-mixed counter-based hash.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
inline uint64_t hash_combine(uint64_t a, uint64_t b) { return mix64(a ^ (mix64(b) + 0x632be59bd9b4e019ULL)); }
// Uniform in [0, 1) from the top 53 bits.
inline double unit(uint64_t h) { return double(h >> 11) * 0x1.0p-53; }
inline double uniform(uint64_t h, double lo, double hi) { return lo + (hi - lo) * unit(h); }
// A standard normal from two hashes (Box-Muller).
inline double normal(uint64_t h1, uint64_t h2) {
  double u1 = unit(h1) + 0x1.0p-54;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * unit(h2));
}

struct Spot {
  double x_um, y_um;  // centre
  double sigma_um;    // intrinsic Gaussian width
  double amplitude;   // peak counts above background when in focus
};

struct Nucleus {
  int64_t id;
  uint64_t hash;                 // seeds the nucleus' own details
  double x_um, y_um;             // centre
  double a_um, b_um, angle_rad;  // semi-axes and orientation
  double amplitude;              // DAPI counts above background
  double cyto_x_um, cyto_y_um, cyto_r_um, cyto_amplitude;
  double radius_um() const { return std::sqrt(a_um * b_um); }
};

class Specimen {
 public:
  static constexpr double kCellUm = 24.0;
  static constexpr double kGapUm = 0.6;
  static constexpr double kOccupancy = 0.72;
  static constexpr double kDoublet = 0.12;  // fraction of occupied cells holding a touching pair
  static constexpr double kBeadCellUm = 160.0;
  static constexpr double kBeadProbability = 0.3;
  // The furthest any drawn content reaches beyond its cell (cytoplasm plus
  // a generous blur margin): regions are widened by this much when drawing.
  static constexpr double kReachUm = 20.0;

  explicit Specimen(uint64_t seed) : seed_(mix64(seed ^ 0x5eed5eed5eedULL)) {}

  // The nuclei of cell (cx, cy): writes 0, 1 or 2 into `out` and returns the count.
  int nuclei_in_cell(int64_t cx, int64_t cy, Nucleus out[2]) const;

  // Calls fn(const Nucleus&) for every nucleus whose cell overlaps
  // [x0, x1) x [y0, y1), in row-major cell order.
  template <typename Fn>
  void for_each_nucleus(double x0, double y0, double x1, double y1, Fn&& fn) const {
    const int64_t cx0 = int64_t(std::floor(x0 / kCellUm)), cx1 = int64_t(std::floor(x1 / kCellUm));
    const int64_t cy0 = int64_t(std::floor(y0 / kCellUm)), cy1 = int64_t(std::floor(y1 / kCellUm));
    Nucleus n[2];
    for (int64_t cy = cy0; cy <= cy1; ++cy)
      for (int64_t cx = cx0; cx <= cx1; ++cx) {
        const int count = nuclei_in_cell(cx, cy, n);
        for (int i = 0; i < count; ++i) fn(n[i]);
      }
  }

  // Calls fn(const Spot&) for every bead whose cell overlaps the region.
  template <typename Fn>
  void for_each_bead(double x0, double y0, double x1, double y1, Fn&& fn) const {
    const int64_t cx0 = int64_t(std::floor(x0 / kBeadCellUm)), cx1 = int64_t(std::floor(x1 / kBeadCellUm));
    const int64_t cy0 = int64_t(std::floor(y0 / kBeadCellUm)), cy1 = int64_t(std::floor(y1 / kBeadCellUm));
    Spot s;
    for (int64_t cy = cy0; cy <= cy1; ++cy)
      for (int64_t cx = cx0; cx <= cx1; ++cx)
        if (bead_in_cell(cx, cy, &s)) fn(s);
  }

  // Bright DAPI-dense spots inside a nucleus (channel 0 texture).
  void chromocentres(const Nucleus& n, std::vector<Spot>* out) const;
  // Sparse bright foci (channel 2); most nuclei have none.
  void foci(const Nucleus& n, std::vector<Spot>* out) const;
  // Whether the nucleus carries the nuclear marker of channel `channel` (3+).
  bool has_marker(const Nucleus& n, int channel) const {
    return unit(hash_combine(n.hash, 0x3a7c + uint64_t(channel))) < 0.45;
  }

 private:
  bool bead_in_cell(int64_t cx, int64_t cy, Spot* out) const;
  // A point inside the ellipse at normalised radius < max_rho.
  void point_in(const Nucleus& n, uint64_t h, double max_rho, double* x, double* y) const;

  uint64_t seed_;
};

}  // namespace vslide::sim
