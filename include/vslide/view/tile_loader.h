// TileLoader: background threads that bring planes from a SlideSource into
// the tile cache, so that the render thread never waits for I/O (paper,
// section 5.1: tile cache, texture cache, loaders).
//
// Requests are TileKeys in a loader-specific encoding (see LoadKey below):
// a stored or computed zoom-layer plane, an overview, or a detection layer's
// label tile. Each frame hands the loader the keys it still lacks, most
// important first; that list replaces the previous one, so tiles a pan has
// left behind are never loaded. A key is loaded once: cached, in flight and
// failed keys are skipped. A zoom layer the slide does not store is computed
// from the nearest finer stored layer (vslide::downsample).
//
// Failures (Corruption, IOError, ...) are remembered per key so the view can
// draw a placeholder for that tile and report why; the rest keeps loading.
//
// Thread-safety: every public method may be called from any thread. The
// SlideSource must outlive the loader and allow concurrent reads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "vslide/core/slide_source.h"
#include "vslide/view/lru_cache.h"

namespace vslide::view {

using TileCache = LruCache<TileKey, SharedImage16, TileKeyHash>;
using LabelCache = LruCache<TileKey, std::shared_ptr<const LabelTile>, TileKeyHash>;

// Key encodings understood by the loader.
struct LoadKey {
  static TileKey plane(int32_t row, int32_t col, int32_t channel, int32_t level, int32_t z = 0, int32_t t = 0) {
    return TileKey{row, col, channel, z, t, level};
  }
  static TileKey overview(int32_t channel) { return TileKey{-1, -1, channel, 0, 0, -1}; }
  // Label tile of detection layer number `layer`, subsampled to `level`.
  static TileKey labels(int32_t row, int32_t col, int32_t layer, int32_t level) {
    return TileKey{row, col, 0, -1 - layer, 0, level};
  }
  static bool is_overview(const TileKey& k) { return k.level == -1; }
  static bool is_labels(const TileKey& k) { return k.z < 0; }
};

struct LoaderOptions {
  // Loader threads; 0: TileLoader::default_threads(), one per core. Decoding
  // is what a cold frame waits for, so it scales with the cores (2 threads
  // left a 16-core machine mostly idle while a frame loaded).
  int threads = 0;
  // Added to the loader threads' nice value (Linux: per thread). An interactive
  // viewer sets it so that decoding yields the cores to the frame being drawn
  // (llvmpipe rasterises on the CPU); 0 for headless rendering, where the
  // frame waits for the decode anyway.
  int nice = 0;
  // Levels the slide stores; others are computed. Empty: ask the slide.
  std::optional<std::vector<int32_t>> stored_levels;
  std::vector<std::string> label_layers;  // layer number -> name
};

struct LoaderStats {
  uint64_t planes_loaded = 0;    // planes decoded (stored or computed)
  uint64_t planes_computed = 0;  // of which computed from a finer layer
  uint64_t bytes_decoded = 0;    // pixels decoded from the slide (incl. finer layers read to compute)
  uint64_t labels_loaded = 0;
  uint64_t failures = 0;
  double load_ms = 0;  // summed over threads
};

class TileLoader {
 public:
  TileLoader(const SlideSource& slide, TileCache& tiles, LabelCache& labels, LoaderOptions options);
  ~TileLoader();  // stops the threads (work in flight finishes first)
  TileLoader(const TileLoader&) = delete;
  TileLoader& operator=(const TileLoader&) = delete;

  // Replaces the pending list with `keys` (most important first).
  void request(const std::vector<TileKey>& keys);
  // The error a key failed with, if it did.
  std::optional<Status> failure(const TileKey& key) const;
  // Waits until a load completes after `generation` (see generation()) or
  // the deadline passes; returns the new generation.
  uint64_t wait_progress(uint64_t generation, std::chrono::steady_clock::time_point deadline) const;
  uint64_t generation() const;
  // True when nothing is pending or in flight.
  bool idle() const;
  // Waits until idle() or the deadline; returns idle().
  bool wait_idle(std::chrono::steady_clock::time_point deadline) const;
  // The overview's placement, once its image is loaded for `channel`.
  std::optional<Overview> overview_placement(int32_t channel) const;

  // One thread per core the process may run on (sched_getaffinity, else
  // hardware_concurrency), at least 2 and at most 64.
  static int default_threads();
  int threads() const { return int(threads_.size()); }

  LoaderStats stats() const;
  void reset_stats();
  // Forgets remembered failures (they are retried when requested again).
  void clear_failures();

 private:
  void worker();
  Status load(const TileKey& key, LoaderStats& local);
  Status load_plane(const TileKey& key, LoaderStats& local);
  // Labels of the detections a layer's object table marks as duplicates
  // (kept: false), by field: zeroed in the label tiles so that overlays draw
  // each object once. Read from the table on first use.
  using HiddenLabels = std::map<std::pair<int32_t, int32_t>, std::vector<uint32_t>>;
  std::shared_ptr<const HiddenLabels> hidden_labels(int32_t layer);

  const SlideSource& slide_;
  TileCache& tiles_;
  LabelCache& labels_;
  const LoaderOptions options_;
  std::vector<int32_t> stored_levels_;

  mutable std::mutex mu_;
  mutable std::condition_variable work_cv_, done_cv_;
  // Guarded by mu_:
  std::deque<TileKey> pending_;
  std::unordered_set<TileKey, TileKeyHash> in_flight_;
  std::unordered_map<TileKey, Status, TileKeyHash> failed_;
  std::map<int32_t, Overview> overview_placement_;  // image left empty; pixels live in the tile cache
  std::map<int32_t, std::shared_ptr<const HiddenLabels>> hidden_;  // by layer number
  LoaderStats stats_;
  uint64_t generation_ = 0;
  bool stop_ = false;

  std::vector<std::thread> threads_;
};

}  // namespace vslide::view
