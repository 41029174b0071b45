#include "vslide/app/side_panels.h"

#include <QCheckBox>
#include <QColorDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QPushButton>
#include <QPointer>
#include <QThreadPool>
#include <QCoreApplication>
#include <QSignalBlocker>
#include <QSlider>
#include <QVBoxLayout>

#include "vslide/view/cpu_renderer.h"

namespace vslide::app {

using namespace vslide::view;

Minimap::Minimap(ViewerModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  setMinimumSize(160, 120);
  setToolTip("Overview: click or drag to move the view");
  poll_.setInterval(100);
  connect(&poll_, &QTimer::timeout, this, [this] { rerender(); });
  connect(model_, &ViewerModel::stateChanged, this, [this] { rerender(); });
  connect(model_, &ViewerModel::slideOpened, this, [this] {
    key_.clear();
    rerender();
  });
}

void Minimap::rerender() {
  SlideView* v = model_->overview_view();
  if (!v || v->tree().size() == 0) {
    image_ = QImage();
    poll_.stop();
    update();
    return;
  }
  const ViewState& s = model_->state();
  ViewState look;
  look.display = drawn_display(s);
  look.z = s.z;
  look.t = s.t;
  const std::string key = view_state_to_json(look) + std::to_string(v->tree().size()) + "/" + std::to_string(width()) + "x" + std::to_string(height());
  if (key == key_ && complete_) {
    update();  // only the viewport rectangle moved
    return;
  }
  if (rendering_) {  // a contrast drag: one render at a time, the latest look next
    again_ = true;
    return;
  }
  const Viewport fit = v->fit_viewport(std::max(1, width()), std::max(1, height()));
  FrameInfo info;
  auto plan = v->plan_frame(fit, &info);
  if (!plan.ok()) return;
  // Planned here (the SlideView is the UI thread's), drawn on the pool: the
  // CPU render of a few hundred thousand pixels would stall the UI thread.
  rendering_ = true;
  complete_ = false;
  QPointer<Minimap> self(this);
  QThreadPool::globalInstance()->start([self, plan = std::move(*plan), fit, key, complete = info.complete] {
    auto img = render_cpu(plan);
    QImage q;
    // In the window's own pixel format, made here: a paint of the minimap
    // (at every pan, for the viewport rectangle) is then a plain copy.
    if (img.ok())
      q = QImage(img->pixels.data(), img->width, img->height, img->width * 3, QImage::Format_RGB888)
              .convertToFormat(QImage::Format_RGB32);
    QMetaObject::invokeMethod(
        QCoreApplication::instance(),
        [self, q, fit, key, complete] {
          if (self) self->rendered(q, fit, key, complete);
        },
        Qt::QueuedConnection);
  });
}

void Minimap::rendered(QImage image, Viewport fit, std::string key, bool complete) {
  rendering_ = false;
  if (!image.isNull()) {
    image_ = std::move(image);
    fit_ = fit;
    key_ = std::move(key);
    complete_ = complete;
  }
  if (complete_) {
    poll_.stop();
  } else if (!poll_.isActive()) {
    poll_.start();
  }
  update();
  if (again_) {
    again_ = false;
    rerender();
  }
}

void Minimap::resizeEvent(QResizeEvent*) { rerender(); }

QPointF Minimap::to_um(QPointF p) const {
  const RectUm r = fit_.rect_um();
  return {r.x0 + p.x() / fit_.px_per_um(), r.y0 + p.y() / fit_.px_per_um()};
}

QPointF Minimap::to_widget(double x_um, double y_um) const {
  const RectUm r = fit_.rect_um();
  return {(x_um - r.x0) * fit_.px_per_um(), (y_um - r.y0) * fit_.px_per_um()};
}

void Minimap::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), QColor(20, 20, 22));
  if (image_.isNull() || !model_->has_slide()) return;
  p.drawImage(0, 0, image_);
  const RectUm r = model_->viewport().rect_um();
  const QPointF a = to_widget(r.x0, r.y0), b = to_widget(r.x1, r.y1);
  QRectF box(a, b);
  if (box.width() < 3) box.setWidth(3);
  if (box.height() < 3) box.setHeight(3);
  p.setPen(QPen(QColor(255, 220, 0), 2));
  p.drawRect(box.intersected(QRectF(rect()).adjusted(1, 1, -1, -1)));
}

void Minimap::mousePressEvent(QMouseEvent* e) {
  if (image_.isNull()) return;
  const QPointF um = to_um(e->position());
  model_->center_on(um.x(), um.y());
}

void Minimap::mouseMoveEvent(QMouseEvent* e) {
  if (e->buttons() & Qt::LeftButton) mousePressEvent(e);
}

