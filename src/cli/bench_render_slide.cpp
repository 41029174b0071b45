// The bench slide of `vslide bench render` (see bench_render.h): written once
// from the synthetic scanner, with its pyramid, and marked as the bench's own.
#include <filesystem>
#include <set>
#include <vector>

#include "bench_render.h"
#include "bench_scratch.h"
#include "bench_util.h"
#include "progress.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {

// From cmd_pyramid.cpp (the same executable).
struct PyramidResult {
  size_t planes = 0, written = 0, skipped = 0, overviews = 0;
};
Status write_pyramid(Hdf5Slide& slide, const std::set<int32_t>& levels, int overview, int threads, bool force,
                     ProgressBar* bar, PyramidResult* out);

ScanConfig render_scene_config(int rows, int cols) {
  ScanConfig c;
  c.rows = rows;
  c.cols = cols;
  c.channels = 4;
  c.tile_width = 1392;
  c.tile_height = 1040;
  c.overlap = 0.1;
  c.stage_jitter_um = 1.0;
  c.shear_deg = 0.1;
  c.seed = 2013;
  return c;
}

// Writes the bench slide (raw planes from the synthetic scanner) unless a
// complete one with the same geometry is already there, then its pyramid.
// The bench slide is the bench's own, marked in its header: a file at `path`
// that the bench did not make is refused, never overwritten or extended.
Status prepare_render_slide(const std::string& path, bool fresh, bool quiet, int threads, const ScanConfig& config,
                            const std::string& bench) {
  const SyntheticScanner scanner(config);
  bool have = false;
  std::error_code ec;
  if (std::filesystem::exists(path, ec) || ec) {
    auto s = Hdf5Slide::open(path);
    if (!s.ok() || !is_bench_slide((*s)->header(), bench)) {
      return Status::already_exists(
          path + ": exists and is not a slide `vslide bench " + bench + "` made (no header attribute " +
          std::string(kBenchSlideAttribute) + " = " + bench + "); the bench never writes to a slide of yours: "
          "give --slide a new path");
    }
    have = !fresh && (*s)->state() == SlideState::kComplete && (*s)->geometry() == scanner.geometry() &&
           (*s)->index()->fields_complete() == scanner.fields().size();
  }
  if (!have) {
    CreateOptions opt;
    opt.overwrite = true;  // absent, or a bench slide of ours (checked above)
    SlideHeader header = scanner.header();
    mark_bench_slide(&header, bench);
    VSLIDE_ASSIGN_OR_RETURN(auto slide,
                            Hdf5Slide::create(path, header, scanner.geometry(), scanner.channels(), opt));
    const auto& fields = scanner.fields();
    for (const auto& f : fields) VSLIDE_RETURN_IF_ERROR(slide->write_field(f));
    VSLIDE_RETURN_IF_ERROR(write_scanner_planes(scanner, *slide, threads, quiet));
    VSLIDE_RETURN_IF_ERROR(slide->finish());
  }
  VSLIDE_ASSIGN_OR_RETURN(auto slide, Hdf5Slide::open(path, OpenMode::kAppend));
  ProgressBar bar("bench pyramid", scanner.fields().size() * size_t(config.channels), !quiet);
  PyramidResult r;
  return write_pyramid(*slide, {1, 2, 3, 4, 5}, 64, std::max(1, threads), false, &bar, &r);
}

}  // namespace vslide::cli
