// ViewerCanvas: the slide drawn by the engine's GlRenderer (one renderer
// for the window and `vslide render`), shown in an ordinary raster widget.
//
// Frames are drawn off the UI thread (FrameWorker, src/app/frame_worker.h:
// a thread with its own headless GL context, the `vslide render` path).
// An edit of the model plans a frame on the UI thread
// (SlideView::plan_frame, which never waits) and hands it to the worker;
// when the image comes back the canvas paints it. While the worker is busy,
// further edits are coalesced into the next frame, so input never queues
// up behind the rasteriser. While a frame is incomplete (tiles still
// loading) another is planned 15 ms later: tiles stream in with
// progressive refinement.
//
// Uploads: one frame uploads at most kUploadBudgetBytes of new textures;
// tiles past it are drawn from coarser layers and come in over the next
// frames (drawn at once, one after the other).
//
// Interaction frames: where a full-resolution frame costs more than the
// frame budget (Mesa llvmpipe: the cost follows the pixels), frames drawn
// while input keeps coming (within kSettleMs of the last edit) are drawn at
// a lower resolution, chosen from the measured cost per pixel so that one
// fits the budget, and scaled up; kSettleMs after the last edit the full
// resolution frame follows. On a GPU the full resolution fits and is
// always drawn. settled() says when the full-resolution, complete frame of
// the current state is shown.
//
// Preemption: a full-resolution frame that costs more than the budget is
// drawn in bands of rows of about the budget each (the first band with the
// frame's uploads); an edit that arrives meanwhile stops it at the next
// band, and the edit's frame follows at once. So input never waits for a
// whole slow frame (the first frame of a newly opened slide, the frame
// after input pauses), only for one band of it.
//
// Mouse input turns into model edits: drag pans, the wheel zooms about the
// cursor, double-click zooms in; moving the mouse updates the readout.
//
// Thread-safety: a widget of the UI thread.
#pragma once

#include <QElapsedTimer>
#include <QImage>
#include <QWidget>
#include <QPointF>
#include <QTimer>
#include <memory>
#include <string>

#include "vslide/app/viewer_model.h"
#include "vslide/view/slide_view.h"

namespace vslide::app {

class ScaleBar;

class FrameWorker;
struct FrameDone;

// Where one frame's time went, in ms (the benchmark's breakdown). UI
// thread: planning and painting the image. Frame thread: waiting to be
// taken, texture uploads, the rest of the drawing until the rasteriser
// finished, reading the frame back, making the canvas's image of it.
struct FrameTimes {
  double plan_ms = 0;
  double wait_ms = 0;
  double upload_ms = 0;
  double draw_ms = 0;
  double readback_ms = 0;
  double convert_ms = 0;  // the canvas's image made from the frame (frame thread)
  double paint_ms = 0;
  double scale = 1;  // frame pixels per canvas pixel
  uint64_t bytes_uploaded = 0;
};

class ViewerCanvas : public QWidget {
  Q_OBJECT
 public:
  explicit ViewerCanvas(ViewerModel* model, QWidget* parent = nullptr);
  ~ViewerCanvas() override;

  // How long input may pause before the full-resolution frame is drawn.
  static constexpr int kSettleMs = 150;
  // The frame budget: 10 ms leaves room in the 16.7 ms between two inputs
  // at 60 Hz for the frame's conversion and painting and for a frame that
  // costs more than its cost per pixel predicts (a zoom across layers).
  // With 12 ms, frames of 13-21 ms queued the next input behind them
  // (bench view, warm zoom-in p50 25-32 ms against 11-24 ms with 10).
  static constexpr double kDefaultFrameBudgetMs = 10;
  // Texture uploads per frame (GlRenderer::set_upload_budget): newly loaded
  // tiles past it come in over the next frames, coarser layers meanwhile.
  static constexpr size_t kUploadBudgetBytes = size_t(4) << 20;

  const view::FrameInfo& last_info() const { return info_; }
  // The last shown frame's times (valid in a framePresented handler).
  const FrameTimes& last_times() const { return times_; }
  uint64_t painted_version() const { return painted_version_; }
  // The current state's complete frame is shown at full resolution, and
  // nothing is being drawn.
  bool settled() const;
  // What draws the frames ("GL: llvmpipe ...", or "CPU reference (why)");
  // empty until the frame thread has set up.
  std::string renderer() const;
  // The last frame as shown (canvas-sized; an interaction frame scaled up), no scale bar.
  QImage frame_image() const;
  // The frame with the scale bar painted on (the screenshot).
  QImage screenshot() const;
  void set_scale_bar_visible(bool on);
  // The time one frame may take before interaction frames are drawn at a
  // lower resolution (default kDefaultFrameBudgetMs); 0: always full resolution.
  void set_frame_budget_ms(double ms) { budget_ms_ = ms; }
  // Full-resolution frames given up between bands because input came.
  uint64_t frames_abandoned() const { return frames_abandoned_; }
  // A full-resolution frame is being drawn in bands (an edit now preempts it).
  bool banded_frame_in_flight() const { return in_flight_ && in_flight_banded_; }

 signals:
  // A frame came back: the model version it shows, and whether it is complete.
  void framePainted(quint64 version, bool complete);
  // That frame has been painted into the window (after the paint event).
  void framePresented();
  // The loading line for the status bar.
  void loadingChanged(const QString& text);

 protected:
  void paintEvent(QPaintEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;
  void mousePressEvent(QMouseEvent* e) override;
  void mouseMoveEvent(QMouseEvent* e) override;
  void mouseReleaseEvent(QMouseEvent* e) override;
  void mouseDoubleClickEvent(QMouseEvent* e) override;
  void wheelEvent(QWheelEvent* e) override;
  void keyPressEvent(QKeyEvent* e) override;

 private:
  void request_frame();  // an edit: a frame as soon as the worker is free
  void submit_frame();
  void frame_done(FrameDone d, QImage image);
  double interaction_scale() const;
  int full_frame_bands() const;
  void update_cost(int width, int height, double ms);  // a frame's drawing time -> cost_ms_per_mpx_

  ViewerModel* model_;
  std::unique_ptr<FrameWorker> worker_;
  QImage image_;  // the last frame, canvas-sized
  bool image_full_res_ = false;
  bool presented_ = true;  // image_ has been painted once
  view::FrameInfo info_;
  FrameTimes times_;
  uint64_t painted_version_ = 0;
  bool in_flight_ = false;  // the worker has a frame of ours
  bool in_flight_banded_ = false;  // ... drawn in bands: an edit preempts it
  uint64_t frames_abandoned_ = 0;
  bool after_abandon_ = false;  // the next frame is drawn whole
  bool dirty_ = false;      // an edit since the frame in flight was planned
  QElapsedTimer last_edit_;
  double budget_ms_ = kDefaultFrameBudgetMs;
  double cost_ms_per_mpx_ = 0;  // measured drawing cost (upload excluded), smoothed
  bool dragging_ = false;
  QPointF last_pos_;
  QTimer kick_, refine_, settle_;
  ScaleBar* scale_bar_ = nullptr;
  QString last_loading_;
};

}  // namespace vslide::app