LayersPanel::LayersPanel(ViewerModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  auto* outer = new QVBoxLayout(this);
  outlines_ = new QCheckBox("Tile outlines (T)", this);
  outer->addWidget(outlines_);
  connect(outlines_, &QCheckBox::toggled, this, [this](bool on) { model_->set_tile_outlines(on); });
  registered_ = new QCheckBox("Registered positions (P; else the stage's)", this);
  registered_->setToolTip("Draw fields where `vslide register` placed them, when the slide has a registration");
  outer->addWidget(registered_);
  connect(registered_, &QCheckBox::toggled, this,
          [this](bool on) { model_->set_positions(on ? Positions::kRegistered : Positions::kStage); });
  outer->addWidget(new QLabel("Detection layers (one drawn at a time):", this));
  host_ = new QWidget(this);
  layers_ = new QVBoxLayout(host_);
  layers_->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(host_);
  outer->addStretch(1);
  connect(model_, &ViewerModel::slideOpened, this, [this] { rebuild(); });
  connect(model_, &ViewerModel::stateChanged, this, [this] { sync(); });
}

void LayersPanel::rebuild() {
  for (QObject* c : host_->children()) {
    if (c->isWidgetType()) c->deleteLater();
  }
  const ViewState& s = model_->state();
  if (s.layers.empty()) layers_->addWidget(new QLabel("  none (run `vslide detect`)", host_));
  for (const auto& l : s.layers) {
    auto* row = new QWidget(host_);
    auto* h = new QHBoxLayout(row);
    h->setContentsMargins(0, 0, 0, 0);
    auto* box = new QCheckBox(QString::fromStdString(l.layer), row);
    box->setObjectName(QString::fromStdString("layer:" + l.layer));
    auto* color = new QPushButton(row);
    color->setObjectName(QString::fromStdString("layer-color:" + l.layer));
    color->setToolTip("layer colour");
    h->addWidget(box, 1);
    h->addWidget(color);
    layers_->addWidget(row);
    const std::string name = l.layer;
    connect(box, &QCheckBox::toggled, this, [this, name](bool on) { model_->set_layer(name, on); });
    connect(color, &QPushButton::clicked, this, [this, name, color] {
      const QColor q = QColorDialog::getColor(color->palette().button().color(), this, "Layer colour");
      if (!q.isValid()) return;
      bool on = false;
      for (const auto& x : model_->state().layers) on = on || (x.layer == name && x.visible);
      model_->set_layer(name, on, Rgb{float(q.redF()), float(q.greenF()), float(q.blueF())});
    });
  }
  sync();
}

void LayersPanel::sync() {
  const ViewState& s = model_->state();
  {
    const QSignalBlocker b(outlines_), b2(registered_);
    outlines_->setChecked(s.tile_outlines);
    registered_->setChecked(s.positions == Positions::kRegistered);
    const SlideView* v = model_->view();
    registered_->setEnabled(v && v->registration());
  }
  for (const auto& l : s.layers) {
    if (auto* box = host_->findChild<QCheckBox*>(QString::fromStdString("layer:" + l.layer))) {
      const QSignalBlocker b(box);
      box->setChecked(l.visible);
    }
    if (auto* c = host_->findChild<QPushButton*>(QString::fromStdString("layer-color:" + l.layer))) {
      c->setStyleSheet(QString("background-color: %1; min-width: 18px;")
                           .arg(QColor::fromRgbF(l.color.r, l.color.g, l.color.b).name()));
    }
  }
}

PlanePanel::PlanePanel(ViewerModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  auto* h = new QHBoxLayout(this);
  z_label_ = new QLabel(this);
  z_ = new QSlider(Qt::Horizontal, this);
  t_label_ = new QLabel(this);
  t_ = new QSlider(Qt::Horizontal, this);
  h->addWidget(z_label_);
  h->addWidget(z_, 1);
  h->addWidget(t_label_);
  h->addWidget(t_, 1);
  auto changed = [this] { model_->set_plane(z_->value(), t_->value()); };
  connect(z_, &QSlider::valueChanged, this, changed);
  connect(t_, &QSlider::valueChanged, this, changed);
  connect(model_, &ViewerModel::slideOpened, this, [this] { rebuild(); });
  connect(model_, &ViewerModel::stateChanged, this, [this] {
    const QSignalBlocker a(z_), b(t_);
    z_->setValue(model_->state().z);
    t_->setValue(model_->state().t);
    z_label_->setText(QString("z %1/%2").arg(model_->state().z + 1).arg(z_->maximum() + 1));
    t_label_->setText(QString("t %1/%2").arg(model_->state().t + 1).arg(t_->maximum() + 1));
  });
  rebuild();
}

void PlanePanel::rebuild() {
  const SlideSource* s = model_->slide();
  const int zn = s ? s->geometry().z_planes : 1, tn = s ? s->geometry().timepoints : 1;
  const QSignalBlocker a(z_), b(t_);
  z_->setRange(0, zn - 1);
  t_->setRange(0, tn - 1);
  for (QWidget* w : {static_cast<QWidget*>(z_), static_cast<QWidget*>(z_label_)}) w->setVisible(zn > 1);
  for (QWidget* w : {static_cast<QWidget*>(t_), static_cast<QWidget*>(t_label_)}) w->setVisible(tn > 1);
  setVisible(zn > 1 || tn > 1);
}

}  // namespace vslide::app
