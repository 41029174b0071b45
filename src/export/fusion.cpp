// The fusion engine: see include/vslide/export/fusion.h for the method.
#include "vslide/export/fusion.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <list>
#include <map>
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

std::vector<int32_t> sample_map(int32_t n, double scale, double shift) {
  std::vector<int32_t> m(size_t(n), -1);
  for (int32_t i = 0; i < n; ++i) {
    const double s = std::floor(double(i) * scale + shift + 0.5);
    if (s >= 0 && s < n) m[size_t(i)] = int32_t(s);
  }
  return m;
}

// Feathering ramp: distance (1-based) to the nearest edge along one axis.
std::vector<uint32_t> ramp(int32_t n) {
  std::vector<uint32_t> r(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) r[size_t(i)] = uint32_t(std::min(i + 1, n - i));
  return r;
}

}  // namespace

struct MosaicFuser::Impl {
  const SlideSource* src = nullptr;
  FusionOptions options;
  FusionPlan plan;
  MosaicGeometry geometry;
  std::shared_ptr<const TileIndex> index;
  std::vector<int32_t> stored_levels;
  std::vector<std::vector<Placed>> placed;             // [level]
  std::vector<std::vector<ChannelMap>> maps;           // [level][output channel]
  std::vector<std::vector<uint32_t>> ramp_x, ramp_y;   // [level]
  std::vector<std::unique_ptr<ShadingModel>> shading;  // [output channel], null = none
  mutable PlaneCache cache;

  explicit Impl(size_t cache_bytes) : cache(cache_bytes) {}

  Result<SharedImage16> load(const Placed& f, int32_t level, int32_t oc, const OutputPlane& p) const;
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
      return cache.share(downsample((*prev)->view(), 2));
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

  // Positions: registered where stored, stage otherwise.
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
  std::vector<Pos> positions;
  for (const auto& e : impl->index->entries()) {
    if (std::none_of(e.planes.begin(), e.planes.end(), [](bool b) { return b; })) continue;
    const auto [x, y] = field_origin_um(e.field, reg ? &*reg : nullptr, PositionsMode::kRegistered);
    positions.push_back(Pos{e.field.row, e.field.col, x, y});
  }
  if (positions.empty()) return Status::invalid_argument(name + ": the slide has no stored fields to fuse");
  plan.fields = int64_t(positions.size());

  const double px = g.pixel_size_um;
  std::array<double, 4> region{};
  if (options.region_um) {
    region = *options.region_um;
  } else {
    region = {std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
              std::numeric_limits<double>::lowest(), std::numeric_limits<double>::lowest()};
    for (const Pos& p : positions) {
      region[0] = std::min(region[0], p.x);
      region[1] = std::min(region[1], p.y);
      region[2] = std::max(region[2], p.x + g.tile_width * px);
      region[3] = std::max(region[3], p.y + g.tile_height * px);
    }
  }
  if (!(region[2] > region[0]) || !(region[3] > region[1])) {
    return Status::invalid_argument(name + ": empty region");
  }
  plan.origin_x_um = region[0];
  plan.origin_y_um = region[1];
  plan.width = std::max<int64_t>(1, int64_t(std::ceil((region[2] - region[0]) / px - 1e-6)));
  plan.height = std::max<int64_t>(1, int64_t(std::ceil((region[3] - region[1]) / px - 1e-6)));
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

  // Per level: placements, sample maps and feathering ramps.
  for (int32_t l = 0; l < plan.levels; ++l) {
    const double pl = px * double(int64_t(1) << l);
    std::vector<Placed> placed;
    for (const Pos& p : positions) {
      placed.push_back(Placed{p.row, p.col, int64_t(std::floor((p.x - plan.origin_x_um) / pl + 0.5)),
                              int64_t(std::floor((p.y - plan.origin_y_um) / pl + 0.5))});
    }
    impl->placed.push_back(std::move(placed));
    const int32_t w = g.level_width(l), h = g.level_height(l);
    std::vector<ChannelMap> maps;
    for (const ChannelOffset& o : offsets) {
      const double f = double(int64_t(1) << l);
      ChannelMap m{sample_map(w, o.scale, o.dx_px / f), sample_map(h, o.scale, o.dy_px / f)};
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
  thread_local std::vector<uint64_t> sum_v;
  thread_local std::vector<uint32_t> sum_w;
  const size_t n = size_t(bw) * size_t(bh);
  sum_v.assign(n, 0);
  sum_w.assign(n, 0);

  const int32_t tw = m.geometry.level_width(level), th = m.geometry.level_height(level);
  const ChannelMap& map = m.maps[size_t(level)][size_t(plane.channel)];
  const auto& rx = m.ramp_x[size_t(level)];
  const auto& ry = m.ramp_y[size_t(level)];
  for (const Placed& f : m.placed[size_t(level)]) {
    const int64_t x0 = std::max(bx, f.x), x1 = std::min(bx + bw, f.x + tw);
    const int64_t y0 = std::max(by, f.y), y1 = std::min(by + bh, f.y + th);
    if (x0 >= x1 || y0 >= y1) continue;
    auto img = m.load(f, level, plane.channel, plane);
    if (!img.ok()) return img.status();
    if (!*img) continue;
    const Image16& src = **img;
    for (int64_t y = y0; y < y1; ++y) {
      const int32_t ty = int32_t(y - f.y);
      const int32_t v = map.v[size_t(ty)];
      if (v < 0) continue;
      const uint16_t* srow = src.row(v);
      const uint32_t wy = ry[size_t(ty)];
      const size_t o = size_t(y - by) * size_t(bw) + size_t(x0 - bx);
      uint64_t* sv = sum_v.data() + o;
      uint32_t* sw = sum_w.data() + o;
      const int32_t tx0 = int32_t(x0 - f.x), count = int32_t(x1 - x0);
      if (map.identity) {  // the common case, kept free of the sample map's loads
        const uint16_t* sp = srow + tx0;
        const uint32_t* wx = rx.data() + tx0;
        for (int32_t i = 0; i < count; ++i) {
          const uint32_t w = std::min(wx[i], wy);
          sv[i] += uint64_t(w) * sp[i];
          sw[i] += w;
        }
        continue;
      }
      for (int32_t i = 0; i < count; ++i) {
        const int32_t u = map.u[size_t(tx0 + i)];
        if (u < 0) continue;
        const uint32_t w = std::min(rx[size_t(tx0 + i)], wy);
        sv[i] += uint64_t(w) * srow[u];
        sw[i] += w;
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const uint64_t v = sum_v[i] + sum_w[i] / 2;
    // 32-bit division where the sum allows it (almost always): several times cheaper.
    out[i] = sum_w[i] == 0 ? 0 : v <= UINT32_MAX ? uint16_t(uint32_t(v) / sum_w[i]) : uint16_t(v / sum_w[i]);
  }
  return Status();
}

}  // namespace vslide
