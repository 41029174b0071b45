// The `vslide view` entry point and helpers shared by the window's tests
// and `vslide bench view`.
#pragma once

#include <memory>
#include <string>

#include "vslide/app/main_window.h"
#include "vslide/core/status.h"

namespace vslide::app {

struct ViewerArgs {
  std::string slide;         // path or URL; empty: an empty window
  std::string display_file;  // a view state to start from (vslide render --display)
  WindowOptions window;
  int width = 1280, height = 800;
};

// Creates the QApplication and the window, opens the slide, runs the event
// loop; returns the exit code (0 on File > Quit / Ctrl+Q).
int run_viewer(int argc, char** argv, const ViewerArgs& args);

// A private X server (Xvfb) on a free display number, for tests and the
// benchmark where no display is set. Killed on destruction.
class XvfbServer {
 public:
  // Unavailable when Xvfb is not installed or does not start.
  static Result<std::unique_ptr<XvfbServer>> start(int width = 1600, int height = 1000);
  ~XvfbServer();
  const std::string& display() const { return display_; }  // ":N"

 private:
  XvfbServer() = default;
  int pid_ = -1;
  std::string display_;
};

}  // namespace vslide::app
