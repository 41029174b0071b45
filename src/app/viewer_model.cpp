#include "vslide/app/viewer_model.h"

#include <QCoreApplication>
#include <QPointer>
#include <QThreadPool>
#include <algorithm>
#include <cmath>

#include "vslide/remote/open_slide.h"

namespace vslide::app {

using namespace vslide::view;

namespace {
// Runs `work` on the global pool and `done(result)` on the UI thread, unless
// the model is gone by then.
template <typename T>
void in_background(ViewerModel* model, std::function<T()> work, std::function<void(ViewerModel*, T)> done) {
  QPointer<ViewerModel> self(model);
  QThreadPool::globalInstance()->start([self, work = std::move(work), done = std::move(done)]() mutable {
    auto result = std::make_shared<T>(work());
    QMetaObject::invokeMethod(
        QCoreApplication::instance(),
        [self, result, done = std::move(done)] {
          if (self) done(self.data(), std::move(*result));
        },
        Qt::QueuedConnection);
  });
}

ViewOptions window_view_options() {
  ViewOptions o;
  o.tile_cache_bytes = size_t(768) << 20;
  // Decoding yields the cores to the frame thread's rasteriser (llvmpipe), so
  // a frame drawn while tiles load is not held up by their decode.
  o.loader_nice = 10;
  return o;
}
}  // namespace

ViewerModel::ViewerModel(QObject* parent)
    : QObject(parent), alive_(std::make_shared<bool>(true)) {
  live_timer_.setInterval(250);
  connect(&live_timer_, &QTimer::timeout, this, &ViewerModel::poll_live);
}

ViewerModel::~ViewerModel() {
  live_timer_.stop();
  mini_view_.reset();
  view_.reset();
}

void ViewerModel::open(const QString& path_or_url) {
  const std::string path = path_or_url.toStdString();
  opening_ = true;
  const uint64_t gen = ++open_generation_;
  emit message("opening " + path_or_url + " ...", 0);
  using Opened = Result<std::unique_ptr<SlideSource>>;
  in_background<std::shared_ptr<Opened>>(
      this, [path] { return std::make_shared<Opened>(open_slide(path)); },
      [gen, path](ViewerModel* m, std::shared_ptr<Opened> r) {
        if (gen != m->open_generation_) return;  // a later open won
        m->opening_ = false;
        if (!r->ok()) {
          const StatusCode c = r->status().code();
          const bool retry = c == StatusCode::kUnavailable || c == StatusCode::kDeadlineExceeded;
          emit m->openFailed(QString::fromStdString(path), QString::fromStdString(r->status().to_string()), retry);
          return;
        }
        m->adopt(std::shared_ptr<SlideSource>(std::move(**r)), path);
      });
}

Status ViewerModel::open_now(const std::string& path_or_url) {
  auto r = open_slide(path_or_url);
  if (!r.ok()) {
    emit openFailed(QString::fromStdString(path_or_url), QString::fromStdString(r.status().to_string()), false);
    return r.status();
  }
  adopt(std::shared_ptr<SlideSource>(std::move(*r)), path_or_url);
  return Status();
}

void ViewerModel::adopt(std::shared_ptr<SlideSource> slide, const std::string& opened_as) {
  live_timer_.stop();
  mini_view_.reset();
  view_.reset();
  slide_ = std::move(slide);
  histograms_.clear();
  histogram_channels_.clear();
  readout_ = Readout{};
  view_ = std::make_unique<SlideView>(*slide_, window_view_options());
  ViewOptions mini;
  mini.tile_cache_bytes = size_t(96) << 20;
  mini.label_cache_bytes = 0;
  mini.loader_threads = 1;
  mini.loader_nice = 10;
  mini_view_ = std::make_unique<SlideView>(*slide_, mini);
  auto saved = load_saved_view_state(*slide_, opened_as);
  state_ = saved.ok() ? std::move(*saved) : default_view_state(*slide_, opened_as);
  if (saved.ok()) {
    emit message("display settings restored from " + QString::fromStdString(display_settings_path(state_.slide_id)),
                 4000);
  }
  apply();
  last_field_count_ = slide_->index() ? slide_->index()->fields_present() : 0;
  if (slide_->state() == SlideState::kScanning) live_timer_.start();
  ++version_;
  emit slideOpened();
  emit stateChanged();
}

void ViewerModel::apply() {
  if (!view_) return;
  if (Status s = apply_view_state(state_, *view_); !s.ok()) {
    emit message(QString::fromStdString(s.to_string()), 6000);
  }
  ViewState mini = state_;
  mini.tile_outlines = false;
  for (auto& l : mini.layers) l.visible = false;
  (void)apply_view_state(mini, *mini_view_);
}

void ViewerModel::edited() {
  apply();
  ++version_;
  emit stateChanged();
}

void ViewerModel::set_canvas_size(int w, int h) {
  canvas_w_ = std::max(1, w);
  canvas_h_ = std::max(1, h);
}

Viewport ViewerModel::viewport() const {
  const double px = slide_ ? slide_->geometry().pixel_size_um : 1.0;
  RectUm bounds = view_ ? view_->slide_bounds() : RectUm{};
  if (bounds.empty()) bounds = RectUm{0, 0, 1, 1};
  return state_.viewport(canvas_w_, canvas_h_, px, bounds);
}

void ViewerModel::set_state(ViewState s) {
  if (!slide_) return;
  for (const auto& note : reconcile_view_state(s, *slide_, state_.slide)) {
    emit message(QString::fromStdString(note), 4000);
  }
  if (Status v = drawn_display(s).validate(int32_t(slide_->channels().size())); !v.ok()) {
    emit message("view state rejected: " + QString::fromStdString(v.message()), 6000);
    return;
  }
  state_ = std::move(s);
  edited();
}

void ViewerModel::pan_px(double dx, double dy) {
  if (!view_) return;
  const Viewport v = viewport();
  state_.center_x_um = v.center_x_um - dx / v.px_per_um();
  state_.center_y_um = v.center_y_um - dy / v.px_per_um();
  state_.zoom = v.zoom;
  edited();
}

void ViewerModel::zoom_by(double factor, QPointF about) {
  if (!view_) return;
  const Viewport v = viewport();
  const double z = view_->zoom().next_zoom(v.zoom, v.zoom * factor);
  if (z == v.zoom) return;
  const double ox = about.x() - canvas_w_ / 2.0, oy = about.y() - canvas_h_ / 2.0;
  const double wx = v.center_x_um + ox / v.px_per_um(), wy = v.center_y_um + oy / v.px_per_um();
  const double ppu = z / v.pixel_size_um;
  state_.center_x_um = wx - ox / ppu;
  state_.center_y_um = wy - oy / ppu;
  state_.zoom = z;
  edited();
}

void ViewerModel::zoom_step(int steps, QPointF about) { zoom_by(std::pow(std::sqrt(2.0), steps), about); }

void ViewerModel::center_on(double x_um, double y_um) {
  if (!view_) return;
  const Viewport v = viewport();
  state_.zoom = v.zoom;
  state_.center_x_um = x_um;
  state_.center_y_um = y_um;
  edited();
}

void ViewerModel::fit() {
  state_.zoom = 0;
  edited();
}

namespace {
ChannelDisplay* channel_of(ViewState& s, int channel) {
  const int i = s.display.position_of(channel);
  return i < 0 ? nullptr : &s.display.channels[size_t(i)];
}
}  // namespace

void ViewerModel::set_channel_visible(int channel, bool on) {
  if (auto* c = channel_of(state_, channel); c && c->enabled != on) {
    c->enabled = on;
    edited();
  }
}

void ViewerModel::set_channel_color(int channel, Rgb color) {
  if (auto* c = channel_of(state_, channel)) {
    c->color = color;
    edited();
  }
}

void ViewerModel::set_channel_window(int channel, float low, float high) {
  auto* c = channel_of(state_, channel);
  if (!c) return;
  low = std::clamp(low, 0.0f, 65534.0f);
  high = std::clamp(high, low + 1, 65535.0f);
  c->low = low;
  c->high = high;
  edited();
}

void ViewerModel::set_channel_gamma(int channel, float gamma) {
  if (auto* c = channel_of(state_, channel); c && view::gamma_in_range(gamma)) {
    c->gamma = gamma;
    edited();
  }
}

void ViewerModel::reset_channel(int channel) {
  if (!slide_) return;
  const ViewState d = default_view_state(*slide_);
  for (const auto& def : d.display.channels) {
    if (channel >= 0 && def.channel != channel) continue;
    if (auto* c = channel_of(state_, def.channel)) {
      const bool on = c->enabled;
      *c = def;
      c->enabled = on;
    }
  }
  edited();
}

Status ViewerModel::auto_contrast(int channel) {
  if (histograms_.empty()) return Status::failed_precondition("nothing measured yet: wait for the view to load");
  bool any = false;
  for (size_t i = 0; i < histogram_channels_.size(); ++i) {
    const int32_t ch = histogram_channels_[i];
    if (channel >= 0 && ch != channel) continue;
    DisplaySettings one;
    one.channels.push_back(*channel_of(state_, ch));
    Status s = apply_auto_contrast(one, {histograms_[i]});
    if (!s.ok()) continue;
    *channel_of(state_, ch) = one.channels[0];
    any = true;
  }
  if (!any) {
    return Status::failed_precondition(channel >= 0 ? "channel " + std::to_string(channel) +
                                                          " is hidden or has nothing visible to measure"
                                                    : "no visible channel to measure");
  }
  edited();
  return Status();
}

void ViewerModel::set_plane(int z, int t) {
  state_.z = z;
  state_.t = t;
  if (slide_) reconcile_view_state(state_, *slide_, state_.slide);
  edited();
}

void ViewerModel::set_tile_outlines(bool on) {
  state_.tile_outlines = on;
  edited();
}

void ViewerModel::set_positions(Positions p) {
  state_.positions = p;
  edited();
}

void ViewerModel::set_layer(const std::string& layer, bool visible, std::optional<Rgb> color) {
  for (auto& l : state_.layers) {
    if (l.layer == layer) {
      l.visible = visible;
      if (color) l.color = *color;
    } else if (visible) {
      l.visible = false;  // the engine draws one detection layer at a time
    }
  }
  edited();
}

void ViewerModel::retry_failed() {
  if (!view_) return;
  view_->clear_caches();
  mini_view_->clear_caches();
  emit message("retrying the tiles that failed", 3000);
  ++version_;
  emit stateChanged();
}

void ViewerModel::frame_done(const FramePlan& plan, const FrameInfo& info, uint64_t) {
  if (!info.complete) return;
  // Histograms of what this complete frame shows, measured off the UI thread.
  std::vector<int32_t> channels;
  for (const auto& c : plan.display.channels) channels.push_back(c.channel);
  FramePlan copy = plan;
  in_background<std::vector<Histogram16>>(
      this, [copy] { return plan_histograms(copy); },
      [channels](ViewerModel* m, std::vector<Histogram16> h) {
        m->histograms_ = std::move(h);
        m->histogram_channels_ = channels;
        emit m->histogramsChanged();
      });
}

void ViewerModel::poll_live() {
  if (!slide_ || refreshing_) return;
  refreshing_ = true;
  std::shared_ptr<SlideSource> slide = slide_;
  in_background<Status>(
      this, [slide] { return slide->refresh(); },
      [slide](ViewerModel* m, Status s) {
        m->refreshing_ = false;
        if (slide != m->slide_) return;
        if (!s.ok()) {
          emit m->message("live slide: " + QString::fromStdString(s.to_string()), 3000);
          return;
        }
        const size_t n = slide->index() ? slide->index()->fields_present() : 0;
        if (slide->state() != SlideState::kScanning) {
          m->live_timer_.stop();
          emit m->message("the scan finished: slide " + QString::fromStdString(std::string(slide_state_name(slide->state()))), 5000);
        }
        if (n != m->last_field_count_ || !m->live_timer_.isActive()) {
          m->last_field_count_ = n;
          m->view_->reindex();
          m->mini_view_->reindex();
          ++m->version_;
          emit m->slideGrew();
          emit m->stateChanged();
        }
      });
}

Status ViewerModel::save_display() const {
  if (!slide_) return Status();
  return save_view_state_for_slide(state_);
}

}  // namespace vslide::app
