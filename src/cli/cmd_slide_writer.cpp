// `vslide slide-writer`: the per-scan writer process the slide manager
// starts (not meant to be run by hand). See vslide/acquire/writer_process.h.
#include "args.h"
#include "command.h"
#include "vslide/acquire/writer_process.h"

namespace vslide::cli {
namespace {

int run_slide_writer(int argc, char** argv) {
  std::string scan_dir, mode_name = "new";
  int ready_fd = -1;
  ArgParser p("vslide slide-writer --scan-dir DIR [--mode new|resume|recover] [--ready-fd N]",
              "Internal: the slide proxy + slide writer process of one scan, started by `vslide manager`.");
  p.option("--scan-dir", "DIR", "the scan folder (DATA/.scans/SLIDE_ID) holding scan.json", &scan_dir);
  p.option("--mode", "MODE", "new, resume (after a writer crash) or recover (finish at once)", &mode_name);
  p.option("--ready-fd", "N", "file descriptor to write \"ready ENDPOINT\" to", &ready_fd);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (scan_dir.empty()) return p.usage_error("--scan-dir is required");
  auto mode = acquire::parse_writer_mode(mode_name);
  if (!mode.ok()) return p.usage_error(mode.status().message());
  return acquire::run_writer_process(scan_dir, *mode, ready_fd);
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("slide-writer", "internal: one scan's slide proxy + writer process (started by the manager)",
               vslide::cli::run_slide_writer);
