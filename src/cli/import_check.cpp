// Whole-mosaic checks of `vslide import-tiles`, before anything is written.
#include <algorithm>
#include <cmath>
#include <map>

#include "import_plan.h"

namespace vslide::cli {
namespace {

std::string fmt1(double v) { return format_number(v, 1); }

// Indices 0, 1, ... for sorted values, a new index where the gap exceeds `jump`.
std::vector<int> cluster(const std::vector<double>& v, double jump) {
  std::vector<size_t> order(v.size());
  for (size_t i = 0; i < v.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<int> out(v.size());
  int k = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i > 0 && v[order[i]] - v[order[i - 1]] > jump) ++k;
    out[order[i]] = k;
  }
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

Status assign_grid(ImportPlan* plan, double tile_w, double tile_h) {
  std::vector<double> xs, ys;
  std::vector<size_t> todo;
  for (size_t i = 0; i < plan->fields.size(); ++i) {
    if (plan->fields[i].row >= 0) continue;
    todo.push_back(i);
    xs.push_back(plan->fields[i].x);
    ys.push_back(plan->fields[i].y);
  }
  const auto cols = cluster(xs, tile_w / 2), rows = cluster(ys, tile_h / 2);
  std::map<std::pair<int, int>, size_t> cell;
  for (size_t k = 0; k < todo.size(); ++k) {
    ImportField& f = plan->fields[todo[k]];
    f.row = rows[k], f.col = cols[k];
    auto [it, fresh] = cell.emplace(std::pair{f.row, f.col}, todo[k]);
    if (!fresh) {
      const ImportField& o = plan->fields[it->second];
      return Status::already_exists(f.label + " at (" + format_number(f.x, 2) + ", " + format_number(f.y, 2) + ") and " + o.label + " at (" +
                                    format_number(o.x, 2) + ", " + format_number(o.y, 2) + ") fall in the same mosaic cell (row " +
                                    std::to_string(f.row) + ", col " + std::to_string(f.col) +
                                    "): the positions are not a grid of tiles");
    }
  }
  for (ImportPlane& p : plan->planes) {
    p.key.row = plan->fields[p.field].row;
    p.key.col = plan->fields[p.field].col;
  }
  return Status();
}

Result<std::pair<int32_t, int32_t>> check_pages(const ImportPlan& plan) {
  const ImportPlane& first = plan.planes.front();
  const TiffPage& p0 = plan.files[first.file].pages[size_t(first.page)];
  for (const ImportPlane& pl : plan.planes) {
    const TiffDirectory& dir = plan.files[pl.file];
    const TiffPage& p = dir.pages[size_t(pl.page)];
    const std::string where = (dir.pages.size() > 1 ? dir.path + " page " + std::to_string(pl.page) : dir.path);
    if (p.bits_per_sample != 16 || p.sample_format != 1) {
      return Status::invalid_argument(where + ": expected 16-bit unsigned pixels, found " +
                                      std::to_string(p.bits_per_sample) + "-bit" +
                                      (p.sample_format != 1 ? " non-integer" : "") + " (" + pl.label + ")");
    }
    if (p.samples_per_pixel != 1) {
      return Status::invalid_argument(where + ": expected one sample per pixel (grayscale), found " +
                                      std::to_string(p.samples_per_pixel) + " (" + pl.label + ")");
    }
    if (p.width != p0.width || p.height != p0.height) {
      return Status::invalid_argument(where + ": tile " + pl.key.to_string() + " is " + std::to_string(p.width) + "x" +
                                      std::to_string(p.height) + ", the first tile is " + std::to_string(p0.width) + "x" +
                                      std::to_string(p0.height));
    }
  }
  if (p0.width == 0 || p0.height == 0 || uint64_t(p0.width) * p0.height > kMaxTiffPagePixels) {
    return Status::invalid_argument(plan.files[first.file].path + ": implausible tile size " +
                                    std::to_string(p0.width) + "x" + std::to_string(p0.height));
  }
  return std::pair{int32_t(p0.width), int32_t(p0.height)};
}

Status check_spacing(const ImportPlan& plan, const std::vector<FieldOfView>& fields, double tile_w_um,
                     double tile_h_um, double pixel_size_um) {
  std::map<std::pair<int, int>, const FieldOfView*> at;
  for (const auto& f : fields) at[{f.row, f.col}] = &f;
  std::vector<double> col_steps, row_steps;
  for (const auto& f : fields) {
    if (auto it = at.find({f.row, f.col + 1}); it != at.end()) col_steps.push_back(std::abs(it->second->stage_x_um - f.stage_x_um));
    if (auto it = at.find({f.row + 1, f.col}); it != at.end()) row_steps.push_back(std::abs(it->second->stage_y_um - f.stage_y_um));
  }
  const std::string tile = std::to_string(int64_t(std::llround(tile_w_um / pixel_size_um))) + "x" +
                           std::to_string(int64_t(std::llround(tile_h_um / pixel_size_um))) + " px x " +
                           format_number(pixel_size_um, 4) + " um = " + fmt1(tile_w_um) + " x " + fmt1(tile_h_um) + " um";
  const std::string hint =
      ". Check --pixel-size-um and the position units (--position-units um|px, or stage_x_px/stage_y_px"
      " columns); --no-spacing-check imports it anyway";
  auto check = [&](const std::vector<double>& steps, double extent, const char* what, const char* dim) -> Status {
    if (steps.empty()) return Status();
    const double m = median(steps);
    const std::string said = std::string("neighbouring ") + what + " lie " + fmt1(m) + " um apart (median of " +
                             std::to_string(steps.size()) + " pairs) but a tile is " + tile;
    // Gaps: the stage moved further than a tile (1 px slack for rounding).
    if (m > extent + pixel_size_um) {
      return Status::invalid_argument(plan.source + ": the mosaic would scatter: " + said + ", leaving " +
                                      fmt1(m - extent) + " um gaps " + dim + hint);
    }
    // Pile-up: more than 90% overlap is no mosaic.
    if (m < 0.1 * extent) {
      return Status::invalid_argument(plan.source + ": the mosaic would pile up: " + said + " (" +
                                      format_number(100 * (1 - m / extent), 0) + "% overlap)" + hint);
    }
    return Status();
  };
  VSLIDE_RETURN_IF_ERROR(check(col_steps, tile_w_um, "columns", "between columns"));
  VSLIDE_RETURN_IF_ERROR(check(row_steps, tile_h_um, "rows", "between rows"));
  // Two fields on top of each other (within a tenth of a tile) is a pile-up too.
  std::vector<const FieldOfView*> byx;
  for (const auto& f : fields) byx.push_back(&f);
  std::sort(byx.begin(), byx.end(), [](auto* a, auto* b) { return a->stage_x_um < b->stage_x_um; });
  for (size_t i = 0; i < byx.size(); ++i) {
    for (size_t j = i + 1; j < byx.size() && byx[j]->stage_x_um - byx[i]->stage_x_um < 0.1 * tile_w_um; ++j) {
      if (std::abs(byx[j]->stage_y_um - byx[i]->stage_y_um) < 0.1 * tile_h_um) {
        return Status::invalid_argument(plan.source + ": the mosaic would pile up: fields (" + std::to_string(byx[i]->row) +
                                        "," + std::to_string(byx[i]->col) + ") and (" + std::to_string(byx[j]->row) +
                                        "," + std::to_string(byx[j]->col) + ") lie within a tenth of a tile (" +
                                        tile + ") of each other" + hint);
      }
    }
  }
  return Status();
}

}  // namespace vslide::cli
