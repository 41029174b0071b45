// MainWindow: the slide viewer window (`vslide view`). A canvas in the
// middle; channels, overview and layers in docks; z/t sliders under the
// canvas; what is loading and the cursor readout in the status bar. Every
// keyboard shortcut is a menu action (Help > Keyboard shortcuts lists them
// from the menus, so the two cannot disagree).
//
// Thread-safety: a widget of the UI thread.
#pragma once

#include <QMainWindow>
#include <QString>
#include <string>

#include "vslide/app/viewer_model.h"

class QLabel;
class QAction;

namespace vslide::app {

class ViewerCanvas;
class ChannelPanel;
class Minimap;
class LayersPanel;
class PlanePanel;

struct WindowOptions {
  QString catalog_url;   // the catalog browser's default
  std::string state_out;  // write the ViewState JSON here on quit
  bool save_display = true;  // save the slide's display settings on close/quit
  // Written once the first complete frame of a slide is shown: the view
  // state with the fitted view spelled out (scripts and the process test
  // wait for it before sending input).
  std::string ready_file;
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(WindowOptions options, QWidget* parent = nullptr);
  ~MainWindow() override;

  ViewerModel* model() const { return model_; }
  ViewerCanvas* canvas() const { return canvas_; }
  ChannelPanel* channels() const { return channels_; }
  Minimap* minimap() const { return minimap_; }
  LayersPanel* layers() const { return layers_; }
  PlanePanel* planes() const { return planes_; }
  QLabel* status_label() const { return status_; }
  QLabel* readout_label() const { return readout_; }
  // The state with a fitted view spelled out (centre and zoom).
  view::ViewState materialized_state() const;
  // The help text (every action with its shortcut).
  QString shortcut_help() const;

  // Actions without dialogs (tests, scripts).
  Status save_screenshot(const QString& path);
  // Renders the current view at w x h through the headless path (EGL
  // GlRenderer, or the CPU reference without GL) on a worker thread;
  // `done` runs on the UI thread with the result.
  void export_view(const QString& path, int w, int h, std::function<void(Status)> done);

 protected:
  void closeEvent(QCloseEvent* e) override;

 private:
  void build_menus();
  void open_dialog();
  void catalog_dialog();
  void screenshot_dialog();
  void export_dialog();
  void load_state_dialog();
  void on_open_failed(const QString& what, const QString& why, bool retryable);
  void update_readout();
  void finish();

  WindowOptions options_;
  ViewerModel* model_ = nullptr;
  ViewerCanvas* canvas_ = nullptr;
  ChannelPanel* channels_ = nullptr;
  Minimap* minimap_ = nullptr;
  LayersPanel* layers_ = nullptr;
  PlanePanel* planes_ = nullptr;
  QLabel* status_ = nullptr;
  QLabel* readout_ = nullptr;
  QLabel* message_ = nullptr;
  bool finished_ = false;
};

}  // namespace vslide::app
