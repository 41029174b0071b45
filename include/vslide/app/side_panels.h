// The window's side panels: the overview (minimap) with the viewport
// rectangle, the layers panel (detection layers, tile outlines) and the
// z/t plane sliders. Each reads the model's state and edits it.
//
// Thread-safety: widgets of the UI thread.
#pragma once

#include <QImage>
#include <QTimer>
#include <QWidget>
#include <string>

#include "vslide/app/viewer_model.h"

class QCheckBox;
class QSlider;
class QLabel;
class QVBoxLayout;

namespace vslide::app {

// The whole slide small, drawn on the CPU from the model's overview view
// (its own small caches: the stored overview or the coarsest layer), with
// the main viewport as a rectangle. Click or drag to move the view there.
class Minimap : public QWidget {
  Q_OBJECT
 public:
  explicit Minimap(ViewerModel* model, QWidget* parent = nullptr);
  QSize sizeHint() const override { return {260, 200}; }
  // Slide position of a widget point, and back.
  QPointF to_um(QPointF p) const;
  QPointF to_widget(double x_um, double y_um) const;
  bool ready() const { return complete_; }

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* e) override;
  void mouseMoveEvent(QMouseEvent* e) override;
  void resizeEvent(QResizeEvent*) override;

 private:
  void rerender();
  void rendered(QImage image, view::Viewport fit, std::string key, bool complete);
  ViewerModel* model_;
  QImage image_;
  view::Viewport fit_;  // where image_ was drawn
  std::string key_;     // what image_ shows (display, plane, tree size, size)
  bool complete_ = false;
  bool rendering_ = false;  // a CPU render is running on the thread pool
  bool again_ = false;      // the state changed meanwhile: render again when it is done
  QTimer poll_;
};

class LayersPanel : public QWidget {
  Q_OBJECT
 public:
  explicit LayersPanel(ViewerModel* model, QWidget* parent = nullptr);
  QCheckBox* outlines() const { return outlines_; }
  QCheckBox* registered() const { return registered_; }

 private:
  void rebuild();
  void sync();
  ViewerModel* model_;
  QCheckBox* outlines_ = nullptr;
  QCheckBox* registered_ = nullptr;
  QVBoxLayout* layers_ = nullptr;
  QWidget* host_ = nullptr;
};

class PlanePanel : public QWidget {
  Q_OBJECT
 public:
  explicit PlanePanel(ViewerModel* model, QWidget* parent = nullptr);
  QSlider* z() const { return z_; }
  QSlider* t() const { return t_; }

 private:
  void rebuild();
  ViewerModel* model_;
  QSlider *z_ = nullptr, *t_ = nullptr;
  QLabel *z_label_ = nullptr, *t_label_ = nullptr;
};

}  // namespace vslide::app
