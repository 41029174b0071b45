// export_slide: plans the blocks, runs the fusion workers and hands each
// fused block to the format's sink; see include/vslide/export/export.h.
#include "vslide/export/export.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "pyramid_sink.h"

namespace vslide {

namespace fs = std::filesystem;

std::string_view export_format_name(ExportFormat f) {
  return f == ExportFormat::kOmeZarr ? "ome-zarr" : "ome-tiff";
}

Result<ExportFormat> parse_export_format(std::string_view name) {
  if (name == "ome-tiff" || name == "tiff") return ExportFormat::kOmeTiff;
  if (name == "ome-zarr" || name == "zarr") return ExportFormat::kOmeZarr;
  return Status::invalid_argument("unknown export format '" + std::string(name) + "' (ome-tiff or ome-zarr)");
}

namespace {

uint64_t disk_bytes(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return fs::file_size(p, ec);
  uint64_t n = 0;
  for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) n += it->file_size(ec);
  }
  return n;
}

// The blocks of every (plane, level) image in the order a TIFF stores them,
// made on demand: the list itself takes no memory per block.
class JobList {
 public:
  JobList(const FusionPlan& plan, int32_t block) : plan_(plan), block_(block) {
    const int32_t C = int32_t(plan.channels.size());
    for (int32_t t = 0; t < plan.timepoints; ++t) {
      for (int32_t z = 0; z < plan.z_planes; ++z) {
        for (int32_t c = 0; c < C; ++c) {
          for (int32_t l = 0; l < plan.levels; ++l) {
            const int64_t nx = (plan.level_width(l) + block - 1) / block;
            const int64_t ny = (plan.level_height(l) + block - 1) / block;
            images_.push_back(Image{total_, uint64_t(nx), uint64_t(ny), l, OutputPlane{c, z, t},
                                    (t * plan.z_planes + z) * C + c});
            total_ += uint64_t(nx * ny);
          }
        }
      }
    }
  }
  uint64_t size() const { return total_; }
  BlockJob at(uint64_t seq) const {
    auto it = std::upper_bound(images_.begin(), images_.end(), seq,
                               [](uint64_t s, const Image& im) { return s < im.first; });
    const Image& im = *(it - 1);
    const uint64_t k = seq - im.first;
    BlockJob j;
    j.seq = seq;
    j.level = im.level;
    j.plane = im.plane;
    j.plane_index = im.plane_index;
    j.x = int64_t(k % im.nx) * block_;
    j.y = int64_t(k / im.nx) * block_;
    j.w = int32_t(std::min<int64_t>(block_, plan_.level_width(im.level) - j.x));
    j.h = int32_t(std::min<int64_t>(block_, plan_.level_height(im.level) - j.y));
    j.first_of_image = k == 0;
    j.last_of_image = k + 1 == im.nx * im.ny;
    return j;
  }

 private:
  struct Image {
    uint64_t first, nx, ny;
    int32_t level;
    OutputPlane plane;
    int32_t plane_index;
  };
  const FusionPlan& plan_;
  const int32_t block_;
  std::vector<Image> images_;
  uint64_t total_ = 0;
};

// What an OME-Zarr export is made of: a resumed export must be the same.
nlohmann::json export_manifest(const SlideSource& src, const FusionPlan& plan, const ExportOptions& o, int32_t block) {
  const std::string codec = o.compression.empty() ? "blosc" : o.compression;
  nlohmann::json m = {{"slide_id", src.header().slide_id},
                      {"slide_index_fields", src.index()->entries().size()},
                      {"compression", codec},
                      {"tile", o.tile},
                      {"block", block},
                      {"origin_um", {plan.origin_x_um, plan.origin_y_um}},
                      {"size_px", {plan.width, plan.height}},
                      {"levels", plan.levels},
                      {"channels", plan.channels},
                      {"z", plan.z_planes},
                      {"t", plan.timepoints},
                      {"registered", plan.registered},
                      {"flatfield", plan.flatfield},
                      {"zoom_layers", o.fusion.use_zoom_layers}};
  // Only when there are any: a partial export made before per-plane
  // positions existed then still resumes when they do not matter, and is
  // refused (the key is missing) when they do.
  if (plan.planes_placed_apart > 0) m["planes_placed_apart"] = plan.planes_placed_apart;
  return m;
}

Status write_resume_manifest(const fs::path& partial, const nlohmann::json& m) {
  const fs::path p = partial / kResumeManifest;
  std::ofstream f(p, std::ios::trunc);
  f << m.dump(2) << "\n";
  f.close();
  if (!f) return Status::io_error(p.string() + ": write failed");
  return Status();
}

