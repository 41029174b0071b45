#include "specimen.h"

#include <algorithm>

namespace vslide::sim {
namespace {

uint64_t cell_hash(uint64_t seed, int64_t cx, int64_t cy, uint64_t salt) {
  return hash_combine(hash_combine(seed ^ salt, uint64_t(cx)), uint64_t(cy));
}

}  // namespace

namespace {

// Stains, cytoplasm and identity of a nucleus whose shape and place are set.
void finish_nucleus(Nucleus* n, uint64_t h, uint64_t cell_key, int k) {
  auto draw = [h, i = uint64_t(100)]() mutable { return mix64(h + 0x9e37 * i++); };
  n->hash = h;
  n->id = int64_t(cell_key * 2 + uint64_t(k));  // unsigned: wraps instead of overflowing
  n->amplitude = uniform(draw(), 700.0, 1500.0);
  const double r = n->radius_um(), off = 0.3 * r, dir = uniform(draw(), 0.0, 6.283185307179586);
  n->cyto_x_um = n->x_um + off * std::cos(dir);
  n->cyto_y_um = n->y_um + off * std::sin(dir);
  n->cyto_r_um = r * uniform(draw(), 1.6, 2.1);
  n->cyto_amplitude = uniform(draw(), 150.0, 350.0);
}

}  // namespace

int Specimen::nuclei_in_cell(int64_t cx, int64_t cy, Nucleus out[2]) const {
  const uint64_t h = cell_hash(seed_, cx, cy, 0x6e75636cULL);
  const double occupied = unit(h);
  if (occupied >= kOccupancy) return 0;
  auto draw = [h, k = uint64_t(1)]() mutable { return mix64(h + 0x9e37 * k++); };
  // Unique per cell while |cx|, |cy| < 2^31 (an 18 mm slide has ~750 cells a side).
  const uint64_t cell_key = (uint64_t(uint32_t(int32_t(cy))) << 32) | uint64_t(uint32_t(int32_t(cx)));

  if (occupied < kOccupancy * kDoublet) {
    // Two near-round daughters, centres 0.9-1.02 radii-sums apart: they touch
    // through a neck that split_touching-style methods can cut.
    const double r1 = uniform(draw(), 3.5, 5.0), r2 = uniform(draw(), 3.5, 5.0);
    const double d = (r1 + r2) * uniform(draw(), 0.9, 1.02), dir = uniform(draw(), 0.0, 3.141592653589793);
    const double ux = std::cos(dir), uy = std::sin(dir);
    // The pair's centre (weighted so both bodies fit) and its bounding radius.
    const double reach = std::max(d / 2 + r1, d / 2 + r2) * 1.06 + kGapUm;
    const double mx = double(cx) * kCellUm + uniform(draw(), reach, kCellUm - reach);
    const double my = double(cy) * kCellUm + uniform(draw(), reach, kCellUm - reach);
    const double radii[2] = {r1, r2}, sign[2] = {-1, 1};
    for (int k = 0; k < 2; ++k) {
      Nucleus& n = out[k];
      const double e = uniform(draw(), 0.0, 0.05);
      n.a_um = radii[k] * std::sqrt((1 + e) / (1 - e));
      n.b_um = radii[k] * std::sqrt((1 - e) / (1 + e));
      n.angle_rad = dir;
      n.x_um = mx + sign[k] * ux * d / 2;
      n.y_um = my + sign[k] * uy * d / 2;
      finish_nucleus(&n, mix64(h ^ (0xd0b1e7ULL + uint64_t(k))), cell_key, k);
    }
    return 2;
  }

  Nucleus& n = out[0];
  const double r = uniform(draw(), 4.0, 6.5);
  const double e = uniform(draw(), 0.0, 0.2);  // a/b = (1 + e) / (1 - e), a * b = r^2
  n.a_um = r * std::sqrt((1 + e) / (1 - e));
  n.b_um = r * std::sqrt((1 - e) / (1 + e));
  n.angle_rad = uniform(draw(), 0.0, 3.141592653589793);
  // Keep the whole ellipse (bounded by its major axis) kGapUm inside the cell.
  const double margin = n.a_um + kGapUm;
  n.x_um = double(cx) * kCellUm + uniform(draw(), margin, kCellUm - margin);
  n.y_um = double(cy) * kCellUm + uniform(draw(), margin, kCellUm - margin);
  finish_nucleus(&n, h, cell_key, 0);
  return 1;
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
