// The global solution of field positions (internal to register).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vslide::reg {

struct Tie {
  int32_t a = 0, b = 0;  // field indices
  double dx = 0, dy = 0; // measured position[b] - position[a], pixels
  double weight = 1;
};

// Minimises sum_ties w (p_b - p_a - d)^2 + prior_weight * sum_i (p_i - prior_i)^2
// for fields ordered so that every tie spans at most `band` indices (a
// row-major mosaic: band = columns), by a banded Cholesky factorisation
// (O(N band^2)). prior_weight > 0 keeps the system definite: a field or group
// without ties stays at its prior.
void solve_positions(const std::vector<Tie>& ties, const std::vector<double>& prior_x,
                     const std::vector<double>& prior_y, double prior_weight, int32_t band,
                     std::vector<double>* x, std::vector<double>* y);

// Least-squares affine map from (sx, sy) to (x, y): x = a11 sx + a12 sy + tx,
// y = a21 sx + a22 sy + ty. False when the points are too few or colinear.
struct Affine {
  double a11 = 1, a12 = 0, a21 = 0, a22 = 1, tx = 0, ty = 0;
  void apply(double sx, double sy, double* x, double* y) const {
    *x = a11 * sx + a12 * sy + tx;
    *y = a21 * sx + a22 * sy + ty;
  }
};
bool fit_affine(const std::vector<double>& sx, const std::vector<double>& sy, const std::vector<double>& x,
                const std::vector<double>& y, Affine* out);

}  // namespace vslide::reg
