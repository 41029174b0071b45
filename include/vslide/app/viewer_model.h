// ViewerModel: the window's one piece of state and the engine behind it.
//
// It holds the open slide, the engine's SlideView and the ViewState (the
// plain value of include/vslide/view/view_state.h). Widgets never change
// the picture themselves: they call an edit here (pan, zoom, channel
// colour, ...), the model updates the ViewState, applies it to the
// SlideView and emits stateChanged(); the canvas and panels redraw from
// state(). Every edit bumps version(), so a frame can say which edits it
// shows (the benchmark's input-to-frame time).
//
// Nothing here blocks the UI thread on I/O: opening a slide (a remote one
// may take seconds to fail), refreshing a live slide's index and reading
// raw tiles for the cursor readout run on a thread pool; results come back
// as queued calls. Tiles for frames stream in through the SlideView's
// loaders.
//
// Thread-safety: a QObject of the UI thread; use it from that thread only.
#pragma once

#include <QObject>
#include <QPointF>
#include <QSize>
#include <QString>
#include <QTimer>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vslide/core/slide_source.h"
#include "vslide/view/slide_view.h"
#include "vslide/view/view_state.h"

namespace vslide::app {

// What the cursor is over: stage position, field, raw values (one per
// slide channel; empty until read).
struct Readout {
  bool valid = false;
  double x_um = 0, y_um = 0;
  int32_t row = -1, col = -1;
  int32_t px = 0, py = 0;  // pixel in the raw tile
  std::vector<int> values;  // -1: that channel's plane is missing or failed
  QString error;
};

class ViewerModel : public QObject {
  Q_OBJECT
 public:
  explicit ViewerModel(QObject* parent = nullptr);
  ~ViewerModel() override;

  // Slides are opened with vslide::open_slide (a file, tcp:// or ipc:// URL).
  // Starts opening (asynchronous): slideOpened() or openFailed() follows.
  void open(const QString& path_or_url);
  // Opens synchronously (tests, the benchmark); same signals.
  Status open_now(const std::string& path_or_url);
  // Adopts an already opened slide.
  void adopt(std::shared_ptr<SlideSource> slide, const std::string& opened_as);
  bool has_slide() const { return view_ != nullptr; }
  bool opening() const { return opening_; }
  const SlideSource* slide() const { return slide_.get(); }
  std::shared_ptr<SlideSource> shared_slide() const { return slide_; }
  view::SlideView* view() { return view_.get(); }
  view::SlideView* overview_view() { return mini_view_.get(); }
  const view::ViewState& state() const { return state_; }
  uint64_t version() const { return version_; }
  // Canvas size in pixels (for zoom/pan edits that need it).
  void set_canvas_size(int w, int h);
  QSize canvas_size() const { return {canvas_w_, canvas_h_}; }
  // The viewport of the current state in the canvas.
  view::Viewport viewport() const;

  // Edits (each emits stateChanged once).
  void set_state(view::ViewState s);  // validated against the slide; invalid parts rejected with a message
  void pan_px(double dx, double dy);  // moves the picture by (dx, dy) screen pixels
  void zoom_by(double factor, QPointF about_px);  // about a screen point; honours the zoom manager
  void zoom_step(int steps, QPointF about_px);    // +1: in by one step (x sqrt 2), -1: out
  void center_on(double x_um, double y_um);
  void fit();
  void set_channel_visible(int channel, bool on);
  void set_channel_color(int channel, Rgb color);
  void set_channel_window(int channel, float low, float high);
  void set_channel_gamma(int channel, float gamma);
  void reset_channel(int channel);  // -1: all channels
  // Percentile auto-contrast from the visible region (0.5 % and 99.5 %);
  // -1: every visible channel. Uses the histograms of the last frame.
  Status auto_contrast(int channel);
  void set_plane(int z, int t);
  void set_tile_outlines(bool on);
  void set_positions(view::Positions p);
  void set_layer(const std::string& layer, bool visible, std::optional<Rgb> color = std::nullopt);
  void retry_failed();  // forgets failed tiles (a server back up) and reloads

  // The last frame's plan and info (the canvas reports them).
  void frame_done(const view::FramePlan& plan, const view::FrameInfo& info, uint64_t version);
  const std::vector<view::Histogram16>& histograms() const { return histograms_; }
  // Channels parallel to histograms().
  const std::vector<int32_t>& histogram_channels() const { return histogram_channels_; }

  // Cursor readout at a screen point (raw tile read in the background).
  void probe(QPointF px);
  const Readout& readout() const { return readout_; }
  // Synchronous raw read (tests): waits for the pool.
  Readout probe_now(QPointF px);

  // Saves the state as the slide's display settings (on close, on request).
  Status save_display() const;
  // Live slide polling period (default 250 ms).
  void set_live_period_ms(int ms) { live_timer_.setInterval(ms); }
  bool live() const { return live_timer_.isActive(); }

 signals:
  void slideOpened();
  void openFailed(const QString& what, const QString& why, bool retryable);
  void stateChanged();
  void readoutChanged();
  void histogramsChanged();
  void message(const QString& text, int timeout_ms);
  void slideGrew();

 private:
  void edited();
  void apply();
  void poll_live();
  Readout read_at(double x_um, double y_um) const;

  std::shared_ptr<SlideSource> slide_;
  std::unique_ptr<view::SlideView> view_, mini_view_;
  view::ViewState state_;
  uint64_t version_ = 0;
  int canvas_w_ = 800, canvas_h_ = 600;
  bool opening_ = false;
  uint64_t open_generation_ = 0;
  std::vector<view::Histogram16> histograms_;
  std::vector<int32_t> histogram_channels_;
  Readout readout_;
  uint64_t probe_generation_ = 0;
  QTimer live_timer_;
  bool refreshing_ = false;
  size_t last_field_count_ = 0;
  std::shared_ptr<bool> alive_;
};

}  // namespace vslide::app
