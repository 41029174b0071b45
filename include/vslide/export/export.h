// Export of a slide's fused mosaic as a multi-resolution OME-TIFF or
// OME-Zarr 0.5 pyramid (docs/EXPORT.md).
//
// The fusion (MosaicFuser) runs in bounded output blocks on `threads`
// workers. `memory_bytes` bounds the process's anonymous memory whatever the
// slide's size: what it holds when the export starts, the shading maps, per
// worker the planes its block holds and its buffers (for OME-TIFF one more
// compressed block waiting for its turn), and the decoded-plane cache are
// planned to fit (ExportReport::memory; docs/EXPORT.md "Memory"); fewer
// workers, smaller blocks, and ResourceExhausted when one worker cannot fit.
//
// Never a valid-looking partial file: everything goes to OUT.partial (a
// file or a folder), renamed to OUT only when complete. OUT is replaced only
// with `overwrite`; a stale OUT.partial from an interrupted run is removed,
// or, for OME-Zarr with `resume`, continued.
//
// Thread-safety: export_slide is reentrant; the source must be safe for
// concurrent reads (every SlideSource is).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "vslide/export/fusion.h"

namespace vslide {

enum class ExportFormat { kOmeTiff, kOmeZarr };
std::string_view export_format_name(ExportFormat f);
Result<ExportFormat> parse_export_format(std::string_view name);

struct ExportOptions {
  ExportFormat format = ExportFormat::kOmeTiff;
  FusionOptions fusion;
  int32_t tile = 512;     // TIFF tile / Zarr inner chunk edge, a multiple of 16
  int32_t shard = 0;      // Zarr shard (and work block) edge, a multiple of `tile`; 0 = chosen from memory
  int threads = 0;        // 0 = one per core
  size_t memory_bytes = size_t(1024) << 20;
  // OME-TIFF: "deflate" (default) or "none". OME-Zarr: "blosc" (lz4 with
  // bit-shuffle, default), "blosc-zstd" or "zstd".
  std::string compression;
  bool overwrite = false;
  // OME-Zarr: continue an interrupted export in OUT.partial made with the
  // same plan, keeping the shards it finished (FailedPrecondition when the
  // plan differs). Without it a stale OUT.partial is removed.
  bool resume = false;
  // Called from worker threads (serialised) with blocks done / total.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// How the memory budget was spent (docs/EXPORT.md, "Memory"): planned =
// base + fixed + threads * per_worker + 1.25 * cache <= budget.
struct ExportMemory {
  size_t budget = 0;      // ExportOptions::memory_bytes
  size_t base = 0;        // the process's anonymous memory when the export started
  size_t fixed = 0;       // shading gain maps
  size_t per_worker = 0;  // planes one block holds + the worker's buffers
  size_t cache = 0;       // plane cache capacity (recycled buffers add up to a quarter)
  size_t planned = 0;
};

struct ExportReport {
  std::string path;
  ExportFormat format = ExportFormat::kOmeTiff;
  std::string compression;
  FusionPlan plan;
  int32_t tile = 0, block = 0, threads = 0;
  uint64_t blocks = 0;
  uint64_t blocks_resumed = 0;  // found finished in OUT.partial (resume)
  uint64_t level0_bytes = 0;    // raw 16-bit pixels of level 0, all planes
  uint64_t pixel_bytes = 0;     // raw 16-bit pixels of every level
  uint64_t file_bytes = 0;      // what landed on disk
  uint64_t planes_decoded = 0, planes_reused = 0;
  ExportMemory memory;
  double seconds = 0;
};

// Fuses `src` and writes the pyramid to `out`. Errors name the output path
// or the slide tile that failed; on error OUT.partial is removed.
Result<ExportReport> export_slide(const SlideSource& src, const std::string& out, const ExportOptions& options);

}  // namespace vslide
