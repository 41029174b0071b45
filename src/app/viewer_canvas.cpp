#include "vslide/app/viewer_canvas.h"

#include <QAction>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QOpenGLContext>
#include <QOpenGLFunctions>
#include <QPainter>
#include <QWheelEvent>
#include <cmath>

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

ViewerCanvas::ViewerCanvas(ViewerModel* model, QWidget* parent) : QOpenGLWidget(parent), model_(model) {
  setFocusPolicy(Qt::StrongFocus);
  setMouseTracking(true);
  setMinimumSize(200, 150);
  refine_.setSingleShot(true);
  refine_.setInterval(15);
  connect(&refine_, &QTimer::timeout, this, qOverload<>(&QWidget::update));
  connect(model_, &ViewerModel::stateChanged, this, [this] {
    update();
    scale_bar_->update();
  });
  // Textures are keyed by tile: a newly opened slide must not see the last one's.
  connect(model_, &ViewerModel::slideOpened, this, [this] {
    if (!renderer_) return;
    makeCurrent();
    renderer_->clear_textures();
    doneCurrent();
  });
  scale_bar_ = new ScaleBar(model_, this);
  scale_bar_->setGeometry(0, 0, 260, 60);
}

ViewerCanvas::~ViewerCanvas() {
  disconnect(context_teardown_);
  makeCurrent();
  release_gl();
  doneCurrent();
}

void ViewerCanvas::release_gl() { renderer_.reset(); }

void ViewerCanvas::initializeGL() {
  // The engine needs 4.3 core (storage buffers); main() asked for it.
  const QSurfaceFormat f = context()->format();
  if (f.majorVersion() * 10 + f.minorVersion() < 43) {
    gl_error_ = "OpenGL " + std::to_string(f.majorVersion()) + "." + std::to_string(f.minorVersion()) +
                " here; the viewer needs 4.3 core (Mesa llvmpipe or a GPU driver)";
    return;
  }
  auto r = GlRenderer::create(nullptr, size_t(512) << 20);
  if (!r.ok()) {
    gl_error_ = r.status().to_string();
    return;
  }
  renderer_ = std::move(*r);
  context_teardown_ = connect(context(), &QOpenGLContext::aboutToBeDestroyed, this, [this] {
    makeCurrent();
    release_gl();
    doneCurrent();
  });
}

void ViewerCanvas::resizeGL(int w, int h) {
  const qreal dpr = devicePixelRatioF();
  model_->set_canvas_size(int(std::lround(w * dpr)), int(std::lround(h * dpr)));
  scale_bar_->setGeometry(0, height() - 60, 260, 60);
}

void ViewerCanvas::paintGL() {
  const uint64_t version = model_->version();
  auto clear = [&] {
    QOpenGLFunctions* gl = context()->functions();
    gl->glBindFramebuffer(GL_FRAMEBUFFER, defaultFramebufferObject());
    gl->glViewport(0, 0, model_->canvas_size().width(), model_->canvas_size().height());
    gl->glClearColor(0.12f, 0.12f, 0.13f, 1);
    gl->glClear(GL_COLOR_BUFFER_BIT);
  };
  SlideView* view = model_->view();
  if (!view || !renderer_) {
    clear();
    painted_version_ = version;
    emit framePainted(version, true);
    if (!gl_error_.empty()) emit loadingChanged(QString::fromStdString(gl_error_));
    return;
  }
  FrameInfo info;
  auto plan = view->plan_frame(model_->viewport(), &info);
  QString loading;
  if (!plan.ok()) {
    clear();
    info = FrameInfo{};
    info.complete = true;
    loading = view->tree().size() == 0 ? "the slide has no fields yet" : "outside the slide (Home: fit)";
  } else {
    style_plan(model_->state(), &*plan);
    Status s = renderer_->draw(*plan);
    if (s.ok()) s = renderer_->present(defaultFramebufferObject());
    if (!s.ok()) {
      clear();
      loading = QString::fromStdString(s.to_string());
    } else if (!info.complete) {
      loading = QString("loading: %1 of %2 planes at layer %3 (x%4)")
                    .arg(info.planes_ready)
                    .arg(info.planes_needed)
                    .arg(info.level)
                    .arg(1 << info.level);
      if (info.coarser_draws) loading += QString(", %1 tiles drawn coarser meanwhile").arg(info.coarser_draws);
    } else {
      loading = QString("layer %1 (x%2), %3 tiles").arg(info.level).arg(1 << info.level).arg(info.tiles_visible);
    }
    if (info.placeholders) {
      loading += QString(" | %1 tile(s) failed: %2 (R retries)")
                     .arg(info.placeholders)
                     .arg(info.warnings.empty() ? QString() : QString::fromStdString(info.warnings.back()));
    }
    model_->frame_done(*plan, info, version);
  }
  info_ = info;
  painted_version_ = version;
  if (!info.complete) refine_.start();
  if (loading != last_loading_) {
    last_loading_ = loading;
    emit loadingChanged(loading);
  }
  emit framePainted(version, info.complete);
}

QImage ViewerCanvas::screenshot() {
  QImage img = grabFramebuffer().convertToFormat(QImage::Format_RGB888);
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
  QOpenGLWidget::keyPressEvent(e);
}

void ViewerCanvas::wheelEvent(QWheelEvent* e) {
  const qreal dpr = devicePixelRatioF();
  // 120 units per notch; a notch zooms by sqrt(2), trackpads in fractions.
  const double notches = e->angleDelta().y() / 120.0;
  if (notches != 0) model_->zoom_by(std::pow(std::sqrt(2.0), notches), e->position() * dpr);
  e->accept();
}

}  // namespace vslide::app
