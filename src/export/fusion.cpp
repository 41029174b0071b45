// The fusion engine: see include/vslide/export/fusion.h for the method.
#include "vslide/export/fusion.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <atomic>
#include <cmath>
#include <limits>
#include <list>
#include <map>
#include <unordered_map>
#include <mutex>

#include "plane_cache.h"
#include "vslide/core/placement.h"
#include "shading.h"

namespace vslide {

namespace {

// A field's rectangle at one level, in output pixels.
struct Placed {
  int32_t row = 0, col = 0;
  int64_t x = 0, y = 0;  // top-left output pixel
};

// Sample maps of one output channel at one level: reference-channel pixel
// x -> this channel's pixel (-1 when it falls outside the plane).
struct ChannelMap {
  std::vector<int32_t> u, v;
  bool identity = false;  // u[x] == x and v[y] == y: no colour offset at this level
};

// x -> source_x(x, level) (or y), ChannelOffset's one sampling rule.
std::vector<int32_t> sample_map(int32_t n, const ChannelOffset& o, int32_t level, bool y) {
  std::vector<int32_t> m(size_t(n), -1);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t s = y ? o.source_y(i, level) : o.source_x(i, level);
    if (s >= 0 && s < n) m[size_t(i)] = s;
  }
  return m;
}

// Feathering ramp: distance (1-based) to the nearest edge along one axis.
std::vector<uint32_t> ramp(int32_t n) {
  std::vector<uint32_t> r(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) r[size_t(i)] = uint32_t(std::min(i + 1, n - i));
  return r;
}

// The 2x2 mean of a plane into `buf`, rounded half up; a last odd row or
// column averages the pixels it has. Bit-equal to vslide::downsample(src, 2),
// several times faster (no division by a variable count in the interior).
Image16 half(const Image16& src, std::vector<uint16_t> buf) {
  const int w = src.width(), h = src.height(), ow = (w + 1) / 2, oh = (h + 1) / 2;
  buf.resize(size_t(ow) * size_t(oh));
  for (int oy = 0; oy < oh; ++oy) {
    const uint16_t* r0 = src.row(2 * oy);
    const uint16_t* r1 = 2 * oy + 1 < h ? src.row(2 * oy + 1) : nullptr;
    uint16_t* o = buf.data() + size_t(oy) * size_t(ow);
    const int full = w / 2;
    if (r1 != nullptr) {
      for (int x = 0; x < full; ++x) {
        o[x] = uint16_t((uint32_t(r0[2 * x]) + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1] + 2) >> 2);
      }
      if (full < ow) o[full] = uint16_t((uint32_t(r0[w - 1]) + r1[w - 1] + 1) >> 1);
    } else {
      for (int x = 0; x < full; ++x) o[x] = uint16_t((uint32_t(r0[2 * x]) + r0[2 * x + 1] + 1) >> 1);
      if (full < ow) o[full] = r0[w - 1];
    }
  }
  return Image16(ow, oh, std::move(buf));
}

}  // namespace

struct MosaicFuser::Impl {
  const SlideSource* src = nullptr;
  FusionOptions options;
  FusionPlan plan;
  MosaicGeometry geometry;
  std::shared_ptr<const TileIndex> index;
  std::vector<int32_t> stored_levels;
  // Field rectangles per level of each placement set: set 0 holds the
  // reference plane's positions; each (z, t) plane the registration places
  // apart (Registration::plane_fields) has a set of its own.
  std::vector<std::vector<std::vector<Placed>>> placed;    // [set][level]
  std::map<std::pair<int32_t, int32_t>, size_t> plane_set;  // (z, t) -> set; absent: set 0
  std::vector<std::vector<ChannelMap>> maps;           // [level][output channel]
  std::vector<std::vector<uint32_t>> ramp_x, ramp_y;   // [level]
  std::vector<std::unique_ptr<ShadingModel>> shading;  // [output channel], null = none
  mutable PlaneCache cache;

