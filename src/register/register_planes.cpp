// register_other_planes: per-(z, t) placements where a plane's fields lie
// elsewhere than the reference plane's (see register.h).
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "vslide/register/register.h"

namespace vslide {

Status register_other_planes(const SlideSource& slide, const RegisterOptions& options, double tolerance_px,
                             RegisterResult* reference, nlohmann::json* summary) {
  const MosaicGeometry& g = slide.geometry();
  Registration& reg = reference->registration;
  reg.reference_z = options.z;
  reg.reference_t = options.t;
  reg.plane_fields.clear();
  if (summary) *summary = nlohmann::json::array();
  const double um = g.pixel_size_um;
  for (int32_t z = 0; z < g.z_planes; ++z) {
    for (int32_t t = 0; t < g.timepoints; ++t) {
      if (z == options.z && t == options.t) continue;
      RegisterOptions o = options;
      o.z = z;
      o.t = t;
      o.colour = false;
      o.previous_pairs.clear();
      o.previous_null_scores.clear();
      VSLIDE_ASSIGN_OR_RETURN(RegisterResult r, register_slide(slide, o));
      // Registration fixes relative positions; the two solutions are compared
      // after removing their median difference over the fields both
      // measured, so a plane that differs only by the solver's gauge moves
      // nothing, and one field moved does not move the others.
      std::vector<double> ddx, ddy;
      for (const FieldPlacement& f : r.registration.fields) {
        const FieldPlacement* ref = reg.find(f.row, f.col);
        if (!f.measured || ref == nullptr || !ref->measured) continue;
        ddx.push_back(f.x_um - ref->x_um);
        ddy.push_back(f.y_um - ref->y_um);
      }
      auto median = [](std::vector<double> v) {
        if (v.empty()) return 0.0;
        std::nth_element(v.begin(), v.begin() + ptrdiff_t(v.size() / 2), v.end());
        return v[v.size() / 2];
      };
      const double mx = median(ddx), my = median(ddy);
      int32_t moved = 0;
      double largest = 0;
      for (const FieldPlacement& f : r.registration.fields) {
        const FieldPlacement* ref = reg.find(f.row, f.col);
        if (!f.measured || ref == nullptr) continue;  // unmeasured: the reference position stands
        const double d = std::hypot(f.x_um - mx - ref->x_um, f.y_um - my - ref->y_um) / um;
        if (d <= tolerance_px) continue;
        FieldPlacement p = f;
        p.x_um -= mx;
        p.y_um -= my;
        reg.plane_fields.push_back(PlanePlacement{z, t, p});
        ++moved;
        largest = std::max(largest, d);
      }
      if (summary) {
        summary->push_back({{"z", z},
                            {"t", t},
                            {"fields_measured", r.fields_measured},
                            {"fields_moved", moved},
                            {"largest_move_px", largest},
                            {"wall_s", r.wall_s}});
      }
    }
  }
  std::sort(reg.plane_fields.begin(), reg.plane_fields.end(), [](const PlanePlacement& a, const PlanePlacement& b) {
    return std::array{a.z, a.t, a.field.row, a.field.col} < std::array{b.z, b.t, b.field.row, b.field.col};
  });
  return Status();
}

}  // namespace vslide
