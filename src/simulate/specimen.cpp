#include "specimen.h"

#include <algorithm>

namespace vslide::sim {
namespace {

uint64_t cell_hash(uint64_t seed, int64_t cx, int64_t cy, uint64_t salt) {
  return hash_combine(hash_combine(seed ^ salt, uint64_t(cx)), uint64_t(cy));
}

}  // namespace

bool Specimen::nucleus_in_cell(int64_t cx, int64_t cy, Nucleus* out) const {
  const uint64_t h = cell_hash(seed_, cx, cy, 0x6e75636cULL);
  if (unit(h) >= kOccupancy) return false;
  auto draw = [h, k = uint64_t(1)]() mutable { return mix64(h + 0x9e37 * k++); };

  Nucleus n;
  n.hash = h;
  n.id = int64_t((uint64_t(uint32_t(int32_t(cy))) << 32) | uint64_t(uint32_t(int32_t(cx))));
  const double r = uniform(draw(), 4.0, 6.5);
  const double e = uniform(draw(), 0.0, 0.2);  // a/b = (1 + e) / (1 - e), a * b = r^2
  n.a_um = r * std::sqrt((1 + e) / (1 - e));
  n.b_um = r * std::sqrt((1 - e) / (1 + e));
  n.angle_rad = uniform(draw(), 0.0, 3.141592653589793);
  // Keep the whole ellipse (bounded by its major axis) kGapUm inside the cell.
  const double margin = n.a_um + kGapUm;
  n.x_um = double(cx) * kCellUm + uniform(draw(), margin, kCellUm - margin);
  n.y_um = double(cy) * kCellUm + uniform(draw(), margin, kCellUm - margin);
  n.amplitude = uniform(draw(), 700.0, 1500.0);
  const double off = 0.3 * r, dir = uniform(draw(), 0.0, 6.283185307179586);
  n.cyto_x_um = n.x_um + off * std::cos(dir);
  n.cyto_y_um = n.y_um + off * std::sin(dir);
  n.cyto_r_um = r * uniform(draw(), 1.6, 2.1);
  n.cyto_amplitude = uniform(draw(), 150.0, 350.0);
  *out = n;
  return true;
}

bool Specimen::bead_in_cell(int64_t cx, int64_t cy, Spot* out) const {
  const uint64_t h = cell_hash(seed_, cx, cy, 0x62656164ULL);
  if (unit(h) >= kBeadProbability) return false;
  out->x_um = (double(cx) + unit(mix64(h + 1))) * kBeadCellUm;
  out->y_um = (double(cy) + unit(mix64(h + 2))) * kBeadCellUm;
  out->sigma_um = 0.12;
  out->amplitude = uniform(mix64(h + 3), 1800.0, 3000.0);
  return true;
}

void Specimen::point_in(const Nucleus& n, uint64_t h, double max_rho, double* x, double* y) const {
  const double rho = max_rho * std::sqrt(unit(mix64(h)));
  const double phi = 6.283185307179586 * unit(mix64(h + 1));
  const double u = rho * n.a_um * std::cos(phi), v = rho * n.b_um * std::sin(phi);
  const double c = std::cos(n.angle_rad), s = std::sin(n.angle_rad);
  *x = n.x_um + c * u - s * v;
  *y = n.y_um + s * u + c * v;
}

void Specimen::chromocentres(const Nucleus& n, std::vector<Spot>* out) const {
  out->clear();
  const uint64_t h = hash_combine(n.hash, 0xc4c4);
  const int count = 3 + int(mix64(h) % 5);
  for (int i = 0; i < count; ++i) {
    const uint64_t hi = hash_combine(h, uint64_t(i) + 1);
    Spot s;
    point_in(n, hi, 0.7, &s.x_um, &s.y_um);
    s.sigma_um = uniform(mix64(hi + 7), 0.35, 0.65);
    s.amplitude = n.amplitude * uniform(mix64(hi + 8), 0.3, 0.7);
    out->push_back(s);
  }
}

void Specimen::foci(const Nucleus& n, std::vector<Spot>* out) const {
  out->clear();
  const uint64_t h = hash_combine(n.hash, 0xf0c1);
  if (unit(h) >= 0.35) return;
  const int count = 2 + int(mix64(h + 1) % 9);
  for (int i = 0; i < count; ++i) {
    const uint64_t hi = hash_combine(h, uint64_t(i) + 1);
    Spot s;
    point_in(n, hi, 0.75, &s.x_um, &s.y_um);
    s.sigma_um = uniform(mix64(hi + 7), 0.18, 0.3);
    s.amplitude = uniform(mix64(hi + 8), 600.0, 2000.0);
    out->push_back(s);
  }
}

}  // namespace vslide::sim