  explicit Impl(size_t cache_bytes) : cache(cache_bytes) {}

  Result<SharedImage16> load(const Placed& f, int32_t level, int32_t oc, const OutputPlane& p) const;
  const std::vector<Placed>& placed_at(int32_t level, int32_t z, int32_t t) const {
    const auto it = plane_set.find({z, t});
    return placed[it == plane_set.end() ? 0 : it->second][size_t(level)];
  }
};

Result<SharedImage16> MosaicFuser::Impl::load(const Placed& f, int32_t level, int32_t oc,
                                              const OutputPlane& p) const {
  const int32_t channel = plan.channels[size_t(oc)];
  if (!index->has_plane(f.row, f.col, geometry.plane_index(channel, p.z, p.t))) return SharedImage16();
  const TileKey key{f.row, f.col, channel, p.z, p.t, level};
  return cache.get_or_load(key, [&]() -> Result<SharedImage16> {
    const bool stored = level == 0 || (options.use_zoom_layers && std::find(stored_levels.begin(),
                                                                             stored_levels.end(), level) !=
                                                                       stored_levels.end());
    if (!stored) {
      // The previous level's plane (from the cache, usually: its blocks came
      // just before), 2x2-averaged: each level is the mean of the one below.
      auto prev = load(f, level - 1, oc, p);
      if (!prev.ok() || !*prev) return prev;
      const Image16& p = **prev;
      return cache.share(half(p, cache.take_buffer(size_t((p.width() + 1) / 2) * size_t((p.height() + 1) / 2))));
    }
    const int32_t w = geometry.level_width(level), h = geometry.level_height(level);
    std::vector<uint16_t> buf = cache.take_buffer(size_t(w) * size_t(h));
    if (Status s = src->read_into(key, buf); !s.ok()) {
      if (s.code() == StatusCode::kNotFound) return SharedImage16();
      return Status(s.code(), "fusing " + src->describe() + ": tile " + key.to_string() + ": " + s.message());
    }
    Image16 plane(w, h, std::move(buf));
    if (shading[size_t(oc)]) shading[size_t(oc)]->apply(level, plane);
    return cache.share(std::move(plane));
  });
}

