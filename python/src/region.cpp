#include "region.h"

#include "vslide/core/placement.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <thread>

namespace vslide::python {
namespace {

struct Placed {
  int32_t row, col;
  double x_px, y_px;  // level-0 slide pixels of the tile's top-left corner
};

struct Placement {
  SlideFrame frame;
  std::vector<Placed> fields;
  std::vector<ChannelOffset> offsets;
};

Result<Placement> place_fields(const SlideSource& slide, bool use_registration) {
  Placement p;
  const MosaicGeometry& g = slide.geometry();
  if (!(g.pixel_size_um > 0)) return Status::invalid_argument(slide.describe() + ": pixel size is not positive");
  std::optional<Registration> reg;
  if (use_registration) {
    auto r = slide.read_registration();
    if (r.ok()) reg = std::move(r).value();
    else if (r.status().code() != StatusCode::kNotFound) return r.status();
  }
  p.frame.registered = reg.has_value();
  if (reg) p.offsets = reg->channel_offsets;
  auto index = slide.index();
  double min_x = std::numeric_limits<double>::infinity(), min_y = min_x, max_x = -min_x, max_y = -min_x;
  std::vector<std::pair<double, double>> um;
  for (const auto& e : index->entries()) {
    // The one placement rule every part uses (core/placement.h).
    const auto [x, y] = field_origin_um(e.field, reg ? &*reg : nullptr,
                                        use_registration ? PositionsMode::kRegistered : PositionsMode::kStage);
    min_x = std::min(min_x, x), min_y = std::min(min_y, y);
    max_x = std::max(max_x, x), max_y = std::max(max_y, y);
    um.emplace_back(x, y);
  }
  if (um.empty()) return Status::not_found(slide.describe() + ": the slide has no fields of view");
  p.frame.origin_x_um = min_x;
  p.frame.origin_y_um = min_y;
  const double px = g.pixel_size_um;
  p.frame.width = int64_t(std::llround((max_x - min_x) / px)) + g.tile_width;
  p.frame.height = int64_t(std::llround((max_y - min_y) / px)) + g.tile_height;
  for (size_t i = 0; i < um.size(); ++i) {
    const auto& e = index->entries()[i];
    p.fields.push_back({e.field.row, e.field.col, (um[i].first - min_x) / px, (um[i].second - min_y) / px});
  }
  return p;
}

// Per-pixel gain of a w x h plane (any level), sampled by FlatField::gain_at
// at pixel centres: the rule the renderer and export use.
std::vector<float> gain_map(const FlatField& ff, int32_t w, int32_t h) {
  std::vector<float> out(size_t(w) * size_t(h), 1.0f);
  for (int32_t y = 0; y < h; ++y) {
    for (int32_t x = 0; x < w; ++x) {
      out[size_t(y) * size_t(w) + size_t(x)] = ff.gain_at((float(x) + 0.5f) / float(w), (float(y) + 0.5f) / float(h));
    }
  }
  return out;
}

}  // namespace

Result<SlideFrame> slide_frame(const SlideSource& slide, bool registered) {
  auto p = place_fields(slide, registered);
  if (!p.ok()) return p.status();
  return p->frame;
}

Status fuse_region(const SlideSource& slide, const RegionRequest& req, std::vector<uint16_t>* out,
                   int64_t* out_width, int64_t* out_height) {
  const MosaicGeometry& g = slide.geometry();
  const std::string where = slide.describe() + ": region (" + std::to_string(req.x0) + "," + std::to_string(req.y0) +
                            ")-(" + std::to_string(req.x1) + "," + std::to_string(req.y1) + ")";
  if (req.x1 <= req.x0 || req.y1 <= req.y0) return Status::invalid_argument(where + " is empty or inverted");
  if (req.level < 0 || req.level > 20) return Status::invalid_argument(where + ": level " + std::to_string(req.level) + " is outside 0..20");
  std::vector<int32_t> channels = req.channels;
  if (channels.empty()) {
    for (int32_t c = 0; c < g.channels; ++c) channels.push_back(c);
  }
  for (int32_t c : channels) {
    if (c < 0 || c >= g.channels) {
      return Status::invalid_argument(where + ": channel " + std::to_string(c) + " outside 0.." + std::to_string(g.channels - 1));
    }
  }
  if (req.z < 0 || req.z >= g.z_planes || req.t < 0 || req.t >= g.timepoints) {
    return Status::invalid_argument(where + ": z " + std::to_string(req.z) + " / t " + std::to_string(req.t) +
                                    " outside the slide's " + std::to_string(g.z_planes) + " z planes and " +
                                    std::to_string(g.timepoints) + " time points");
  }
  const int64_t s = int64_t(1) << req.level;
  const int64_t W = (req.x1 - req.x0 + s - 1) / s, H = (req.y1 - req.y0 + s - 1) / s;
  const double bytes = double(W) * double(H) * double(channels.size()) * 2;
  if (bytes > double(int64_t(4) << 30)) {
    return Status::invalid_argument(where + " at level " + std::to_string(req.level) + " is " + std::to_string(W) + "x" +
                                    std::to_string(H) + " x " + std::to_string(channels.size()) +
                                    " channels, over 4 GiB: ask for a coarser level or a smaller region");
  }
  VSLIDE_ASSIGN_OR_RETURN(Placement placement, place_fields(slide, req.registered));
  const auto levels = slide.zoom_levels();
  const bool stored_level = std::find(levels.begin(), levels.end(), req.level) != levels.end();
  const int32_t lw = g.level_width(req.level), lh = g.level_height(req.level);

  out->assign(size_t(W) * size_t(H) * channels.size(), 0);
  std::vector<float> acc(size_t(W) * size_t(H)), wsum(size_t(W) * size_t(H));
  for (size_t ci = 0; ci < channels.size(); ++ci) {
    const int32_t channel = channels[ci];
    double dx = 0, dy = 0;  // this channel's content sits (dx, dy) raw pixels right/down of the reference
    for (const auto& o : placement.offsets) {
      if (o.channel == channel) dx = o.dx_px, dy = o.dy_px;
    }
    std::vector<float> gain;
    float dark = 0;
    if (req.flatfield) {
      auto ff = slide.read_flatfield(channel);
      if (ff.ok() && ff->valid()) {
        gain = gain_map(*ff, lw, lh);
        dark = ff->dark;
      } else if (ff.status().code() != StatusCode::kNotFound) {
        return ff.status();
      }
    }
    struct Job {
      const Placed* field;
      int64_t ox, oy;  // tile's top-left in output pixels
    };
    std::vector<Job> jobs;
    const int plane = g.plane_index(channel, req.z, req.t);
    auto index = slide.index();
    for (const auto& f : placement.fields) {
      const int64_t ox = std::llround((f.x_px - dx - double(req.x0)) / double(s));
      const int64_t oy = std::llround((f.y_px - dy - double(req.y0)) / double(s));
      if (ox >= W || oy >= H || ox + lw <= 0 || oy + lh <= 0) continue;
      if (!index->has_plane(f.row, f.col, plane)) continue;
      jobs.push_back({&f, ox, oy});
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    std::fill(wsum.begin(), wsum.end(), 0.0f);
    std::mutex mu;  // guards acc, wsum and failure
    Status failure;
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t i = next++; i < jobs.size(); i = next++) {
        const Job& j = jobs[i];
        TileKey key{j.field->row, j.field->col, channel, req.z, req.t, stored_level ? req.level : 0};
        Result<Image16> img = slide.read(key);
        if (img.ok() && !stored_level && req.level > 0) img = downsample(img->view(), int(s));
        std::lock_guard lock(mu);
        if (!img.ok()) {
          if (failure.ok()) failure = img.status();
          continue;
        }
        if (img->width() != lw || img->height() != lh) {
          if (failure.ok()) failure = Status::corruption(slide.describe() + ": tile " + key.to_string() + " is " +
                                                         std::to_string(img->width()) + "x" + std::to_string(img->height()));
          continue;
        }
        const int64_t ys = std::max<int64_t>(0, -j.oy), ye = std::min<int64_t>(lh, H - j.oy);
        const int64_t xs = std::max<int64_t>(0, -j.ox), xe = std::min<int64_t>(lw, W - j.ox);
        for (int64_t y = ys; y < ye; ++y) {
          const uint16_t* src = img->row(int(y));
          const float wy = float(std::min<int64_t>(y + 1, lh - y));
          float* a = acc.data() + size_t(j.oy + y) * size_t(W) + size_t(j.ox);
          float* w = wsum.data() + size_t(j.oy + y) * size_t(W) + size_t(j.ox);
          for (int64_t x = xs; x < xe; ++x) {
            const float wt = std::min(wy, float(std::min<int64_t>(x + 1, lw - x)));
            float v = float(src[x]);
            // FlatField::correct: dark + (raw - dark) / gain, clamped to uint16 below.
            if (!gain.empty()) v = std::max(0.0f, dark + (v - dark) / gain[size_t(y) * lw + size_t(x)]);
            a[x] += wt * v;
            w[x] += wt;
          }
        }
      }
    };
    unsigned n = req.threads ? req.threads : std::max(1u, std::thread::hardware_concurrency());
    n = unsigned(std::min<size_t>(n, std::max<size_t>(1, jobs.size())));
    std::vector<std::thread> pool;
    for (unsigned k = 1; k < n; ++k) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
    if (!failure.ok()) return failure;
    uint16_t* dst = out->data() + ci * size_t(W) * size_t(H);
    for (size_t i = 0; i < acc.size(); ++i) {
      if (wsum[i] > 0) dst[i] = uint16_t(std::min(65535.0f, acc[i] / wsum[i] + 0.5f));
    }
  }
  *out_width = W;
  *out_height = H;
  return Status();
}

}  // namespace vslide::python
