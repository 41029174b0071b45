#include "solve.h"

#include <algorithm>
#include <cmath>

namespace vslide::reg {

void solve_positions(const std::vector<Tie>& ties, const std::vector<double>& prior_x,
                     const std::vector<double>& prior_y, double prior_weight, int32_t band,
                     std::vector<double>* x, std::vector<double>* y) {
  const size_t n = prior_x.size();
  size_t b = size_t(std::max(band, 1));
  for (const auto& t : ties) b = std::max(b, size_t(std::abs(t.b - t.a)));
  // Symmetric band storage: m[i][k] = M(i, i + k), k in [0, b].
  std::vector<double> m(n * (b + 1), 0.0), rx(n), ry(n);
  auto at = [&](size_t i, size_t k) -> double& { return m[i * (b + 1) + k]; };
  for (size_t i = 0; i < n; ++i) {
    at(i, 0) = prior_weight;
    rx[i] = prior_weight * prior_x[i];
    ry[i] = prior_weight * prior_y[i];
  }
  for (const auto& t : ties) {
    const size_t lo = size_t(std::min(t.a, t.b)), hi = size_t(std::max(t.a, t.b));
    at(lo, 0) += t.weight;
    at(hi, 0) += t.weight;
    at(lo, hi - lo) -= t.weight;
    rx[size_t(t.b)] += t.weight * t.dx;
    rx[size_t(t.a)] -= t.weight * t.dx;
    ry[size_t(t.b)] += t.weight * t.dy;
    ry[size_t(t.a)] -= t.weight * t.dy;
  }
  // Banded Cholesky, in place: M = U^T U with U upper triangular (band b).
  for (size_t i = 0; i < n; ++i) {
    double d = at(i, 0);
    for (size_t k = 1; k <= b && k <= i; ++k) d -= at(i - k, k) * at(i - k, k);
    d = std::sqrt(std::max(d, 1e-300));
    at(i, 0) = d;
    for (size_t j = 1; j <= b && i + j < n; ++j) {
      double s = at(i, j);
      for (size_t k = 1; k <= b - j && k <= i; ++k) s -= at(i - k, k) * at(i - k, k + j);
      at(i, j) = s / d;
    }
  }
  auto solve = [&](std::vector<double>& r) {
    for (size_t i = 0; i < n; ++i) {  // U^T z = r
      double s = r[i];
      for (size_t k = 1; k <= b && k <= i; ++k) s -= at(i - k, k) * r[i - k];
      r[i] = s / at(i, 0);
    }
    for (size_t i = n; i-- > 0;) {  // U p = z
      double s = r[i];
      for (size_t k = 1; k <= b && i + k < n; ++k) s -= at(i, k) * r[i + k];
      r[i] = s / at(i, 0);
    }
  };
  solve(rx);
  solve(ry);
  *x = std::move(rx);
  *y = std::move(ry);
}

bool fit_affine(const std::vector<double>& sx, const std::vector<double>& sy, const std::vector<double>& x,
                const std::vector<double>& y, Affine* out) {
  const size_t n = sx.size();
  if (n < 3) return false;
  // Centre the coordinates for a well-conditioned 2x2 normal system.
  double mx = 0, my = 0, mX = 0, mY = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += sx[i];
    my += sy[i];
    mX += x[i];
    mY += y[i];
  }
  mx /= double(n);
  my /= double(n);
  mX /= double(n);
  mY /= double(n);
  double sxx = 0, sxy = 0, syy = 0, xX = 0, yX = 0, xY = 0, yY = 0;
  for (size_t i = 0; i < n; ++i) {
    const double u = sx[i] - mx, v = sy[i] - my, X = x[i] - mX, Y = y[i] - mY;
    sxx += u * u;
    sxy += u * v;
    syy += v * v;
    xX += u * X;
    yX += v * X;
    xY += u * Y;
    yY += v * Y;
  }
  const double det = sxx * syy - sxy * sxy;
  // Colinear (one row or one column of fields): the affine is undetermined.
  if (!(det > 1e-9 * (sxx + syy) * (sxx + syy)) || sxx <= 0 || syy <= 0) return false;
  Affine a;
  a.a11 = (syy * xX - sxy * yX) / det;
  a.a12 = (sxx * yX - sxy * xX) / det;
  a.a21 = (syy * xY - sxy * yY) / det;
  a.a22 = (sxx * yY - sxy * xY) / det;
  a.tx = mX - a.a11 * mx - a.a12 * my;
  a.ty = mY - a.a21 * mx - a.a22 * my;
  *out = a;
  return true;
}

}  // namespace vslide::reg
