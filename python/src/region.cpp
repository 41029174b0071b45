#include "region.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <mutex>
#include <thread>

namespace vslide::python {
namespace {

// Region pixels are rows and columns of 32-bit blocks for MosaicFuser; bands
// of this many output rows are fused in parallel (decoded planes are shared
// through the fuser's cache).
constexpr int32_t kBandRows = 256;

FusionOptions base_options(const RegionRequest& req) {
  FusionOptions o;
  o.channels = req.channels;
  o.levels = req.level + 1;
  o.use_registration = req.registered;
  o.use_flatfield = req.flatfield;
  return o;
}

}  // namespace

Result<SlideFrame> slide_frame(const SlideSource& slide, bool registered) {
  FusionOptions o;
  o.levels = 1;
  o.use_registration = registered;
  VSLIDE_ASSIGN_OR_RETURN(auto fuser, MosaicFuser::create(slide, o));
  const FusionPlan& p = fuser->plan();
  return SlideFrame{p.origin_x_um, p.origin_y_um, p.width, p.height, p.registered};
}

Status fuse_region(const SlideSource& slide, const RegionRequest& req, std::vector<uint16_t>* out,
                   int64_t* out_width, int64_t* out_height) {
  const MosaicGeometry& g = slide.geometry();
  const std::string where = slide.describe() + ": region (" + std::to_string(req.x0) + "," + std::to_string(req.y0) +
                            ")-(" + std::to_string(req.x1) + "," + std::to_string(req.y1) + ")";
  if (req.x1 <= req.x0 || req.y1 <= req.y0) return Status::invalid_argument(where + " is empty or inverted");
  if (req.level < 0 || req.level > 20) {
    return Status::invalid_argument(where + ": level " + std::to_string(req.level) + " is outside 0..20");
  }
  std::vector<int32_t> channels = req.channels;
  if (channels.empty()) {
    for (int32_t c = 0; c < g.channels; ++c) channels.push_back(c);
  }
  for (int32_t c : channels) {
    if (c < 0 || c >= g.channels) {
      return Status::invalid_argument(where + ": channel " + std::to_string(c) + " outside 0.." +
                                      std::to_string(g.channels - 1));
    }
  }
  if (req.z < 0 || req.z >= g.z_planes || req.t < 0 || req.t >= g.timepoints) {
    return Status::invalid_argument(where + ": z " + std::to_string(req.z) + " / t " + std::to_string(req.t) +
                                    " outside the slide's " + std::to_string(g.z_planes) + " z planes and " +
                                    std::to_string(g.timepoints) + " time points");
  }
  const int64_t s = int64_t(1) << req.level;
  const int64_t W = (req.x1 - req.x0 + s - 1) / s, H = (req.y1 - req.y0 + s - 1) / s;
  if (double(W) * double(H) * double(channels.size()) * 2 > double(int64_t(4) << 30) || W > INT32_MAX) {
    return Status::invalid_argument(where + " at level " + std::to_string(req.level) + " is " + std::to_string(W) +
                                    "x" + std::to_string(H) + " x " + std::to_string(channels.size()) +
                                    " channels, over 4 GiB: ask for a coarser level or a smaller region");
  }
  VSLIDE_ASSIGN_OR_RETURN(SlideFrame frame, slide_frame(slide, req.registered));
  const double px = g.pixel_size_um;
  FusionOptions o = base_options(req);
  o.channels = channels;
  o.region_um = std::array<double, 4>{frame.origin_x_um + double(req.x0) * px, frame.origin_y_um + double(req.y0) * px,
                                      frame.origin_x_um + double(req.x1) * px, frame.origin_y_um + double(req.y1) * px};
  VSLIDE_ASSIGN_OR_RETURN(auto fuser, MosaicFuser::create(slide, o));

  out->assign(size_t(W) * size_t(H) * channels.size(), 0);
  struct Job {
    int32_t channel;  // output channel
    int64_t y;
    int32_t rows;
  };
  std::vector<Job> jobs;
  for (size_t c = 0; c < channels.size(); ++c) {
    for (int64_t y = 0; y < H; y += kBandRows) jobs.push_back({int32_t(c), y, int32_t(std::min<int64_t>(kBandRows, H - y))});
  }
  std::mutex mu;  // guards failure
  Status failure;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      const Job& j = jobs[i];
      uint16_t* dst = out->data() + size_t(j.channel) * size_t(W) * size_t(H) + size_t(j.y) * size_t(W);
      Status st = fuser->fuse_block(req.level, OutputPlane{j.channel, req.z, req.t}, 0, j.y, int32_t(W), j.rows,
                                    std::span<uint16_t>(dst, size_t(W) * size_t(j.rows)));
      if (!st.ok()) {
        std::lock_guard lock(mu);
        if (failure.ok()) failure = st;
      }
    }
  };
  unsigned n = req.threads ? req.threads : std::max(1u, std::thread::hardware_concurrency());
  n = unsigned(std::min<size_t>(n, jobs.size()));
  std::vector<std::thread> pool;
  for (unsigned k = 1; k < n; ++k) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (!failure.ok()) return failure;
  *out_width = W;
  *out_height = H;
  return Status();
}

}  // namespace vslide::python
