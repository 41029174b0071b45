#include "vslide/analysis/merge.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>
#include <utility>

namespace vslide {
namespace {

struct BoxUm {
  double x0, y0, x1, y1;
  double area() const { return std::max(0.0, x1 - x0) * std::max(0.0, y1 - y0); }
};

BoxUm box_of(const DetectedObject& o, double p) {
  const double ox = o.x_um - o.x_px * p, oy = o.y_um - o.y_px * p;  // the field's top-left corner
  return {ox + o.bbox_x0 * p, oy + o.bbox_y0 * p, ox + o.bbox_x1 * p, oy + o.bbox_y1 * p};
}

// How well `a` and `b` agree as one object (0: not the same): among the
// pairs whose boxes agree, the closer centroids.
double match_score(const DetectedObject& a, const BoxUm& ba, const DetectedObject& b, const BoxUm& bb,
                   double slack) {
  const bool a_small = ba.area() <= bb.area();
  const DetectedObject& s = a_small ? a : b;
  const BoxUm& small = a_small ? ba : bb;
  const BoxUm& big = a_small ? bb : ba;
  // The larger box grown by the slack: a thin cut sliver shifted by the
  // placement error still falls inside it.
  const double ix = std::min(small.x1, big.x1 + slack) - std::max(small.x0, big.x0 - slack);
  const double iy = std::min(small.y1, big.y1 + slack) - std::max(small.y0, big.y0 - slack);
  if (ix <= 0 || iy <= 0) return 0;
  const double frac = std::min(1.0, ix * iy / std::max(1e-12, small.area()));
  const bool inside = s.x_um >= big.x0 - slack && s.x_um <= big.x1 + slack && s.y_um >= big.y0 - slack &&
                      s.y_um <= big.y1 + slack;
  if (!inside || frac < 0.5) return 0;
  const double d = std::hypot(a.x_um - b.x_um, a.y_um - b.y_um);
  return 1.0 / (1.0 + d);
}

// Distance of the bounding box to the nearest tile edge, in pixels.
int32_t edge_margin(const DetectedObject& o, int32_t w, int32_t h) {
  return std::min({o.bbox_x0, o.bbox_y0, w - o.bbox_x1, h - o.bbox_y1});
}

uint64_t field_of(const DetectedObject& o) { return (uint64_t(uint32_t(o.key.row)) << 32) | uint32_t(o.key.col); }

}  // namespace

MergeStats merge_overlaps(std::vector<DetectedObject>* objects, int32_t tile_width, int32_t tile_height,
                          double pixel_size_um, double slack_um) {
  std::vector<DetectedObject>& objs = *objects;
  const size_t n = objs.size();
  const double p = pixel_size_um;
  MergeStats stats;
  stats.detections = n;
  std::vector<BoxUm> boxes(n);
  double reach = 0;
  for (size_t i = 0; i < n; ++i) {
    objs[i].kept = true;
    objs[i].duplicate_of = 0;
    boxes[i] = box_of(objs[i], p);
    reach = std::max({reach, boxes[i].x1 - boxes[i].x0, boxes[i].y1 - boxes[i].y0});
  }
  const double slack = std::max(2 * p, slack_um);
  reach += 2 * slack;

  // Centroids hashed on a grid of cells `reach` wide: copies of one object
  // lie within one cell of each other.
  auto cell_of = [&](double x, double y) {
    return std::pair<int64_t, int64_t>{int64_t(std::floor(x / reach)), int64_t(std::floor(y / reach))};
  };
  auto cell_key = [](int64_t cx, int64_t cy) { return (uint64_t(cx) * 0x9e3779b97f4a7c15ULL) ^ uint64_t(cy); };
  std::unordered_map<uint64_t, std::vector<size_t>> grid;
  for (size_t i = 0; i < n; ++i) {
    const auto [cx, cy] = cell_of(objs[i].x_um, objs[i].y_um);
    grid[cell_key(cx, cy)].push_back(i);
  }
  struct Pair {
    double score;
    size_t a, b;
  };
  std::vector<Pair> pairs;
  for (size_t i = 0; i < n; ++i) {
    const auto [cx, cy] = cell_of(objs[i].x_um, objs[i].y_um);
    for (int64_t dy = -1; dy <= 1; ++dy)
      for (int64_t dx = -1; dx <= 1; ++dx) {
        const auto it = grid.find(cell_key(cx + dx, cy + dy));
        if (it == grid.end()) continue;
        for (size_t j : it->second) {
          if (j <= i || field_of(objs[i]) == field_of(objs[j])) continue;
          if (const double s = match_score(objs[i], boxes[i], objs[j], boxes[j], slack); s > 0)
            pairs.push_back({s, i, j});
        }
      }
  }
  // Best agreements first; a union never puts two detections of one field
  // in a group.
  std::sort(pairs.begin(), pairs.end(), [&](const Pair& x, const Pair& y) {
    if (x.score != y.score) return x.score > y.score;
    return std::pair{objs[x.a].id, objs[x.b].id} < std::pair{objs[y.a].id, objs[y.b].id};
  });
  std::vector<size_t> parent(n);
  std::iota(parent.begin(), parent.end(), size_t(0));
  std::vector<std::vector<uint64_t>> fields(n);  // per root: the fields in its group
  for (size_t i = 0; i < n; ++i) fields[i] = {field_of(objs[i])};
  auto root = [&](size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (const Pair& pr : pairs) {
    size_t ra = root(pr.a), rb = root(pr.b);
    if (ra == rb) continue;
    const auto& fa = fields[ra];
    const bool clash = std::any_of(fields[rb].begin(), fields[rb].end(),
                                   [&](uint64_t f) { return std::find(fa.begin(), fa.end(), f) != fa.end(); });
    if (clash) continue;
    if (fields[ra].size() < fields[rb].size()) std::swap(ra, rb);
    parent[rb] = ra;
    fields[ra].insert(fields[ra].end(), fields[rb].begin(), fields[rb].end());
    fields[rb].clear();
  }

  // The preferred copy of each group.
  auto better = [&](size_t a, size_t b) {
    const DetectedObject &x = objs[a], &y = objs[b];
    if (x.touches_border != y.touches_border) return !x.touches_border;
    const int32_t mx = edge_margin(x, tile_width, tile_height), my = edge_margin(y, tile_width, tile_height);
    if (mx != my) return mx > my;
    if (x.area_px != y.area_px) return x.area_px > y.area_px;
    return x.id < y.id;
  };
  std::vector<size_t> best(n, SIZE_MAX);
  for (size_t i = 0; i < n; ++i) {
    size_t& b = best[root(i)];
    if (b == SIZE_MAX || better(i, b)) b = i;
  }
  for (size_t i = 0; i < n; ++i) {
    const size_t b = best[root(i)];
    if (b == i) continue;
    objs[i].kept = false;
    objs[i].duplicate_of = objs[b].id;
    ++stats.duplicates;
    stats.cut_replaced += objs[i].touches_border && !objs[b].touches_border;
  }
  stats.unique = n - stats.duplicates;
  return stats;
}

}  // namespace vslide
