// vslide view: the slide viewer window (part app).
#include <cstdlib>
#include <iostream>

#include "args.h"
#include "command.h"
#include "vslide/app/app.h"

namespace vslide::cli {
namespace {

int run_view(int argc, char** argv) {
  app::ViewerArgs a;
  std::string size = "1280x800", catalog, state_out, ready_file;
  bool no_save = false;
  ArgParser p("vslide view [SLIDE | tcp://HOST:PORT/ID | ipc://SOCKET/ID] [--display FILE] [--catalog URL]",
              "Opens the slide viewer window: drag to pan, wheel to zoom, ? for every key. Without a slide it "
              "opens an empty window with File > Open and the catalog browser (Ctrl+Shift+O). Display settings "
              "are saved per slide (docs/VIEWER.md says where) and restored when the slide is opened again.");
  p.positional("SLIDE", "slide file or tcp:// / ipc:// URL (optional)", &a.slide, /*required=*/false);
  p.option("--display", "FILE", "start from this view state (JSON, as `vslide render --display` reads)",
           &a.display_file);
  p.option("--catalog", "URL", "the catalog browser's catalog (default $VSLIDE_CATALOG)", &catalog);
  p.option("--size", "WxH", "window size (default 1280x800)", &size);
  p.option("--state-out", "FILE", "write the view state (JSON) here on quit", &state_out);
  p.option("--ready-file", "FILE", "write the view state here once the first complete frame is shown (scripts)",
           &ready_file);
  p.flag("--no-save-display", "do not save the slide's display settings on quit", &no_save);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (!parse_size(size, &a.width, &a.height)) return p.usage_error("--size must be WIDTHxHEIGHT, e.g. 1280x800");
  if (catalog.empty()) {
    if (const char* env = std::getenv("VSLIDE_CATALOG")) catalog = env;
  }
  if (!std::getenv("DISPLAY") && !std::getenv("WAYLAND_DISPLAY")) {
    std::cerr << "vslide view: no display (DISPLAY is not set). On a headless machine run it under Xvfb "
                 "(xvfb-run vslide view ...), or render headless: vslide render SLIDE --out view.png\n";
    return 1;
  }
  a.window.catalog_url = QString::fromStdString(catalog);
  a.window.state_out = state_out;
  a.window.ready_file = ready_file;
  a.window.save_display = !no_save;
  return app::run_viewer(argc, argv, a);
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("view", "open the slide viewer window (Qt; drag, zoom, channels, live slides)", vslide::cli::run_view);
