#include "frame_worker.h"

#include <algorithm>
#include <chrono>

#include "vslide/view/cpu_renderer.h"
#include "vslide/view/gl_context.h"
#include "vslide/view/gl_renderer.h"

namespace vslide::app {

using namespace vslide::view;
using Clock = std::chrono::steady_clock;

namespace {
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

FrameWorker::FrameWorker(std::function<void(FrameDone)> done, size_t texture_cache_bytes,
                         size_t upload_budget_bytes)
    : done_(std::move(done)),
      texture_cache_bytes_(texture_cache_bytes),
      upload_budget_bytes_(upload_budget_bytes),
      thread_([this] { run(); }) {}

FrameWorker::~FrameWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FrameWorker::submit(FrameJob job) {
  {
    std::lock_guard lock(mu_);
    pending_ = std::move(job);
    pending_since_ = Clock::now();
    preempt_ = false;
  }
  cv_.notify_all();
}

void FrameWorker::preempt() {
  std::lock_guard lock(mu_);
  preempt_ = true;
}

void FrameWorker::clear_textures() {
  std::lock_guard lock(mu_);
  clear_ = true;
}

std::string FrameWorker::renderer() const {
  std::lock_guard lock(mu_);
  return renderer_;
}

void FrameWorker::run() {
  // GL is set up before the first frame is asked for: creating the renderer
  // compiles its shader variants (hundreds of ms on llvmpipe), which then
  // overlaps with opening the slide and loading its first tiles.
  std::unique_ptr<GlContext> context;
  std::unique_ptr<GlRenderer> gl;
  std::string name;
  if (auto c = GlContext::create(); !c.ok()) {
    name = "CPU reference (no headless OpenGL: " + c.status().message() + ")";
  } else if (auto r = GlRenderer::create(c->get(), texture_cache_bytes_); !r.ok()) {
    name = "CPU reference (" + r.status().to_string() + ")";
  } else {
    context = std::move(*c);
    gl = std::move(*r);
    gl->set_upload_budget(upload_budget_bytes_);
    name = "GL: " + context->renderer();
  }
  {
    std::lock_guard lock(mu_);
    renderer_ = name;
  }
  for (;;) {
    FrameDone d;
    bool clear = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || pending_.has_value(); });
      if (stop_) break;
      d.job = std::move(*pending_);
      pending_.reset();
      d.wait_ms = ms_between(pending_since_, Clock::now());
      clear = clear_;
      clear_ = false;
    }
    if (gl) {
      if (clear) gl->clear_textures();
      const auto t0 = Clock::now();
      // A banded frame: the first band uploads (up to the budget), the
      // rest draw what it uploaded; between bands the frame gives way to
      // newer input.
      const int rows = d.job.plan.viewport.height_px;
      const int bands = std::clamp(d.job.bands, 1, std::max(1, rows));
      for (int b = 0; b < bands && d.status.ok(); ++b) {
        if (b > 0) {
          std::lock_guard lock(mu_);
          if (preempt_ || stop_) {
            preempt_ = false;
            d.abandoned = true;
            break;
          }
        }
        const int y0 = int(int64_t(rows) * b / bands), y1 = int(int64_t(rows) * (b + 1) / bands);
        d.status = gl->draw_rows(d.job.plan, y0, y1, b == 0);
        d.upload_ms += gl->last_frame().upload_ms;
        d.bytes_uploaded += gl->last_frame().bytes_uploaded;
        if (b == 0) d.deferred_tiles = gl->last_frame().deferred_tiles;
        ++d.bands_drawn;
      }
      const auto t1 = Clock::now();
      d.draw_ms = ms_between(t0, t1) - d.upload_ms;
      if (d.status.ok() && !d.abandoned) {
        auto img = gl->read_back();
        d.readback_ms = ms_between(t1, Clock::now());
        if (img.ok()) {
          d.image = std::make_shared<const RgbImage>(std::move(*img));
        } else {
          d.status = img.status();
        }
      }
    } else {
      const auto t0 = Clock::now();
      auto img = render_cpu(d.job.plan);
      d.draw_ms = ms_between(t0, Clock::now());
      if (img.ok()) {
        d.image = std::make_shared<const RgbImage>(std::move(*img));
      } else {
        d.status = img.status();
      }
    }
    done_(std::move(d));
  }
  gl.reset();  // its GL objects go while the context is current here
  context.reset();
}

}  // namespace vslide::app
