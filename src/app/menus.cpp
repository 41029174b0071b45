// The window's menus: every keyboard shortcut is an action here, so the
// menus, the keys and the `?` help always agree.
#include <QAction>
#include <QApplication>
#include <QMenuBar>
#include <QMessageBox>

#include "vslide/app/channel_panel.h"
#include "vslide/app/main_window.h"
#include "vslide/app/viewer_canvas.h"

namespace vslide::app {

void MainWindow::build_menus() {
  // Plain keys (arrows, letters, digits) act on the canvas only, so typing
  // in a number box does not pan the slide; Ctrl keys work everywhere.
  auto add = [this](QMenu* menu, const QString& text, QList<QKeySequence> keys, auto fn, bool canvas_only = false) {
    auto* a = new QAction(text, this);
    a->setShortcuts(keys);
    if (canvas_only) {
      a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
      canvas_->addAction(a);
    } else {
      addAction(a);
    }
    connect(a, &QAction::triggered, this, fn);
    menu->addAction(a);
    return a;
  };
  auto centre = [this] { return QPointF(model_->canvas_size().width() / 2.0, model_->canvas_size().height() / 2.0); };

  QMenu* file = menuBar()->addMenu("&File");
  add(file, "&Open slide...", {QKeySequence::Open}, [this] { open_dialog(); });
  add(file, "Open from &catalog...", {QKeySequence("Ctrl+Shift+O")}, [this] { catalog_dialog(); });
  add(file, "&Load view state...", {QKeySequence("Ctrl+L")}, [this] { load_state_dialog(); });
  file->addSeparator();
  add(file, "&Save screenshot (PNG)...", {QKeySequence("Ctrl+S")}, [this] { screenshot_dialog(); });
  add(file, "&Export view at a chosen size...", {QKeySequence("Ctrl+E")}, [this] { export_dialog(); });
  add(file, "Save &display settings", {QKeySequence("Ctrl+Shift+S")}, [this] {
    Status s = model_->save_display();
    emit model_->message(s.ok() ? "display settings saved to " + QString::fromStdString(view::display_settings_path(model_->state().slide_id))
                                : QString::fromStdString(s.to_string()), 5000);
  });
  file->addSeparator();
  add(file, "&Quit", {QKeySequence("Ctrl+Q")}, [this] { close(); });

  QMenu* view = menuBar()->addMenu("&View");
  add(view, "Zoom &in", {QKeySequence(Qt::Key_Plus), QKeySequence(Qt::Key_Equal), QKeySequence("Ctrl++")}, [this, centre] { model_->zoom_step(1, centre()); }, true);
  add(view, "Zoom &out", {QKeySequence(Qt::Key_Minus), QKeySequence("Ctrl+-")}, [this, centre] { model_->zoom_step(-1, centre()); }, true);
  add(view, "&Fit the slide", {QKeySequence("Home"), QKeySequence("F")}, [this] { model_->fit(); }, true);
  add(view, "Zoom 1:1 (raw pixels)", {QKeySequence("Ctrl+1")}, [this, centre] {
    model_->zoom_by(1.0 / model_->viewport().zoom, centre());
  });
  const int step = 100;
  add(view, "Pan left", {QKeySequence(Qt::Key_Left)}, [this] { model_->pan_px(step, 0); }, true);
  add(view, "Pan right", {QKeySequence(Qt::Key_Right)}, [this] { model_->pan_px(-step, 0); }, true);
  add(view, "Pan up", {QKeySequence(Qt::Key_Up)}, [this] { model_->pan_px(0, step); }, true);
  add(view, "Pan down", {QKeySequence(Qt::Key_Down)}, [this] { model_->pan_px(0, -step); }, true);
  view->addSeparator();
  add(view, "Next z plane", {QKeySequence(Qt::Key_PageUp)}, [this] { model_->set_plane(model_->state().z + 1, model_->state().t); }, true);
  add(view, "Previous z plane", {QKeySequence(Qt::Key_PageDown)}, [this] { model_->set_plane(model_->state().z - 1, model_->state().t); }, true);
  add(view, "Next time point", {QKeySequence("]")}, [this] { model_->set_plane(model_->state().z, model_->state().t + 1); }, true);
  add(view, "Previous time point", {QKeySequence("[")}, [this] { model_->set_plane(model_->state().z, model_->state().t - 1); }, true);
  view->addSeparator();
  add(view, "&Tile outlines", {QKeySequence("T")}, [this] { model_->set_tile_outlines(!model_->state().tile_outlines); }, true);
  add(view, "Registered / stage &positions", {QKeySequence("P")}, [this] {
    model_->set_positions(model_->state().positions == vslide::view::Positions::kStage ? vslide::view::Positions::kRegistered
                                                                              : vslide::view::Positions::kStage);
  }, true);
  auto* bar = add(view, "Scale &bar", {QKeySequence("B")}, [this](bool on) { canvas_->set_scale_bar_visible(on); }, true);
  bar->setCheckable(true);
  bar->setChecked(true);
  add(view, "&Retry failed tiles", {QKeySequence("R")}, [this] { model_->retry_failed(); }, true);

  QMenu* ch = menuBar()->addMenu("&Channels");
  for (int i = 0; i < 9; ++i) {
    add(ch, QString("Show/hide channel %1").arg(i + 1), {QKeySequence(Qt::Key(Qt::Key_1 + i))}, [this, i] {
      const int pos = model_->state().display.position_of(i);
      if (pos >= 0) model_->set_channel_visible(i, !model_->state().display.channels[size_t(pos)].enabled);
    }, true);
  }
  ch->addSeparator();
  add(ch, "&Auto-contrast the selected channel", {QKeySequence("A")}, [this] {
    if (Status s = model_->auto_contrast(channels_->selected()); !s.ok()) emit model_->message(QString::fromStdString(s.message()), 4000);
  }, true);
  add(ch, "Auto-contrast &all channels", {QKeySequence("Shift+A")}, [this] {
    if (Status s = model_->auto_contrast(-1); !s.ok()) emit model_->message(QString::fromStdString(s.message()), 4000);
  }, true);
  add(ch, "&Reset all channels", {QKeySequence("Ctrl+R")}, [this] { model_->reset_channel(-1); });

  QMenu* help = menuBar()->addMenu("&Help");
  add(help, "&Keyboard shortcuts", {QKeySequence("?"), QKeySequence("F1")}, [this] {
    QMessageBox box(QMessageBox::NoIcon, "Keyboard shortcuts", shortcut_help(), QMessageBox::Close, this);
    box.setTextFormat(Qt::RichText);
    box.exec();
  });
  add(help, "&About vslide", {}, [this] {
    QMessageBox::about(this, "About vslide",
                       "vslide: a virtual slide viewer for tiled 16-bit multi-channel microscopy.\n"
                       "Drag to pan, wheel to zoom about the cursor, ? for the keys.");
  });
}

QString MainWindow::shortcut_help() const {
  QString html = "<table>";
  html += "<tr><td><b>drag</b></td><td>pan</td></tr><tr><td><b>wheel</b></td><td>zoom about the cursor</td></tr>";
  html += "<tr><td><b>double-click</b></td><td>zoom in (right button: out)</td></tr>";
  html += "<tr><td><b>overview click/drag</b></td><td>move the view there</td></tr>";
  for (QMenu* m : menuBar()->findChildren<QMenu*>()) {
    for (QAction* a : m->actions()) {
      if (a->shortcuts().isEmpty()) continue;
      QStringList keys;
      for (const auto& k : a->shortcuts()) keys << k.toString(QKeySequence::NativeText);
      html += "<tr><td><b>" + keys.join(", ").toHtmlEscaped() + "</b></td><td>" + a->text().remove('&').toHtmlEscaped() +
              "</td></tr>";
    }
  }
  return html + "</table>";
}

}  // namespace vslide::app
