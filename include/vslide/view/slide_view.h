// SlideView: the viewer engine without a window. For a viewport it finds
// the tiles underneath (TileTree), picks the zoom layer (ZoomManager), takes
// what the tile cache holds and asks the loaders for the rest, and returns a
// FramePlan for a renderer (GlRenderer or render_cpu).
//
// Progressive refinement: plan_frame() never waits. A tile whose planes at
// the chosen layer are not loaded yet is drawn from the finest coarser layer
// already cached, and the slide's overview (when stored) is drawn underneath
// while anything is missing; FrameInfo::complete says when every tile is at
// its layer. plan_complete() waits for the loaders (for `vslide render`).
// A tile that fails to load is drawn as a placeholder pattern and reported
// in FrameInfo::warnings; the rest of the view is unaffected.
//
// Thread-safety: use one SlideView from one thread (its loaders run their
// own threads). The SlideSource must outlive the view.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vslide/core/placement.h"
#include "vslide/core/slide_source.h"
#include "vslide/view/display.h"
#include "vslide/view/frame.h"
#include "vslide/view/tile_loader.h"
#include "vslide/view/tile_tree.h"
#include "vslide/view/zoom_manager.h"

namespace vslide::view {

struct ViewOptions {
  size_t tile_cache_bytes = size_t(1) << 30;
  size_t label_cache_bytes = size_t(256) << 20;
  int loader_threads = 0;  // 0: one per core (TileLoader::default_threads)
  int loader_nice = 0;     // LoaderOptions::nice
  // false: ignore stored zoom layers and compute every layer from the raw
  // tiles (the paper's situation; the benchmark's baseline).
  bool use_stored_levels = true;
  // Layers computed on the fly when not stored: 1 .. max_level.
  int32_t max_level = 6;
  // Use the stored overview (coarsest zooms, and under missing tiles).
  bool use_overview = true;
  // Where fields are drawn: their registered positions where the slide has a
  // registration (vslide register), or always the stage's. Registered also
  // applies the stored colour offsets (FramePlan::channel_offsets).
  PositionsMode positions = PositionsMode::kRegistered;
  // Apply each channel's stored flat-field (shading correction) to the tiles.
  bool flatfield = true;
};

struct Overlay {
  bool tile_outlines = false;
  std::string detection_layer;  // empty: none
};

struct FrameInfo {
  int32_t level = 0;           // the layer chosen for this zoom
  bool overview_only = false;  // the zoom is so low the overview suffices
  size_t tiles_visible = 0;
  size_t planes_needed = 0;  // planes at `level` for the visible tiles
  size_t planes_ready = 0;
  size_t coarser_draws = 0;  // tiles drawn from a coarser layer meanwhile
  size_t placeholders = 0;   // tiles that failed to load
  bool complete = false;
  std::vector<std::string> warnings;
};

class SlideView {
 public:
  SlideView(const SlideSource& slide, ViewOptions options = {});
  ~SlideView();

  const SlideSource& slide() const { return slide_; }
  const TileTree& tree() const { return tree_; }
  ZoomManager& zoom() { return zoom_; }
  const ZoomManager& zoom() const { return zoom_; }

  // Validates against the slide's channel table (unknown channel, low >= high, ...).
  Status set_display(DisplaySettings display);
  const DisplaySettings& display() const { return display_; }
  // Shading correction on or off (where the slide stores a flat-field).
  void set_flatfield(bool on) { options_.flatfield = on; }
  bool flatfield() const { return options_.flatfield; }
  // The stored flat-field of slide channel `channel`, or null.
  std::shared_ptr<const FlatField> stored_flatfield(int32_t channel) const;
  // NotFound for a detection layer the slide does not have.
  Status set_overlay(Overlay overlay);
  // Forces a layer (-1: automatic). NotFound when the layer is neither
  // stored nor computable; a layer that is not stored is computed from the
  // raw tiles, with a warning in FrameInfo.
  Status force_level(int32_t level);
  // Re-reads the slide's index (a scan in progress) and rebuilds the tree.
  Status refresh();
  // Rebuilds the tree from the slide's current index without re-reading it
  // (for a caller that ran SlideSource::refresh() on another thread).
  void reindex() { rebuild_tree(); }
  // Draws fields at their stage or registered positions from now on.
  void set_positions(PositionsMode mode) {
    options_.positions = mode;
    rebuild_tree();
  }
  PositionsMode positions() const { return options_.positions; }
  // The slide's registration, when it has one.
  const Registration* registration() const { return registration_ ? &*registration_ : nullptr; }
  // The z plane and time point drawn (0, 0 by default). InvalidArgument
  // outside the slide's geometry.
  Status set_plane(int32_t z, int32_t t);
  int32_t z() const { return z_; }
  int32_t t() const { return t_; }

  // Slide bounds (union of tile bounds).
  RectUm slide_bounds() const { return tree_.bounds(); }
  // A viewport showing the whole slide in w x h.
  Viewport fit_viewport(int32_t w, int32_t h) const;

  // Non-blocking: the frame from what is cached now; requests what is missing.
  // InvalidArgument for a bad viewport; OutOfRange when it misses the slide.
  Result<FramePlan> plan_frame(const Viewport& viewport, FrameInfo* info = nullptr);
  // Waits until the frame is complete (or `timeout`, DeadlineExceeded).
  Result<FramePlan> plan_complete(const Viewport& viewport, FrameInfo* info = nullptr,
                                  std::chrono::milliseconds timeout = std::chrono::minutes(5));
  // Sets every displayed channel's contrast window from the histogram of the
  // visible tiles at the viewport's layer (percentiles low_pct, high_pct).
  Status auto_contrast(const Viewport& viewport, double low_pct = 0.005, double high_pct = 0.995);

  CacheStats tile_cache_stats() const { return tiles_.stats(); }
  LoaderStats loader_stats() const { return loader_->stats(); }
  // Empties the tile and label caches and forgets failures (a cold start).
  void clear_caches();
  void reset_stats();

 private:
  void rebuild_tree();

  const SlideSource& slide_;
  ViewOptions options_;
  std::optional<Registration> registration_;  // read at construction and on refresh()
  std::vector<std::shared_ptr<const FlatField>> flatfields_;  // by slide channel; null: none stored
  std::vector<int32_t> stored_levels_;
  std::shared_ptr<const TileIndex> index_;
  TileTree tree_;
  ZoomManager zoom_;
  DisplaySettings display_;
  Overlay overlay_;
  int32_t layer_index_ = -1;  // detection layer number for LoadKey::labels
  int32_t forced_level_ = -1;
  int32_t z_ = 0, t_ = 0;
  std::vector<std::string> level_warnings_;
  TileCache tiles_;
  LabelCache labels_;
  std::unique_ptr<TileLoader> loader_;
};

// Per displayed channel (parallel to plan.display.channels), the histogram
// of the plan's tiles inside its viewport, placeholders skipped: what
// auto_contrast measures, for a window's histogram panel.
std::vector<Histogram16> plan_histograms(const FramePlan& plan);

}  // namespace vslide::view
