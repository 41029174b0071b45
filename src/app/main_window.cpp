#include "vslide/app/main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QCoreApplication>
#include <QDockWidget>
#include <QFileDialog>
#include <QInputDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPointer>
#include <QStatusBar>
#include <QThreadPool>
#include <QVBoxLayout>
#include <fstream>

#include "vslide/app/catalog_dialog.h"
#include "vslide/app/channel_panel.h"
#include "vslide/app/side_panels.h"
#include "vslide/app/viewer_canvas.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide/view/gl_renderer.h"

namespace vslide::app {

using namespace vslide::view;

MainWindow::MainWindow(WindowOptions options, QWidget* parent)
    : QMainWindow(parent), options_(std::move(options)) {
  setWindowTitle("vslide");
  resize(1280, 800);
  model_ = new ViewerModel(this);
  auto* central = new QWidget(this);
  auto* v = new QVBoxLayout(central);
  v->setContentsMargins(0, 0, 0, 0);
  v->setSpacing(0);
  canvas_ = new ViewerCanvas(model_, central);
  planes_ = new PlanePanel(model_, central);
  v->addWidget(canvas_, 1);
  v->addWidget(planes_);
  setCentralWidget(central);

  auto dock = [this](const QString& title, QWidget* w, const char* name) {
    auto* d = new QDockWidget(title, this);
    d->setObjectName(name);
    d->setWidget(w);
    addDockWidget(Qt::RightDockWidgetArea, d);
    return d;
  };
  minimap_ = new Minimap(model_);
  dock("Overview", minimap_, "overview");
  channels_ = new ChannelPanel(model_);
  dock("Channels", channels_, "channels");
  layers_ = new LayersPanel(model_);
  dock("Layers", layers_, "layers");

  status_ = new QLabel(this);
  message_ = new QLabel(this);
  readout_ = new QLabel(this);
  readout_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  statusBar()->addWidget(status_, 1);
  statusBar()->addWidget(message_, 1);
  statusBar()->addPermanentWidget(readout_);
  status_->setText("File > Open (Ctrl+O) or the catalog (Ctrl+Shift+O) to open a slide; ? for the keys");

  connect(canvas_, &ViewerCanvas::loadingChanged, status_, &QLabel::setText);
  if (!options_.ready_file.empty()) {
    connect(canvas_, &ViewerCanvas::framePainted, this, [this](quint64, bool complete) {
      if (!complete || !model_->has_slide() || options_.ready_file.empty()) return;
      if (Status s = save_view_state(options_.ready_file, materialized_state()); !s.ok())
        qWarning("vslide view: %s", s.to_string().c_str());
      options_.ready_file.clear();
    });
  }
  connect(model_, &ViewerModel::readoutChanged, this, &MainWindow::update_readout);
  connect(model_, &ViewerModel::message, this, [this](const QString& text, int ms) {
    message_->setText(text);
    if (ms > 0) {
      QPointer<QLabel> label(message_);
      QTimer::singleShot(ms, this, [label, text] {
        if (label && label->text() == text) label->clear();
      });
    }
  });
  connect(model_, &ViewerModel::openFailed, this, &MainWindow::on_open_failed);
  connect(model_, &ViewerModel::slideOpened, this, [this] {
    const SlideSource* s = model_->slide();
    const std::string name = s->header().name.empty() ? s->header().slide_id : s->header().name;
    setWindowTitle(QString::fromStdString(name + " - " + s->describe() + " - vslide"));
    message_->setText(model_->live() ? "live slide: scanning; new fields appear as they land" : QString());
    canvas_->setFocus();
  });
  build_menus();
}

MainWindow::~MainWindow() { finish(); }

void MainWindow::update_readout() {
  const Readout& r = model_->readout();
  if (!r.valid) {
    readout_->clear();
    return;
  }
  QString t = QString::fromUtf8("x %1 \u00b5m, y %2 \u00b5m").arg(r.x_um, 0, 'f', 1).arg(r.y_um, 0, 'f', 1);
  if (r.row >= 0) {
    t += QString("  field (%1,%2) px (%3,%4)").arg(r.row).arg(r.col).arg(r.px).arg(r.py);
    const SlideSource* s = model_->slide();
    if (r.values.empty()) {
      t += "  reading...";
    }
    for (size_t c = 0; c < r.values.size(); ++c) {
      const std::string name = s && c < s->channels().size() ? s->channels()[c].name : std::to_string(c);
      t += QString("  %1 %2").arg(QString::fromStdString(name)).arg(r.values[c] < 0 ? QString("-") : QString::number(r.values[c]));
    }
    if (!r.error.isEmpty()) t += "  (" + r.error + ")";
  } else {
    t += "  no field";
  }
  readout_->setText(t);
}

void MainWindow::on_open_failed(const QString& what, const QString& why, bool retryable) {
  status_->setText("could not open " + what);
  // Window-modal, not exec(): the window keeps painting and tests keep running.
  auto* box = new QMessageBox(QMessageBox::Warning, retryable ? "Cannot reach the slide" : "Not a slide",
                              "Could not open " + what + ":\n\n" + why,
                              retryable ? QMessageBox::Retry | QMessageBox::Cancel : QMessageBox::Ok, this);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->setObjectName("open-failed");
  connect(box, &QMessageBox::finished, this, [this, what, retryable](int result) {
    if (retryable && result == QMessageBox::Retry) model_->open(what);
  });
  box->open();
}

void MainWindow::open_dialog() {
  const QString path = QFileDialog::getOpenFileName(this, "Open slide", QString(), "Slides (*.h5 *.hdf5);;All files (*)");
  if (!path.isEmpty()) model_->open(path);
}

void MainWindow::catalog_dialog() {
  CatalogDialog d(options_.catalog_url, this);
  if (d.exec() == QDialog::Accepted) {
    options_.catalog_url = d.url();
    model_->open(d.chosen());
  }
}

Status MainWindow::save_screenshot(const QString& path) {
  const QImage img = canvas_->screenshot();
  if (!img.save(path, "PNG")) return Status::io_error(path.toStdString() + ": cannot write the screenshot");
  return Status();
}

void MainWindow::screenshot_dialog() {
  const QString path = QFileDialog::getSaveFileName(this, "Save screenshot", "view.png", "PNG (*.png)");
  if (path.isEmpty()) return;
  Status s = save_screenshot(path);
  message_->setText(s.ok() ? "saved " + path : QString::fromStdString(s.to_string()));
}

void MainWindow::export_view(const QString& path, int w, int h, std::function<void(Status)> done) {
  if (!model_->has_slide()) {
    done(Status::failed_precondition("no slide open"));
    return;
  }
  std::shared_ptr<SlideSource> slide = model_->shared_slide();
  const ViewState state = model_->state();
  const Viewport vp = Viewport::fit(model_->viewport().rect_um(), w, h, slide->geometry().pixel_size_um);
  const std::string out = path.toStdString();
  QPointer<MainWindow> self(this);
  QThreadPool::globalInstance()->start([self, slide, state, vp, out, done] {
    auto run = [&]() -> Status {
      ViewOptions o;
      o.tile_cache_bytes = size_t(512) << 20;
      SlideView view(*slide, o);
      VSLIDE_RETURN_IF_ERROR(apply_view_state(state, view));
      VSLIDE_ASSIGN_OR_RETURN(FramePlan plan, view.plan_complete(vp));
      style_plan(state, &plan);
      Result<RgbImage> img = Status::unavailable("");
      auto ctx = GlContext::create();
      if (ctx.ok()) {
        auto r = GlRenderer::create(ctx->get());
        if (r.ok()) img = (*r)->render(plan);
      }
      if (!img.ok()) img = render_cpu(plan);  // no headless GL here: the CPU reference
      if (!img.ok()) return img.status();
      return write_png(out, *img);
    };
    auto s = std::make_shared<Status>(run());
    QMetaObject::invokeMethod(
        QCoreApplication::instance(), [self, s, done] { if (self) done(*s); }, Qt::QueuedConnection);
  });
}

void MainWindow::export_dialog() {
  if (!model_->has_slide()) return;
  const QSize c = model_->canvas_size();
  bool ok = false;
  const QString size = QInputDialog::getText(this, "Export view", "Size (WIDTHxHEIGHT) of the exported view:",
                                             QLineEdit::Normal, QString("%1x%2").arg(c.width() * 2).arg(c.height() * 2), &ok);
  if (!ok) return;
  const QStringList wh = size.toLower().split('x');
  const int w = wh.size() == 2 ? wh[0].toInt() : 0, h = wh.size() == 2 ? wh[1].toInt() : 0;
  if (w < 1 || h < 1 || w > 32768 || h > 32768) {
    QMessageBox::warning(this, "Export view", "The size must be WIDTHxHEIGHT, e.g. 3840x2160.");
    return;
  }
  const QString path = QFileDialog::getSaveFileName(this, "Export view", "export.png", "PNG (*.png)");
  if (path.isEmpty()) return;
  message_->setText(QString("exporting %1x%2 ...").arg(w).arg(h));
  export_view(path, w, h, [this, path](Status s) {
    message_->setText(s.ok() ? "exported " + path : QString::fromStdString(s.to_string()));
  });
}

void MainWindow::load_state_dialog() {
  const QString path = QFileDialog::getOpenFileName(this, "Load view state", QString(), "View state (*.json)");
  if (path.isEmpty()) return;
  auto s = load_view_state(path.toStdString());
  if (!s.ok()) {
    QMessageBox::warning(this, "Load view state", QString::fromStdString(s.status().to_string()));
    return;
  }
  model_->set_state(std::move(*s));
}

void MainWindow::finish() {
  if (finished_) return;
  finished_ = true;
  if (options_.save_display && model_->has_slide()) {
    if (Status s = model_->save_display(); !s.ok()) qWarning("vslide view: %s", s.to_string().c_str());
  }
  if (!options_.state_out.empty()) {
    if (Status st = save_view_state(options_.state_out, materialized_state()); !st.ok())
      qWarning("vslide view: %s", st.to_string().c_str());
  }
}

ViewState MainWindow::materialized_state() const {
  ViewState s = model_->state();
  if (model_->has_slide() && !(s.zoom > 0)) {
    const Viewport v = model_->viewport();
    s.center_x_um = v.center_x_um;
    s.center_y_um = v.center_y_um;
    s.zoom = v.zoom;
  }
  return s;
}

void MainWindow::closeEvent(QCloseEvent* e) {
  finish();
  e->accept();
}

}  // namespace vslide::app