// The block size of the interrupted export at `partial`, when it was made
// with the same plan; FailedPrecondition naming what differs otherwise.
Result<int32_t> check_resume_manifest(const fs::path& partial, const nlohmann::json& now) {
  const fs::path p = partial / kResumeManifest;
  std::ifstream f(p);
  nlohmann::json old = nlohmann::json::parse(f, nullptr, false);
  if (!f || old.is_discarded() || !old.is_object() || !old.contains("block")) {
    return Status::failed_precondition(p.string() + ": missing or unreadable, " + partial.string() +
                                       " cannot be resumed (run without --resume to start again)");
  }
  for (const auto& [key, value] : now.items()) {
    if (key == "block") continue;
    if (!old.contains(key) || old[key] != value) {
      return Status::failed_precondition(partial.string() + " was made with " + key + " = " +
                                         (old.contains(key) ? old[key].dump() : "(none)") + ", this export has " +
                                         value.dump() + ": run without --resume to start again");
    }
  }
  return old["block"].get<int32_t>();
}

// Anonymous memory (heap, stacks) the process holds now: /proc/self/status
// RssAnon; 0 when it cannot be read.
size_t process_anon_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return size_t(std::strtoull(line.c_str() + 8, nullptr, 10)) << 10;
  }
  return 0;
}

// Buffers one worker keeps for a block of `block` pixels besides the planes it
// holds: the fused block, its compressed tiles (or shard) and the codec's
// scratch, the blend's row accumulators; plus its stack and malloc's slack.
size_t worker_buffer_bytes(int32_t block, int32_t tile) {
  const size_t px = size_t(block) * size_t(block), tiles = px / (size_t(tile) * size_t(tile));
  return px * 2                                   // fused block
         + 2 * (px * 2 + tiles * 4096)            // compressed tiles / shard (bound: raw + headers), and
                                                  // for TIFF one more block waiting for its turn
         + size_t(tile) * size_t(tile) * 4 + 65536  // one tile padded + its compression scratch
         + MosaicFuser::block_scratch_bytes(block)  //
         + (size_t(2) << 20);                     // stack and allocator slack
}

}  // namespace

