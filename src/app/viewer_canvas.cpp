#include "vslide/app/viewer_canvas.h"

#include <QAction>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

#include "frame_worker.h"

namespace vslide::app {

using namespace vslide::view;

// A scale bar in micrometres that adapts to the zoom: 1, 2 or 5 x 10^k µm,
// about 80..200 screen pixels long.
void paint_scale_bar(QPainter& p, const QRect& area, const Viewport& v) {
  const double ppu = v.px_per_um();
  if (!(ppu > 0)) return;
  double len = 1e-3;
  for (double m = 1e-3; m < 1e7; m *= 10) {
    for (double f : {1.0, 2.0, 5.0}) {
      if (f * m * ppu <= 200) len = f * m;
    }
  }
  const int w = int(std::lround(len * ppu));
  const QString label = len >= 1000 ? QString::number(len / 1000) + " mm"
                                    : QString::number(len) + QString::fromUtf8(" \u00b5m");
  const QRect bar(area.left() + 12, area.bottom() - 22, w, 6);
  p.setRenderHint(QPainter::Antialiasing, false);
  p.fillRect(bar.adjusted(-1, -1, 1, 1), QColor(0, 0, 0, 160));
  p.fillRect(bar, Qt::white);
  p.setPen(Qt::white);
  QFont f = p.font();
  f.setPointSize(9);
  p.setFont(f);
  p.drawText(QRect(bar.left(), bar.top() - 18, std::max(w, 80), 16), Qt::AlignLeft | Qt::AlignBottom, label);
}

class ScaleBar : public QWidget {
 public:
  ScaleBar(ViewerModel* model, QWidget* parent) : QWidget(parent), model_(model) {
    setAttribute(Qt::WA_TransparentForMouseEvents);
    setAttribute(Qt::WA_NoSystemBackground);
  }

 protected:
  void paintEvent(QPaintEvent*) override {
    if (!model_->has_slide()) return;
    QPainter p(this);
    paint_scale_bar(p, rect(), model_->viewport());
  }

