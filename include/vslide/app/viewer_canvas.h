// ViewerCanvas: the slide drawn by the engine's GlRenderer in the widget's
// own OpenGL context (one renderer for the window and `vslide render`).
//
// Each paint plans a frame from the model's state (SlideView::plan_frame,
// which never waits), draws it and copies it into the widget's framebuffer.
// While the frame is incomplete (tiles still loading) another paint is
// scheduled, so tiles stream in with progressive refinement. Mouse input
// turns into model edits: drag pans, the wheel zooms about the cursor,
// double-click zooms in; moving the mouse updates the cursor readout.
//
// Thread-safety: a widget of the UI thread.
#pragma once

#include <QOpenGLWidget>
#include <QPointF>
#include <QTimer>
#include <memory>
#include <string>

#include "vslide/app/viewer_model.h"
#include "vslide/view/gl_renderer.h"

namespace vslide::app {

class ScaleBar;

class ViewerCanvas : public QOpenGLWidget {
  Q_OBJECT
 public:
  explicit ViewerCanvas(ViewerModel* model, QWidget* parent = nullptr);
  ~ViewerCanvas() override;

  const view::FrameInfo& last_info() const { return info_; }
  uint64_t painted_version() const { return painted_version_; }
  // Empty when GL came up; otherwise why it did not.
  const std::string& gl_error() const { return gl_error_; }
  // The frame with the scale bar painted on (the screenshot).
  QImage screenshot();
  void set_scale_bar_visible(bool on);

 signals:
  // After a paint: the model version it shows, and whether it is complete.
  void framePainted(quint64 version, bool complete);
  // The loading line for the status bar.
  void loadingChanged(const QString& text);

 protected:
  void initializeGL() override;
  void paintGL() override;
  void resizeGL(int w, int h) override;
  void mousePressEvent(QMouseEvent* e) override;
  void mouseMoveEvent(QMouseEvent* e) override;
  void mouseReleaseEvent(QMouseEvent* e) override;
  void mouseDoubleClickEvent(QMouseEvent* e) override;
  void wheelEvent(QWheelEvent* e) override;
  void keyPressEvent(QKeyEvent* e) override;

 private:
  void release_gl();

  ViewerModel* model_;
  std::unique_ptr<view::GlRenderer> renderer_;
  // Releases the renderer if Qt destroys the context first; cut in the
  // destructor, before ~QOpenGLWidget destroys the context (it would call
  // back into a canvas that is already half destroyed).
  QMetaObject::Connection context_teardown_;
  std::string gl_error_;
  view::FrameInfo info_;
  uint64_t painted_version_ = 0;
  bool dragging_ = false;
  QPointF last_pos_;
  QTimer refine_;
  ScaleBar* scale_bar_ = nullptr;
  QString last_loading_;
};

}  // namespace vslide::app