Result<ExportReport> export_slide(const SlideSource& src, const std::string& out, const ExportOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  if (options.tile < 16 || options.tile > 8192 || options.tile % 16 != 0) {
    return Status::invalid_argument("--tile must be a multiple of 16 between 16 and 8192, not " +
                                    std::to_string(options.tile));
  }
  std::error_code ec;
  const fs::path out_path(out);
  if (fs::exists(out_path, ec) && !options.overwrite) {
    return Status::already_exists(out + " exists (use --overwrite to replace it)");
  }
  const fs::path partial(out + ".partial");
  if (options.resume && options.format != ExportFormat::kOmeZarr) {
    return Status::invalid_argument("--resume works for OME-Zarr only: an OME-TIFF is written in order and an "
                                    "interrupted one is started again");
  }

  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const int asked_threads = options.threads > 0 ? options.threads : int(hw);
  VSLIDE_ASSIGN_OR_RETURN(std::unique_ptr<MosaicFuser> fuser, MosaicFuser::create(src, options.fusion));
  const FusionPlan& plan = fuser->plan();

  // An interrupted export: removed and done again, or with `resume` (Zarr)
  // continued when it was started with the same plan (its manifest says).
  bool resuming = false;
  int32_t resume_block = 0;
  if (options.resume && fs::exists(partial, ec)) {
    VSLIDE_ASSIGN_OR_RETURN(resume_block, check_resume_manifest(partial, export_manifest(src, plan, options, 0)));
    resuming = true;
  } else {
    fs::remove_all(partial, ec);  // a stale, interrupted export: never mistaken for a result
    if (ec) return Status::io_error(partial.string() + ": cannot remove: " + ec.message());
  }

  // The budget (docs/EXPORT.md, "Memory"): the process's anonymous memory now
  // + the shading maps + per worker (the planes its block holds, its
  // buffers) + the plane cache (x 1.25: recycled buffers) <= memory_bytes.
  // Workers first (all cores), then the largest block up to 4 tiles, then
  // the cache takes the rest, no more than a row pair of planes.
  ExportMemory mem;
  mem.budget = options.memory_bytes;
  mem.base = process_anon_bytes();
  mem.fixed = fuser->fixed_bytes();
  std::vector<int32_t> blocks;
  if (resuming) {
    blocks.push_back(resume_block);  // the shards already written fix the block
  } else if (options.shard > 0) {
    if (options.shard % options.tile != 0) {
      return Status::invalid_argument("--shard " + std::to_string(options.shard) + " is not a multiple of --tile " +
                                      std::to_string(options.tile));
    }
    blocks.push_back(options.shard);
  } else {
    for (int32_t k = 4; k >= 1; --k) blocks.push_back(k * options.tile);
  }
  const size_t min_cache = size_t(8) << 20;
  int threads = 0;
  int32_t block = 0;
  MosaicFuser::Footprint fp;
  size_t need_one = 0;  // what the smallest plan needs, for the message
  for (int t = asked_threads; t >= 1 && threads == 0; --t) {
    for (int32_t b : blocks) {
      const MosaicFuser::Footprint f = fuser->footprint(b);
      const size_t per_worker = f.block_bytes + worker_buffer_bytes(b, options.tile);
      const size_t need = mem.base + mem.fixed + size_t(t) * per_worker + min_cache * 5 / 4;
      if (t == 1) need_one = need;
      if (need <= mem.budget) {
        threads = t;
        block = b;
        fp = f;
        mem.per_worker = per_worker;
        break;
      }
    }
  }
  if (threads == 0) {
    return Status::resource_exhausted(
        "--memory-mb " + std::to_string(mem.budget >> 20) + " is too small for this export: the process holds " +
        std::to_string(mem.base >> 20) + " MB already, shading maps " + std::to_string(mem.fixed >> 20) +
        " MB, and one worker needs the planes of up to " + std::to_string(fp.max_fields_per_block) +
        " fields over a block; give at least --memory-mb " + std::to_string((need_one >> 20) + 1));
  }
  const size_t rest = mem.budget - mem.base - mem.fixed - size_t(threads) * mem.per_worker;
  mem.cache = std::max(min_cache, std::min(rest * 4 / 5, fp.row_pair_bytes + (size_t(16) << 20)));
  mem.planned = mem.base + mem.fixed + size_t(threads) * mem.per_worker + mem.cache * 5 / 4;
  fuser->set_cache_bytes(mem.cache);

  SinkSettings settings{options.tile, block, options.compression, threads, resuming};
  auto sink_result = options.format == ExportFormat::kOmeTiff
                         ? open_ome_tiff_sink(partial.string(), src, plan, settings)
                         : open_ome_zarr_sink(partial.string(), src, plan, settings);
  if (!sink_result.ok()) return sink_result.status();
  std::unique_ptr<PyramidSink> sink = std::move(*sink_result);
  if (options.format == ExportFormat::kOmeZarr && !resuming) {
    VSLIDE_RETURN_IF_ERROR(write_resume_manifest(partial, export_manifest(src, plan, options, block)));
  }

  const JobList jobs(plan, block);
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;  // guards first_error, done, the progress callback
  Status first_error;
  uint64_t done = 0, skipped = 0;
  auto worker = [&] {
    std::vector<uint16_t> pixels;
    for (;;) {
      if (failed.load()) return;
      const uint64_t i = next++;
      if (i >= jobs.size()) return;
      const BlockJob j = jobs.at(i);
      if (resuming && sink->has_block(j)) {
        std::lock_guard lock(mu);
        ++done;
        ++skipped;
        if (options.progress) options.progress(done, jobs.size());
        continue;
      }
      pixels.resize(size_t(j.w) * size_t(j.h));
      Status s = fuser->fuse_block(j.level, j.plane, j.x, j.y, j.w, j.h, pixels);
      if (s.ok()) s = sink->write_block(j, pixels);
      std::lock_guard lock(mu);
      if (!s.ok()) {
        if (first_error.ok()) first_error = s;
        failed = true;
        sink->abort();
        return;
      }
      ++done;
      if (options.progress) options.progress(done, jobs.size());
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  Status s = first_error;
  if (s.ok()) s = sink->finish();
  sink.reset();
  if (s.ok() && options.overwrite && fs::exists(out_path, ec)) {
    fs::remove_all(out_path, ec);
    if (ec) s = Status::io_error(out + ": cannot replace: " + ec.message());
  }
  if (s.ok()) {
    fs::rename(partial, out_path, ec);
    if (ec) s = Status::io_error(partial.string() + " -> " + out + ": " + ec.message());
  }
  if (!s.ok()) {
    if (options.format == ExportFormat::kOmeZarr && fs::exists(partial / kResumeManifest, ec)) {
      // Its finished shards are kept for --resume; it has no zarr.json, so it is no readable image.
      return Status(s.code(), s.message() + " (" + partial.string() + " is kept: --resume continues it)");
    }
    fs::remove_all(partial, ec);
    return s;
  }

  ExportReport r;
  r.path = out;
  r.format = options.format;
  r.compression = options.compression.empty()
                      ? (options.format == ExportFormat::kOmeTiff ? "deflate" : "blosc")
                      : options.compression;
  r.plan = plan;
  r.tile = options.tile;
  r.block = block;
  r.threads = threads;
  r.blocks = jobs.size();
  r.blocks_resumed = skipped;
  r.memory = mem;
  for (int32_t l = 0; l < plan.levels; ++l) {
    const uint64_t b = uint64_t(plan.level_width(l)) * uint64_t(plan.level_height(l)) * 2 * uint64_t(plan.output_planes());
    if (l == 0) r.level0_bytes = b;
    r.pixel_bytes += b;
  }
  r.file_bytes = disk_bytes(out_path);
  r.planes_decoded = fuser->planes_decoded();
  r.planes_reused = fuser->planes_reused();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace vslide
