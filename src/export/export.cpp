// export_slide: plans the blocks, runs the fusion workers and hands each
// fused block to the format's sink; see include/vslide/export/export.h.
#include "vslide/export/export.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
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

std::vector<BlockJob> plan_jobs(const FusionPlan& plan, int32_t block) {
  std::vector<BlockJob> jobs;
  const int32_t C = int32_t(plan.channels.size());
  for (int32_t t = 0; t < plan.timepoints; ++t) {
    for (int32_t z = 0; z < plan.z_planes; ++z) {
      for (int32_t c = 0; c < C; ++c) {
        for (int32_t l = 0; l < plan.levels; ++l) {
          const int64_t w = plan.level_width(l), h = plan.level_height(l);
          const size_t first = jobs.size();
          for (int64_t y = 0; y < h; y += block) {
            for (int64_t x = 0; x < w; x += block) {
              BlockJob j;
              j.seq = jobs.size();
              j.level = l;
              j.plane = OutputPlane{c, z, t};
              j.plane_index = (t * plan.z_planes + z) * C + c;
              j.x = x;
              j.y = y;
              j.w = int32_t(std::min<int64_t>(block, w - x));
              j.h = int32_t(std::min<int64_t>(block, h - y));
              jobs.push_back(j);
            }
          }
          jobs[first].first_of_image = true;
          jobs.back().last_of_image = true;
        }
      }
    }
  }
  return jobs;
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
  fs::remove_all(partial, ec);  // a stale, interrupted export: never resumed, never mistaken for a result
  if (ec) return Status::io_error(partial.string() + ": cannot remove: " + ec.message());

  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const int threads = options.threads > 0 ? options.threads : int(hw);
  FusionOptions fo = options.fusion;
  fo.cache_bytes = std::max<size_t>(size_t(32) << 20, options.memory_bytes / 2);
  VSLIDE_ASSIGN_OR_RETURN(std::unique_ptr<MosaicFuser> fuser, MosaicFuser::create(src, fo));
  const FusionPlan& plan = fuser->plan();

  // Block edge: what the workers' half of the memory allows (accumulators,
  // the fused block and its compressed form: ~16 bytes a pixel), at most
  // 4 tiles; a Zarr shard when asked.
  int32_t block = options.shard;
  if (block <= 0) {
    const double per_worker = double(options.memory_bytes / 2) / threads;
    const int32_t k = std::clamp(int32_t(std::sqrt(per_worker / 16) / options.tile), 1, 4);
    block = k * options.tile;
  } else if (block % options.tile != 0) {
    return Status::invalid_argument("--shard " + std::to_string(block) + " is not a multiple of --tile " +
                                    std::to_string(options.tile));
  }
  SinkSettings settings{options.tile, block, options.compression};
  auto sink_result = options.format == ExportFormat::kOmeTiff
                         ? open_ome_tiff_sink(partial.string(), src, plan, settings)
                         : open_ome_zarr_sink(partial.string(), src, plan, settings);
  if (!sink_result.ok()) return sink_result.status();
  std::unique_ptr<PyramidSink> sink = std::move(*sink_result);

  const std::vector<BlockJob> jobs = plan_jobs(plan, block);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;  // guards first_error, done, the progress callback
  Status first_error;
  uint64_t done = 0;
  auto worker = [&] {
    std::vector<uint16_t> pixels;
    for (;;) {
      if (failed.load()) return;
      const size_t i = next++;
      if (i >= jobs.size()) return;
      const BlockJob& j = jobs[i];
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