 private:
  ViewerModel* model_;
};

namespace {
// The frame as the canvas shows it: 32-bit pixels (the window's own format),
// canvas-sized (an interaction frame scaled up, nearest neighbour).
QImage canvas_image(const FrameDone& d) {
  if (!d.image) return QImage();
  const RgbImage& rgb = *d.image;
  QImage img = QImage(rgb.pixels.data(), rgb.width, rgb.height, rgb.width * 3, QImage::Format_RGB888)
                   .convertToFormat(QImage::Format_RGB32);
  const QSize canvas(d.job.canvas_w, d.job.canvas_h);
  if (canvas.isValid() && img.size() != canvas) img = img.scaled(canvas, Qt::IgnoreAspectRatio, Qt::FastTransformation);
  return img;
}
}  // namespace

ViewerCanvas::ViewerCanvas(ViewerModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  setFocusPolicy(Qt::StrongFocus);
  setMouseTracking(true);
  setMinimumSize(200, 150);
  setAttribute(Qt::WA_OpaquePaintEvent);
  for (QTimer* t : {&kick_, &refine_, &settle_}) t->setSingleShot(true);
  kick_.setInterval(0);
  refine_.setInterval(15);
  connect(&kick_, &QTimer::timeout, this, &ViewerCanvas::submit_frame);
  connect(&refine_, &QTimer::timeout, this, &ViewerCanvas::submit_frame);
  connect(&settle_, &QTimer::timeout, this, &ViewerCanvas::submit_frame);
  connect(model_, &ViewerModel::stateChanged, this, [this] {
    last_edit_.restart();
    request_frame();
    scale_bar_->update();
  });
  // Textures are keyed by tile: a newly opened slide must not see the last one's.
  connect(model_, &ViewerModel::slideOpened, this, [this] { worker_->clear_textures(); });
  scale_bar_ = new ScaleBar(model_, this);
  scale_bar_->setGeometry(0, 0, 260, 60);
  // The worker calls back on its thread; the frame is taken on the UI
  // thread (a call queued to a canvas already destroyed is dropped, and the
  // destructor joins the worker before anything it uses goes).
  worker_ = std::make_unique<FrameWorker>(
      [this](FrameDone d) {
        // Still on the frame thread: the image the canvas paints is made
        // here (its pixel format, scaled up for an interaction frame), so
        // painting it is a plain copy on the UI thread.
        QElapsedTimer t;
        t.start();
        auto image = std::make_shared<QImage>(canvas_image(d));
        d.convert_ms = double(t.nsecsElapsed()) / 1e6;
        auto done = std::make_shared<FrameDone>(std::move(d));
        QMetaObject::invokeMethod(
            this, [this, done, image] { frame_done(std::move(*done), std::move(*image)); }, Qt::QueuedConnection);
      },
      size_t(512) << 20, kUploadBudgetBytes);
}

ViewerCanvas::~ViewerCanvas() { worker_.reset(); }



std::string ViewerCanvas::renderer() const { return worker_->renderer(); }

bool ViewerCanvas::settled() const {
  return !in_flight_ && !dirty_ && painted_version_ == model_->version() && info_.complete &&
         (image_full_res_ || !model_->has_slide());
}

void ViewerCanvas::resizeEvent(QResizeEvent*) {
  const qreal dpr = devicePixelRatioF();
  model_->set_canvas_size(int(std::lround(width() * dpr)), int(std::lround(height() * dpr)));
  scale_bar_->setGeometry(0, height() - 60, 260, 60);
  request_frame();
}

void ViewerCanvas::request_frame() {
  dirty_ = true;
  if (in_flight_) {
    if (in_flight_banded_) worker_->preempt();  // the rest of that frame is stale
  } else if (!kick_.isActive()) {
    kick_.start();
  }
}

// How many bands a full-resolution frame is drawn in: about one frame
// budget each, from the measured cost per pixel (8 before anything is
// measured: the first frame of a slide); 1 with no budget or where the
// frame fits it.
int ViewerCanvas::full_frame_bands() const {
  if (!(budget_ms_ > 0)) return 1;
  if (!(cost_ms_per_mpx_ > 0)) return 8;
  const QSize c = model_->canvas_size();
  const double ms = cost_ms_per_mpx_ * double(c.width()) * c.height() / 1e6;
  return std::clamp(int(std::ceil(ms / budget_ms_)), 1, 8);
}

// The resolution of interaction frames: the share of the canvas's pixels
// (per axis) that the measured cost per pixel lets one frame draw within
// the budget; 1 where the full frame fits (a GPU).
double ViewerCanvas::interaction_scale() const {
  if (!(budget_ms_ > 0) || !(cost_ms_per_mpx_ > 0)) return 1;
  const QSize c = model_->canvas_size();
  const double mpx = double(c.width()) * c.height() / 1e6;
  const double s = std::sqrt(budget_ms_ / (cost_ms_per_mpx_ * mpx));
  if (s >= 1) return 1;
  return std::max(0.25, std::floor(s * 8) / 8);  // steps of 1/8: the picture does not flicker between sizes
}

void ViewerCanvas::submit_frame() {
  if (in_flight_) return;  // frame_done() submits the latest state
  kick_.stop();
  refine_.stop();
  settle_.stop();
  const uint64_t version = model_->version();
  dirty_ = false;
  SlideView* view = model_->view();
  QString loading;
  FrameJob job;
  job.version = version;
  if (view) {
    QElapsedTimer t;
    t.start();
    const bool interacting = last_edit_.isValid() && last_edit_.elapsed() < kSettleMs;
    job.scale = interacting ? interaction_scale() : 1.0;
    job.bands = job.scale == 1 && !after_abandon_ ? full_frame_bands() : 1;
    after_abandon_ = false;
    Viewport vp = model_->viewport();
    job.canvas_w = vp.width_px;
    job.canvas_h = vp.height_px;
    if (job.scale < 1) {
      const int w = std::max(1, int(std::lround(vp.width_px * job.scale)));
      vp.zoom *= double(w) / vp.width_px;
      job.scale = double(w) / vp.width_px;
      vp.width_px = w;
      vp.height_px = std::max(1, int(std::lround(vp.height_px * job.scale)));
    }
    auto plan = view->plan_frame(vp, &job.info);
    job.plan_ms = double(t.nsecsElapsed()) / 1e6;
    if (plan.ok()) {
      style_plan(model_->state(), &*plan);
      job.plan = std::move(*plan);
      in_flight_ = true;
      in_flight_banded_ = job.bands > 1;
      worker_->submit(std::move(job));
      return;
    }
    loading = view->tree().size() == 0 ? "the slide has no fields yet" : "outside the slide (Home: fit)";
  }
  // Nothing to draw: an empty canvas shows this version at once.
  image_ = QImage();
  image_full_res_ = true;
  info_ = FrameInfo{};
  info_.complete = true;
  times_ = FrameTimes{};
  painted_version_ = version;
  presented_ = false;
  update();
  if (loading != last_loading_) {
    last_loading_ = loading;
    emit loadingChanged(loading);
  }
  emit framePainted(version, true);
}

void ViewerCanvas::update_cost(int width, int height, double ms) {
  if (width <= 0 || height <= 0) return;
  const double mpx = double(width) * height / 1e6;
  const double cost = ms / std::max(mpx, 1e-3);
  cost_ms_per_mpx_ = cost_ms_per_mpx_ > 0 ? 0.7 * cost_ms_per_mpx_ + 0.3 * cost : cost;
}

void ViewerCanvas::frame_done(FrameDone d, QImage image) {
  in_flight_ = false;
  if (d.abandoned) {
    // Stopped between bands for newer input: nothing of it is shown, the
    // newer state is drawn now, in one piece (so frames keep coming while
    // input does). The bands drawn still measure the cost per pixel, which
    // sizes that frame.
    ++frames_abandoned_;
    const int rows = d.job.plan.viewport.height_px;
    const int drawn = int(int64_t(rows) * d.bands_drawn / std::max(1, d.job.bands));
    update_cost(d.job.plan.viewport.width_px, drawn, d.draw_ms);
    after_abandon_ = true;
    submit_frame();
    return;
  }
  const FrameInfo& info = d.job.info;
  times_ = FrameTimes{d.job.plan_ms, d.wait_ms,  d.upload_ms,  d.draw_ms,         d.readback_ms,
                      d.convert_ms, 0, d.job.scale, d.bytes_uploaded};
  QString loading;
  if (!d.status.ok()) {
    image_ = QImage();
    loading = QString::fromStdString(d.status.to_string());
  } else {
    image_ = std::move(image);
    // The cost per pixel from every frame (interaction frames too: the
    // machine's load changes while the input goes on).
    update_cost(d.image->width, d.image->height, d.draw_ms + d.readback_ms);
    if (!info.complete) {
      loading = QString("loading: %1 of %2 planes at layer %3 (x%4)")
                    .arg(info.planes_ready)
                    .arg(info.planes_needed)
                    .arg(info.level)
                    .arg(1 << info.level);
      if (info.coarser_draws) loading += QString(", %1 tiles drawn coarser meanwhile").arg(info.coarser_draws);
    } else {
      loading = QString("layer %1 (x%2), %3 tiles").arg(info.level).arg(1 << info.level).arg(info.tiles_visible);
    }
    if (d.job.scale < 1) loading += QString(" | moving: drawn at %1 %").arg(int(std::lround(d.job.scale * 100)));
    if (info.placeholders) {
      loading += QString(" | %1 tile(s) failed: %2 (R retries)")
                     .arg(info.placeholders)
                     .arg(info.warnings.empty() ? QString() : QString::fromStdString(info.warnings.back()));
    }
    if (d.deferred_tiles) loading += QString(" | uploading %1 more tile(s)").arg(d.deferred_tiles);
    if (info.complete && d.job.scale == 1 && !d.deferred_tiles) model_->frame_done(d.job.plan, info, d.job.version);
  }
  image_full_res_ = d.job.scale == 1;
  info_ = info;
  info_.complete = info.complete && d.deferred_tiles == 0;  // tiles left out are still to come
  painted_version_ = d.job.version;
  presented_ = false;
  update();
  if (loading != last_loading_) {
    last_loading_ = loading;
    emit loadingChanged(loading);
  }
  emit framePainted(d.job.version, info_.complete);
  // What next: the latest edits at once; else the rest of the tiles as they
  // load; else, after an interaction frame, the full resolution once input
  // pauses.
  if (dirty_ || painted_version_ != model_->version() || d.deferred_tiles) {
    submit_frame();
  } else if (!info.complete) {
    refine_.start();
  } else if (!image_full_res_) {
    settle_.start(std::max<int>(0, kSettleMs - int(last_edit_.elapsed())));
  }
}

void ViewerCanvas::paintEvent(QPaintEvent*) {
  QElapsedTimer t;
  t.start();
  QPainter p(this);
  if (image_.isNull()) {
    p.fillRect(rect(), QColor(31, 31, 33));
  } else {
    // Canvas-sized already (device pixels): a copy, no scaling here.
    p.drawImage(QRectF(rect()), image_);
  }
  if (!presented_) {
    presented_ = true;
    times_.paint_ms = double(t.nsecsElapsed()) / 1e6;
    // After this paint event the window's backing store is flushed; the
    // frame is on screen when the event loop comes round again.
    QTimer::singleShot(0, this, [this] { emit framePresented(); });
  }
}

QImage ViewerCanvas::frame_image() const { return image_.copy(); }

QImage ViewerCanvas::screenshot() const {
  QImage img = image_.isNull() ? QImage(model_->canvas_size(), QImage::Format_RGB888) : image_.copy();
  if (image_.isNull()) img.fill(QColor(31, 31, 33));
  if (model_->has_slide()) {
    QPainter p(&img);
    paint_scale_bar(p, img.rect(), model_->viewport());
  }
  return img;
}

void ViewerCanvas::set_scale_bar_visible(bool on) { scale_bar_->setVisible(on); }

void ViewerCanvas::mousePressEvent(QMouseEvent* e) {
  if (e->button() == Qt::LeftButton) {
    dragging_ = true;
    last_pos_ = e->position();
    setCursor(Qt::ClosedHandCursor);
  }
}

void ViewerCanvas::mouseMoveEvent(QMouseEvent* e) {
  const qreal dpr = devicePixelRatioF();
  if (dragging_) {
    const QPointF d = (e->position() - last_pos_) * dpr;
    last_pos_ = e->position();
    model_->pan_px(d.x(), d.y());
  }
  model_->probe(e->position() * dpr);
}

void ViewerCanvas::mouseReleaseEvent(QMouseEvent* e) {
  if (e->button() == Qt::LeftButton && dragging_) {
    dragging_ = false;
    unsetCursor();
  }
}

void ViewerCanvas::mouseDoubleClickEvent(QMouseEvent* e) {
  const qreal dpr = devicePixelRatioF();
  model_->zoom_step(e->button() == Qt::RightButton ? -2 : 2, e->position() * dpr);
}

// A key that reached the canvas itself (no shortcut took it, e.g. while the
// window is not the active one): run the canvas action bound to it.
void ViewerCanvas::keyPressEvent(QKeyEvent* e) {
  const QKeySequence pressed(e->keyCombination());
  const QKeySequence bare(e->key());
  for (QAction* a : actions()) {
    for (const QKeySequence& k : a->shortcuts()) {
      if (k == pressed || (k == bare && (e->modifiers() & ~(Qt::ShiftModifier | Qt::KeypadModifier)) == 0)) {
        a->trigger();
        e->accept();
        return;
      }
    }
  }
  QWidget::keyPressEvent(e);
}

void ViewerCanvas::wheelEvent(QWheelEvent* e) {
  const qreal dpr = devicePixelRatioF();
  // 120 units per notch; a notch zooms by sqrt(2), trackpads in fractions.
  const double notches = e->angleDelta().y() / 120.0;
  if (notches != 0) model_->zoom_by(std::pow(std::sqrt(2.0), notches), e->position() * dpr);
  e->accept();
}

}  // namespace vslide::app
