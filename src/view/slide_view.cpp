#include "vslide/view/slide_view.h"

#include <algorithm>
#include <cmath>

namespace vslide::view {

namespace {
using Clock = std::chrono::steady_clock;

std::vector<int32_t> drawable_levels(const std::vector<int32_t>& stored, int32_t max_level) {
  std::vector<int32_t> out = stored;
  for (int32_t l = 1; l <= max_level; ++l) out.push_back(l);
  return out;
}
}  // namespace

SlideView::SlideView(const SlideSource& slide, ViewOptions options)
    : slide_(slide),
      options_(options),
      stored_levels_(options.use_stored_levels ? slide.zoom_levels() : std::vector<int32_t>{0}),
      zoom_(drawable_levels(stored_levels_, options.max_level)),
      tiles_(options.tile_cache_bytes),
      labels_(options.label_cache_bytes) {
  if (auto r = slide_.read_registration(); r.ok()) registration_ = std::move(*r);
  rebuild_tree();
  // Flat-fields are a few KB each: read them all once.
  for (int32_t c = 0; c < int32_t(slide_.channels().size()); ++c) {
    auto f = slide_.read_flatfield(c);
    flatfields_.push_back(f.ok() && f->valid() ? std::make_shared<const FlatField>(std::move(*f)) : nullptr);
  }
  auto d = DisplaySettings::from_channel_table(slide_.channels());
  if (d.ok()) display_ = std::move(*d);
  LoaderOptions lo;
  lo.threads = options_.loader_threads;
  lo.nice = options_.loader_nice;
  lo.stored_levels = stored_levels_;
  lo.label_layers = slide_.detection_layers();
  loader_ = std::make_unique<TileLoader>(slide_, tiles_, labels_, lo);
}

SlideView::~SlideView() { loader_.reset(); }

std::shared_ptr<const FlatField> SlideView::stored_flatfield(int32_t channel) const {
  return channel >= 0 && size_t(channel) < flatfields_.size() ? flatfields_[size_t(channel)] : nullptr;
}

void SlideView::rebuild_tree() {
  index_ = slide_.index();
  if (index_) {
    // Only fields with at least one stored plane are drawn.
    TileIndex present(index_->planes_per_field());
    std::vector<TileBounds> bounds;
    const MosaicGeometry& g = slide_.geometry();
    const double w = g.tile_width * g.pixel_size_um, h = g.tile_height * g.pixel_size_um;
    for (const auto& e : index_->entries()) {
      if (std::none_of(e.planes.begin(), e.planes.end(), [](bool b) { return b; })) continue;
      const auto [x, y] = field_origin_um(e.field, registration(), options_.positions, z_, t_);
      bounds.push_back(TileBounds{e.field.row, e.field.col, RectUm{x, y, x + w, y + h}});
    }
    tree_ = TileTree(std::move(bounds));
  } else {
    tree_ = TileTree();
  }
}

Status SlideView::refresh() {
  VSLIDE_RETURN_IF_ERROR(const_cast<SlideSource&>(slide_).refresh());
  if (auto r = slide_.read_registration(); r.ok()) registration_ = std::move(*r);
  rebuild_tree();
  return Status();
}

Status SlideView::set_display(DisplaySettings display) {
  VSLIDE_RETURN_IF_ERROR(display.validate(int32_t(slide_.channels().size())).with_context(slide_.describe()));
  display_ = std::move(display);
  return Status();
}

Status SlideView::set_plane(int32_t z, int32_t t) {
  const MosaicGeometry& g = slide_.geometry();
  if (z < 0 || z >= g.z_planes || t < 0 || t >= g.timepoints) {
    return Status::invalid_argument(slide_.describe() + ": z " + std::to_string(z) + ", t " + std::to_string(t) +
                                    " outside the slide's " + std::to_string(g.z_planes) + " z planes and " +
                                    std::to_string(g.timepoints) + " time points");
  }
  const bool moved = (z != z_ || t != t_) && registration_ && !registration_->plane_fields.empty();
  z_ = z;
  t_ = t;
  if (moved) rebuild_tree();  // fields placed per plane (Registration::plane_fields)
  return Status();
}

Status SlideView::set_overlay(Overlay overlay) {
  layer_index_ = -1;
  if (!overlay.detection_layer.empty()) {
    const auto layers = slide_.detection_layers();
    auto it = std::find(layers.begin(), layers.end(), overlay.detection_layer);
    if (it == layers.end()) {
      std::string have;
      for (const auto& l : layers) have += (have.empty() ? "" : ", ") + l;
      return Status::not_found(slide_.describe() + ": no detection layer '" + overlay.detection_layer +
                               "' (layers: " + (have.empty() ? "none; run `vslide detect`" : have) + ")");
    }
    layer_index_ = int32_t(it - layers.begin());
  }
  overlay_ = std::move(overlay);
  return Status();
}

Status SlideView::force_level(int32_t level) {
  level_warnings_.clear();
  if (level < 0) {
    forced_level_ = -1;
    return Status();
  }
  if (level > 16) {
    return Status::not_found(slide_.describe() + ": zoom layer " + std::to_string(level) + " (factor 2^" +
                             std::to_string(level) + ") is beyond what a tile can hold");
  }
  if (!std::binary_search(stored_levels_.begin(), stored_levels_.end(), level)) {
    level_warnings_.push_back(slide_.describe() + ": zoom layer " + std::to_string(level) + " (factor " +
                              std::to_string(1 << level) +
                              ") is not stored; computing it from the raw tiles (run `vslide pyramid`)");
  }
  forced_level_ = level;
  return Status();
}

Viewport SlideView::fit_viewport(int32_t w, int32_t h) const {
  return Viewport::fit(tree_.bounds(), w, h, slide_.geometry().pixel_size_um);
}

void SlideView::clear_caches() {
  tiles_.clear();
  labels_.clear();
  loader_->clear_failures();
}

void SlideView::reset_stats() {
  tiles_.reset_counts();
  labels_.reset_counts();
  loader_->reset_stats();
}

Result<FramePlan> SlideView::plan_frame(const Viewport& viewport, FrameInfo* info_out) {
  FrameInfo info;
  VSLIDE_RETURN_IF_ERROR(viewport.validate());
  const RectUm view = viewport.rect_um();
  if (tree_.size() == 0)
    return Status::failed_precondition(slide_.describe() + ": the slide has no tiles yet");
  if (!view.intersects(tree_.bounds())) {
    return Status::out_of_range(slide_.describe() + ": viewport " + view.to_string() +
                                " lies outside the slide " + tree_.bounds().to_string());
  }
  const MosaicGeometry& g = slide_.geometry();
  const int32_t level = forced_level_ >= 0 ? forced_level_ : zoom_.layer_for(viewport.zoom);
  info.level = level;
  info.warnings = level_warnings_;
  const size_t n = display_.channels.size();

  FramePlan plan;
  plan.viewport = viewport;
  plan.display = display_;
  if (options_.flatfield)
    for (const ChannelDisplay& cd : display_.channels) plan.flatfields.push_back(stored_flatfield(cd.channel));
  // Colour registration goes with the registered positions: where fields
  // are drawn at their stage positions, the colour planes are raw too.
  if (options_.positions == PositionsMode::kRegistered && registration_ && !registration_->channel_offsets.empty()) {
    for (const ChannelDisplay& cd : display_.channels) {
      ChannelOffset o{cd.channel, 0, 0, 1, 0};
      for (const ChannelOffset& r : registration_->channel_offsets)
        if (r.channel == cd.channel) o = r;
      if (!(o.scale > 0) || !std::isfinite(o.scale)) o.scale = 1;
      plan.channel_offsets.push_back(o);
    }
  }
  std::vector<TileKey> wanted;

  // The overview: enough on its own at coarse zooms, a backdrop otherwise.
  bool have_overview = false, overview_pending = false;
  std::vector<PlaneRef> ov_planes(n);
  std::optional<Overview> placement;
  if (options_.use_overview) {
    have_overview = true;
    for (size_t c = 0; c < n; ++c) {
      const TileKey k = LoadKey::overview(display_.channels[c].channel);
      auto img = tiles_.contains(k) ? tiles_.get(k) : std::nullopt;
      if (img) {
        ov_planes[c] = PlaneRef{k, *img};
        if (!placement) placement = loader_->overview_placement(k.channel);
      } else {
        have_overview = false;
        if (!loader_->failure(k)) {
          wanted.push_back(k);
          overview_pending = true;
        }
      }
    }
  }
  auto overview_draw = [&] {
    TileDraw d;
    d.x_um = placement->origin_x_um;
    d.y_um = placement->origin_y_um;
    d.um_per_texel = placement->um_per_px;
    d.width = ov_planes[0].image->width();
    d.height = ov_planes[0].image->height();
    d.planes = ov_planes;
    d.row = d.col = -1;
    d.level = -1;
    return d;
  };
  const bool overview_ok = have_overview && placement && ov_planes[0].image &&
                           std::all_of(ov_planes.begin(), ov_planes.end(), [&](const PlaneRef& p) {
                             return p.image && p.image->width() == ov_planes[0].image->width() &&
                                    p.image->height() == ov_planes[0].image->height();
                           });
  if (overview_ok && forced_level_ < 0 && placement->um_per_px * viewport.px_per_um() <= 1.0) {
    info.overview_only = true;
    plan.tiles.push_back(overview_draw());
  }

  const auto visible = tree_.query(view);
  info.tiles_visible = visible.size();
  const int32_t layer_planes = index_ ? index_->planes_per_field() : 0;
  std::vector<TileDraw> coarse, fine;
  std::vector<std::pair<double, TileKey>> missing;  // distance to centre, key
  bool any_missing = false;
  for (const TileBounds& t : visible) {
    if (info.overview_only) break;
    const double dx = (t.rect.x0 + t.rect.x1) / 2 - viewport.center_x_um;
    const double dy = (t.rect.y0 + t.rect.y1) / 2 - viewport.center_y_um;
    const double dist = dx * dx + dy * dy;
    TileDraw d;
    d.x_um = t.rect.x0;
    d.y_um = t.rect.y0;
    d.row = t.row;
    d.col = t.col;
    d.planes.resize(n);
    bool ready = true, failed = false;
    std::string failure_msg;
    for (size_t c = 0; c < n; ++c) {
      const int32_t ch = display_.channels[c].channel;
      const int32_t plane = g.plane_index(ch, z_, t_);
      if (index_ && plane < layer_planes && !index_->has_plane(t.row, t.col, plane)) continue;  // not scanned
      ++info.planes_needed;
      const TileKey k = LoadKey::plane(t.row, t.col, ch, level, z_, t_);
      if (auto img = tiles_.get(k)) {
        d.planes[c] = PlaneRef{k, *img};
        ++info.planes_ready;
      } else if (auto err = loader_->failure(k)) {
        failed = true;
        failure_msg = err->to_string();
        ++info.planes_ready;
      } else {
        ready = false;
        missing.emplace_back(dist, k);
      }
    }
    if (failed) {
      ++info.placeholders;
      info.warnings.push_back("tile (" + std::to_string(t.row) + "," + std::to_string(t.col) +
                              ") drawn as a placeholder: " + failure_msg);
      d.placeholder = true;
      d.level = level;
      d.um_per_texel = g.pixel_size_um * double(1 << level);
      d.width = g.level_width(level);
      d.height = g.level_height(level);
      for (auto& p : d.planes) p.image = nullptr;
      fine.push_back(std::move(d));
      continue;
    }
    if (ready) {
      d.level = level;
      d.um_per_texel = g.pixel_size_um * double(1 << level);
      d.width = g.level_width(level);
      d.height = g.level_height(level);
      fine.push_back(std::move(d));
      continue;
    }
    any_missing = true;
    // Progressive refinement: the finest coarser layer already cached.
    for (int32_t l : zoom_.levels()) {
      if (l <= level) continue;
      TileDraw c = d;
      bool all = true;
      for (size_t i = 0; i < n && all; ++i) {
        const int32_t ch = display_.channels[i].channel;
        const int32_t plane = g.plane_index(ch, z_, t_);
        if (index_ && plane < layer_planes && !index_->has_plane(t.row, t.col, plane)) continue;
        const TileKey k = LoadKey::plane(t.row, t.col, ch, l, z_, t_);
        if (!tiles_.contains(k)) {
          all = false;
          break;
        }
        auto img = tiles_.get(k);
        if (!img) {
          all = false;
          break;
        }
        c.planes[i] = PlaneRef{k, *img};
      }
      if (!all) continue;
      c.level = l;
      c.um_per_texel = g.pixel_size_um * double(1 << l);
      c.width = g.level_width(l);
      c.height = g.level_height(l);
      coarse.push_back(std::move(c));
      ++info.coarser_draws;
      break;
    }
  }

  if (!info.overview_only) {
    if (any_missing && overview_ok) plan.tiles.push_back(overview_draw());
    for (auto& d : coarse) plan.tiles.push_back(std::move(d));
    for (auto& d : fine) plan.tiles.push_back(std::move(d));
  }

  // Detection layer overlay, at the same layer as the tiles.
  bool labels_pending = false;
  if (layer_index_ >= 0 && !info.overview_only) {
    for (const TileBounds& t : visible) {
      const TileKey k = LoadKey::labels(t.row, t.col, layer_index_, level);
      if (auto lt = labels_.get(k)) {
        LabelDraw ld;
        ld.x_um = t.rect.x0;
        ld.y_um = t.rect.y0;
        ld.um_per_texel = g.pixel_size_um * double(1 << level);
        ld.key = k;
        ld.labels = *lt;
        plan.labels.push_back(std::move(ld));
      } else if (auto err = loader_->failure(k)) {
        // A tile the pipeline did not process has no labels: not a problem.
        if (err->code() != StatusCode::kNotFound) {
          info.warnings.push_back("labels of tile (" + std::to_string(t.row) + "," + std::to_string(t.col) +
                                  ") not drawn: " + err->to_string());
        }
      } else {
        labels_pending = true;
        missing.emplace_back(1e300, k);  // after the pixels
      }
    }
  }
  if (overlay_.tile_outlines) {
    for (const TileBounds& t : visible) plan.outlines.push_back(t.rect);
  }

  std::stable_sort(missing.begin(), missing.end(), [](auto& a, auto& b) { return a.first < b.first; });
  // Until the overview is known, ask for it alone: at coarse zooms it is
  // all the frame needs, and loading the tiles first would be wasted.
  const bool overview_first = overview_pending && forced_level_ < 0;
  if (!overview_first) {
    for (auto& [dist, k] : missing) wanted.push_back(k);
  }
  loader_->request(wanted);

  info.complete = !any_missing && !labels_pending && !(overview_pending && info.overview_only);
  // Until the overview's presence is known the coarsest zooms cannot choose.
  if (overview_pending && options_.use_overview && forced_level_ < 0) info.complete = false;
  if (info_out) *info_out = std::move(info);
  return plan;
}

Result<FramePlan> SlideView::plan_complete(const Viewport& viewport, FrameInfo* info,
                                           std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const uint64_t gen = loader_->generation();
    FrameInfo local;
    VSLIDE_ASSIGN_OR_RETURN(FramePlan plan, plan_frame(viewport, &local));
    if (local.complete) {
      if (info) *info = std::move(local);
      return plan;
    }
    if (Clock::now() >= deadline) {
      return Status::deadline_exceeded(slide_.describe() + ": frame incomplete after " +
                                       std::to_string(timeout.count()) + " ms (" +
                                       std::to_string(local.planes_ready) + " of " +
                                       std::to_string(local.planes_needed) + " planes loaded)");
    }
    // Re-plan once the loaders have drained the list (re-planning on every
    // single completion would cost O(tiles^2) on a cold start).
    if (!loader_->wait_idle(deadline)) continue;
    if (loader_->generation() == gen && loader_->idle()) {
      // Nothing moved and nothing to do, yet incomplete: should not happen.
      return Status::internal(slide_.describe() + ": frame cannot complete (no loads pending)");
    }
  }
}