MosaicFuser::MosaicFuser(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MosaicFuser::~MosaicFuser() = default;
const FusionPlan& MosaicFuser::plan() const { return impl_->plan; }
const SlideSource& MosaicFuser::source() const { return *impl_->src; }
uint64_t MosaicFuser::planes_decoded() const { return impl_->cache.misses(); }
uint64_t MosaicFuser::planes_reused() const { return impl_->cache.hits(); }

size_t MosaicFuser::fixed_bytes() const {
  size_t n = 0;
  for (const auto& m : impl_->shading) n += m ? m->bytes() : 0;
  return n;
}

void MosaicFuser::set_cache_bytes(size_t bytes) { impl_->cache.set_capacity(bytes); }

MosaicFuser::Footprint MosaicFuser::footprint(int32_t block) const {
  const Impl& m = *impl_;
  Footprint fp;
  block = std::max(1, block);
  // A block is of one plane: the busiest block of any placement set.
  for (size_t set = 0; set < m.placed.size(); ++set) {
    for (int32_t l = 0; l < m.plan.levels; ++l) {
      const int64_t tw = m.geometry.level_width(l), th = m.geometry.level_height(l);
      const size_t plane = size_t(tw) * size_t(th) * sizeof(uint16_t);
      const int64_t bx_n = (m.plan.level_width(l) + block - 1) / block;
      const int64_t by_n = (m.plan.level_height(l) + block - 1) / block;
      std::unordered_map<int64_t, int32_t> per_block;
      std::vector<int32_t> per_row(size_t(by_n + 1), 0), per_pair(size_t(by_n + 1), 0);
      for (const Placed& f : m.placed[set][size_t(l)]) {
        const int64_t x0 = std::max<int64_t>(0, f.x), x1 = std::min(m.plan.level_width(l), f.x + tw);
        const int64_t y0 = std::max<int64_t>(0, f.y), y1 = std::min(m.plan.level_height(l), f.y + th);
        if (x0 >= x1 || y0 >= y1) continue;
        const int64_t r0 = y0 / block, r1 = (y1 - 1) / block;
        for (int64_t r = r0; r <= r1; ++r) {
          ++per_row[size_t(r)];
          for (int64_t c = x0 / block; c <= (x1 - 1) / block; ++c) {
            fp.max_fields_per_block = std::max(fp.max_fields_per_block, ++per_block[r * bx_n + c]);
          }
        }
        // Fields over rows r and r + 1, each counted once.
        for (int64_t r = std::max<int64_t>(0, r0 - 1); r <= r1; ++r) ++per_pair[size_t(r)];
      }
      int32_t block_max = 0;
      for (const auto& [key, n] : per_block) block_max = std::max(block_max, n);
      fp.block_bytes = std::max(fp.block_bytes, size_t(block_max) * plane);
      for (int32_t n : per_pair) fp.row_pair_bytes = std::max(fp.row_pair_bytes, size_t(n) * plane);
    }
  }
  // A plane derived from the level below holds that plane and itself
  // meanwhile: at worst a level-0 plane read again and its half.
  if (m.plan.levels > 1) {
    const size_t plane0 = size_t(m.geometry.tile_width) * size_t(m.geometry.tile_height) * sizeof(uint16_t);
    fp.block_bytes += plane0 + plane0 / 4;
  }
  return fp;
}

Result<std::unique_ptr<MosaicFuser>> MosaicFuser::create(const SlideSource& src, const FusionOptions& options) {
  auto impl = std::make_unique<Impl>(options.cache_bytes);
  impl->src = &src;
  impl->options = options;
  impl->geometry = src.geometry();
  impl->index = src.index();
  impl->stored_levels = src.zoom_levels();
  const MosaicGeometry& g = impl->geometry;
  FusionPlan& plan = impl->plan;
  const std::string name = src.describe();
  if (!g.valid()) return Status::invalid_argument(name + ": invalid mosaic geometry");
  plan.pixel_size_um = g.pixel_size_um;
  plan.z_planes = g.z_planes;
  plan.timepoints = g.timepoints;
  plan.channels = options.channels;
  if (plan.channels.empty()) {
    for (int32_t c = 0; c < g.channels; ++c) plan.channels.push_back(c);
  }
  for (int32_t c : plan.channels) {
    if (c < 0 || c >= g.channels) {
      return Status::invalid_argument(name + ": channel " + std::to_string(c) + " does not exist (the slide has " +
                                      std::to_string(g.channels) + ")");
    }
  }

  // Positions: registered where stored, stage otherwise; per (z, t) plane
  // where the registration places that plane's fields apart.
  std::optional<Registration> reg;
  if (options.use_registration) {
    auto r = src.read_registration();
    if (r.ok()) {
      reg = std::move(*r);
    } else if (r.status().code() != StatusCode::kNotFound) {
      return r.status();
    }
  }
  plan.registered = reg.has_value();
  struct Pos {
    int32_t row, col;
    double x, y;
  };
  std::vector<const FieldOfView*> stored;
  for (const auto& e : impl->index->entries()) {
    if (std::any_of(e.planes.begin(), e.planes.end(), [](bool b) { return b; })) stored.push_back(&e.field);
  }
  if (stored.empty()) return Status::invalid_argument(name + ": the slide has no stored fields to fuse");
  plan.fields = int64_t(stored.size());
  std::vector<std::vector<Pos>> position_sets(1);  // [set], as Impl::placed
  for (const FieldOfView* f : stored) {
    const auto [x, y] = field_origin_um(*f, reg ? &*reg : nullptr, PositionsMode::kRegistered);
    position_sets[0].push_back(Pos{f->row, f->col, x, y});
  }
  if (reg) {
    for (const PlanePlacement& pp : reg->plane_fields) {
      if (pp.z < 0 || pp.z >= g.z_planes || pp.t < 0 || pp.t >= g.timepoints) continue;
      if (!impl->plane_set.emplace(std::pair{pp.z, pp.t}, position_sets.size()).second) continue;
      std::vector<Pos> set;
      for (const FieldOfView* f : stored) {
        const auto [x, y] = field_origin_um(*f, &*reg, PositionsMode::kRegistered, pp.z, pp.t);
        set.push_back(Pos{f->row, f->col, x, y});
      }
      position_sets.push_back(std::move(set));
    }
  }
  plan.planes_placed_apart = int32_t(impl->plane_set.size());

  const double px = g.pixel_size_um;
  std::array<double, 4> region{};
  if (options.region_um) {
    region = *options.region_um;
  } else {
    region = {std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
              std::numeric_limits<double>::lowest(), std::numeric_limits<double>::lowest()};
    for (const auto& positions : position_sets) {
      for (const Pos& p : positions) {
        region[0] = std::min(region[0], p.x);
        region[1] = std::min(region[1], p.y);
        region[2] = std::max(region[2], p.x + g.tile_width * px);
        region[3] = std::max(region[3], p.y + g.tile_height * px);
      }
    }
  }
  if (!(region[2] > region[0]) || !(region[3] > region[1])) {
    return Status::invalid_argument(name + ": empty region");
  }
  // Sizes in doubles first: a region of 1e300 um must not reach a float-to-int
  // conversion (undefined), nor 10^12 px an allocation. 2^31 px a side is far
  // beyond any slide (FORMAT.md limits allow 6.5e9 px only for an absurd one).
  constexpr double kMaxSidePx = 2147483648.0;
  const double width_px = std::ceil((region[2] - region[0]) / px - 1e-6);
  const double height_px = std::ceil((region[3] - region[1]) / px - 1e-6);
  if (!(width_px <= kMaxSidePx) || !(height_px <= kMaxSidePx) || !std::isfinite(region[0]) ||
      !std::isfinite(region[1])) {
    auto num = [](double v) {
      char text[32];
      std::snprintf(text, sizeof text, "%.6g", v);
      return std::string(text);
    };
    return Status::invalid_argument(name + ": region (" + num(region[0]) + ", " + num(region[1]) + ") - (" +
                                    num(region[2]) + ", " + num(region[3]) + ") um is " + num(width_px) + " x " +
                                    num(height_px) + " px at level 0; at most 2^31 px a side");
  }
  plan.origin_x_um = region[0];
  plan.origin_y_um = region[1];
  plan.width = std::max<int64_t>(1, int64_t(width_px));
  plan.height = std::max<int64_t>(1, int64_t(height_px));
  if (options.levels > 0) {
    plan.levels = std::min(options.levels, 24);
  } else {
    plan.levels = 1;
    while (plan.levels < 24 && std::max(plan.level_width(plan.levels - 1), plan.level_height(plan.levels - 1)) >
                                   std::max(1, options.fit_size)) {
      ++plan.levels;
    }
  }

  // Colour offsets, per output channel.
  std::vector<ChannelOffset> offsets(plan.channels.size());
  if (reg) {
    for (size_t i = 0; i < plan.channels.size(); ++i) {
      for (const ChannelOffset& o : reg->channel_offsets) {
        if (o.channel == plan.channels[i]) offsets[i] = o;
      }
      if (!(offsets[i].scale > 0)) offsets[i].scale = 1;
    }
  }

  // Shading models.
  plan.flatfield.assign(plan.channels.size(), false);
  impl->shading.resize(plan.channels.size());
  if (options.use_flatfield) {
    for (size_t i = 0; i < plan.channels.size(); ++i) {
      auto ff = src.read_flatfield(plan.channels[i]);
      if (!ff.ok()) {
        if (ff.status().code() == StatusCode::kNotFound) continue;
        return ff.status();
      }
      auto model = ShadingModel::create(*ff, g, plan.levels);
      if (!model.ok()) return Status(model.status().code(), name + ": " + model.status().message());
      impl->shading[i] = std::move(*model);
      plan.flatfield[i] = true;
    }
  }

  // Per level: placements (of each set), sample maps and feathering ramps.
  impl->placed.resize(position_sets.size());
  for (int32_t l = 0; l < plan.levels; ++l) {
    const double pl = px * double(int64_t(1) << l);
    for (size_t set = 0; set < position_sets.size(); ++set) {
      std::vector<Placed> placed;
      for (const Pos& p : position_sets[set]) {
        placed.push_back(Placed{p.row, p.col, int64_t(std::floor((p.x - plan.origin_x_um) / pl + 0.5)),
                                int64_t(std::floor((p.y - plan.origin_y_um) / pl + 0.5))});
      }
      impl->placed[set].push_back(std::move(placed));
    }
    const int32_t w = g.level_width(l), h = g.level_height(l);
    std::vector<ChannelMap> maps;
    for (const ChannelOffset& o : offsets) {
      ChannelMap m{sample_map(w, o, l, false), sample_map(h, o, l, true)};
      m.identity = true;
      for (int32_t i = 0; i < w; ++i) m.identity = m.identity && m.u[size_t(i)] == i;
      for (int32_t i = 0; i < h; ++i) m.identity = m.identity && m.v[size_t(i)] == i;
      maps.push_back(std::move(m));
    }
    impl->maps.push_back(std::move(maps));
    impl->ramp_x.push_back(ramp(w));
    impl->ramp_y.push_back(ramp(h));
  }
  return std::unique_ptr<MosaicFuser>(new MosaicFuser(std::move(impl)));
}

Status MosaicFuser::fuse_block(int32_t level, const OutputPlane& plane, int64_t bx, int64_t by, int32_t bw,
                               int32_t bh, std::span<uint16_t> out) const {
  const Impl& m = *impl_;
  if (level < 0 || level >= m.plan.levels) {
    return Status::out_of_range(m.src->describe() + ": level " + std::to_string(level) + " not planned");
  }
  if (plane.channel < 0 || size_t(plane.channel) >= m.plan.channels.size() || plane.z < 0 ||
      plane.z >= m.plan.z_planes || plane.t < 0 || plane.t >= m.plan.timepoints) {
    return Status::out_of_range(m.src->describe() + ": output plane outside the plan");
  }
  if (bw <= 0 || bh <= 0 || out.size() != size_t(bw) * size_t(bh)) {
    return Status::invalid_argument("fuse_block: buffer of " + std::to_string(out.size()) + " pixels for a " +
                                    std::to_string(bw) + "x" + std::to_string(bh) + " block");
  }
  const int32_t tw = m.geometry.level_width(level), th = m.geometry.level_height(level);
  const ChannelMap& map = m.maps[size_t(level)][size_t(plane.channel)];
  const auto& rx = m.ramp_x[size_t(level)];
  const auto& ry = m.ramp_y[size_t(level)];

  // The fields over the block, their planes held until the block is done
  // (the plan's working set, docs/EXPORT.md "Memory").
  struct Hit {
    SharedImage16 img;
    int64_t fx, fy;      // field origin, output pixels
    int32_t x0, x1;      // covered columns, block-relative
    int32_t y0, y1;      // covered rows, block-relative
  };
  thread_local std::vector<Hit> hits;
  hits.clear();
  for (const Placed& f : m.placed_at(level, plane.z, plane.t)) {
    const int64_t x0 = std::max(bx, f.x), x1 = std::min(bx + bw, f.x + tw);
    const int64_t y0 = std::max(by, f.y), y1 = std::min(by + bh, f.y + th);
    if (x0 >= x1 || y0 >= y1) continue;
    auto img = m.load(f, level, plane.channel, plane);
    if (!img.ok()) {
      hits.clear();
      return img.status();
    }
    if (!*img) continue;
    hits.push_back(Hit{std::move(*img), f.x, f.y, int32_t(x0 - bx), int32_t(x1 - bx), int32_t(y0 - by),
                       int32_t(y1 - by)});
  }

  // Row by row, the row cut into runs covered by the same fields: a run one
  // field covers is its raw pixels (the weighted mean of one value is the
  // value), a run nobody covers is 0, and only overlaps are blended.
  thread_local std::vector<const Hit*> active, cover;
  thread_local std::vector<int32_t> cuts;
  thread_local std::vector<uint64_t> sum_v;
  thread_local std::vector<uint32_t> sum_w;
  for (int32_t y = 0; y < bh; ++y) {
    uint16_t* orow = out.data() + size_t(y) * size_t(bw);
    active.clear();
    cuts.assign({0, bw});
    for (const Hit& h : hits) {
      if (y < h.y0 || y >= h.y1) continue;
      if (map.v[size_t(by + y - h.fy)] < 0) continue;  // colour offset: this row samples outside the plane
      active.push_back(&h);
      cuts.push_back(h.x0);
      cuts.push_back(h.x1);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    for (size_t k = 0; k + 1 < cuts.size(); ++k) {
      const int32_t a = cuts[k], b = cuts[k + 1], n = b - a;
      cover.clear();
      for (const Hit* h : active) {
        if (h->x0 <= a && h->x1 >= b) cover.push_back(h);
      }
      uint16_t* o = orow + a;
      if (cover.empty()) {
        std::fill(o, o + n, uint16_t(0));
        continue;
      }
      if (cover.size() == 1) {
        const Hit& h = *cover[0];
        const int32_t ty = int32_t(by + y - h.fy), tx0 = int32_t(bx + a - h.fx);
        const uint16_t* srow = h.img->row(map.v[size_t(ty)]);
        if (map.identity) {
          std::memcpy(o, srow + tx0, size_t(n) * sizeof(uint16_t));
        } else {
          for (int32_t i = 0; i < n; ++i) {
            const int32_t u = map.u[size_t(tx0 + i)];
            o[i] = u < 0 ? 0 : srow[u];
          }
        }
        continue;
      }
      sum_v.assign(size_t(n), 0);
      sum_w.assign(size_t(n), 0);
      for (const Hit* h : cover) {
        const int32_t ty = int32_t(by + y - h->fy), tx0 = int32_t(bx + a - h->fx);
        const uint16_t* srow = h->img->row(map.v[size_t(ty)]);
        const uint32_t wy = ry[size_t(ty)];
        const uint32_t* wx = rx.data() + tx0;
        if (map.identity) {
          const uint16_t* sp = srow + tx0;
          for (int32_t i = 0; i < n; ++i) {
            const uint32_t w = std::min(wx[i], wy);
            sum_v[size_t(i)] += uint64_t(w) * sp[i];
            sum_w[size_t(i)] += w;
          }
        } else {
          for (int32_t i = 0; i < n; ++i) {
            const int32_t u = map.u[size_t(tx0 + i)];
            if (u < 0) continue;
            const uint32_t w = std::min(wx[i], wy);
            sum_v[size_t(i)] += uint64_t(w) * srow[u];
            sum_w[size_t(i)] += w;
          }
        }
      }
      for (int32_t i = 0; i < n; ++i) {
        const uint32_t w = sum_w[size_t(i)];
        const uint64_t v = sum_v[size_t(i)] + w / 2;
        // 32-bit division where the sum allows it (almost always): several times cheaper.
        o[i] = w == 0 ? 0 : v <= UINT32_MAX ? uint16_t(uint32_t(v) / w) : uint16_t(v / w);
      }
    }
  }
  hits.clear();  // lets go of the planes
  return Status();
}

}  // namespace vslide
