// FrameWorker (internal to the window): draws the canvas's frames on a
// thread of its own, with the engine's GlRenderer in a headless context of
// its own (GlContext, EGL: the same path as `vslide render`), or with the
// CPU reference renderer where no headless OpenGL 4.3 can be had.
//
// Why a thread and not the widget's GL context: a frame on Mesa llvmpipe
// (software rasterisation, ~700k pixels through the channel shader) and the
// texture uploads of newly loaded tiles take tens of ms; drawn in a
// QOpenGLWidget they held the UI thread for that long, plus Qt's
// composition of the whole window through GL and the swap (measured
// 40-56 ms a frame on llvmpipe, docs/PERFORMANCE.md). Here the UI thread
// plans the frame (SlideView::plan_frame never waits), hands the plan over
// and paints the finished image when it comes back; it never waits for the
// rasteriser, and the window is an ordinary raster window. A slow
// full-resolution frame is drawn in bands of rows (FrameJob::bands) and
// can be given up between two (preempt()) when newer input has made it
// stale.
//
// Thread-safety: submit() and clear_textures() from one thread (the UI
// thread); `done` runs on the worker thread. The destructor stops the
// thread and releases GL there.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "vslide/view/frame.h"
#include "vslide/view/slide_view.h"

namespace vslide::app {

struct FrameJob {
  view::FramePlan plan;
  view::FrameInfo info;
  uint64_t version = 0;  // the model version the plan shows
  double scale = 1;      // frame pixels per canvas pixel (< 1: an interaction frame)
  int canvas_w = 0, canvas_h = 0;  // the canvas's pixels, which the frame is shown on
  double plan_ms = 0;
  // > 1: drawn as this many bands of rows, and given up between two bands
  // when preempt() is called (a full-resolution frame that new input has
  // made stale: the next frame does not wait for the rest of it).
  int bands = 1;
};

struct FrameDone {
  FrameJob job;
  std::shared_ptr<const view::RgbImage> image;  // null when `status` failed
  Status status;
  double wait_ms = 0;      // submitted until the worker took it
  double upload_ms = 0;    // texture uploads
  double draw_ms = 0;      // the rest of drawing, until the rasteriser finished
  double readback_ms = 0;  // the frame read back into host memory
  double convert_ms = 0;   // made the canvas's image (format, scaled to the canvas)
  uint64_t bytes_uploaded = 0;
  uint64_t deferred_tiles = 0;  // left out by the upload budget: draw again
  bool abandoned = false;       // preempted between bands: no image, nothing to show
  int bands_drawn = 0;
};

class FrameWorker {
 public:
  // `texture_cache_bytes` bounds the renderer's texture cache;
  // `upload_budget_bytes` the texture uploads of one frame
  // (GlRenderer::set_upload_budget).
  FrameWorker(std::function<void(FrameDone)> done, size_t texture_cache_bytes, size_t upload_budget_bytes);
  ~FrameWorker();
  FrameWorker(const FrameWorker&) = delete;
  FrameWorker& operator=(const FrameWorker&) = delete;

  // Queues a frame; a queued frame the worker has not started is replaced.
  void submit(FrameJob job);
  // Asks the frame being drawn to stop at its next band boundary (a job
  // with bands > 1; others finish). It then reports `abandoned`. A later
  // submit() clears the request.
  void preempt();
  // Drops the renderer's textures before the next frame (a slide was opened:
  // textures are keyed by tile, and the new slide must not see the old one's).
  void clear_textures();
  // "GL: llvmpipe (LLVM 15.0.6, 256 bits)" or "CPU reference (no headless GL: why)";
  // empty until the worker has set up.
  std::string renderer() const;

 private:
  void run();

  const std::function<void(FrameDone)> done_;
  const size_t texture_cache_bytes_;
  const size_t upload_budget_bytes_;
  mutable std::mutex mu_;  // guards the fields below
  std::condition_variable cv_;
  std::optional<FrameJob> pending_;
  std::chrono::steady_clock::time_point pending_since_;
  bool clear_ = false;
  bool preempt_ = false;
  bool stop_ = false;
  std::string renderer_;
  std::thread thread_;  // last: starts after the fields above exist
};

}  // namespace vslide::app