Status SlideView::auto_contrast(const Viewport& viewport, double low_pct, double high_pct) {
  VSLIDE_ASSIGN_OR_RETURN(FramePlan plan, plan_complete(viewport));
  return apply_auto_contrast(display_, plan_histograms(plan), low_pct, high_pct).with_context(slide_.describe());
}

std::vector<Histogram16> plan_histograms(const FramePlan& plan) {
  std::vector<Histogram16> hist(plan.display.channels.size());
  const RectUm view = plan.viewport.rect_um();
  for (const TileDraw& d : plan.tiles) {
    if (d.placeholder) continue;
    // Only the part of each tile inside the viewport counts.
    const int x0 = std::clamp(int(std::floor((view.x0 - d.x_um) / d.um_per_texel)), 0, d.width);
    const int y0 = std::clamp(int(std::floor((view.y0 - d.y_um) / d.um_per_texel)), 0, d.height);
    const int x1 = std::clamp(int(std::ceil((view.x1 - d.x_um) / d.um_per_texel)), 0, d.width);
    const int y1 = std::clamp(int(std::ceil((view.y1 - d.y_um) / d.um_per_texel)), 0, d.height);
    if (x1 <= x0 || y1 <= y0) continue;
    for (size_t c = 0; c < d.planes.size() && c < hist.size(); ++c) {
      if (d.planes[c].image) hist[c].add(d.planes[c].image->view().crop(x0, y0, x1 - x0, y1 - y0));
    }
  }
  return hist;
}

}  // namespace vslide::view
