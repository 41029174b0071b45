// The synthetic scanner's command-line options, shared by `vslide simulate`
// and `vslide scan --simulate` so both describe a specimen the same way.
#pragma once

#include <string>

#include "args.h"
#include "vslide/simulate/scanner.h"

namespace vslide::cli {

struct ScanArgs {
  ScanConfig config;
  std::string tile = "2560x2160";
  int64_t seed = int64_t(ScanConfig{}.seed);
};

// Adds --rows --cols --channels --tile --z --timepoints --overlap
// --stage-jitter-um --shear-deg --sparse --seed.
inline void add_scan_options(ArgParser& p, ScanArgs* a) {
  ScanConfig& c = a->config;
  // The simulator keeps its fields and ground truth in memory: 1000 x 1000 fields at most.
  p.option("--rows", "N", "mosaic rows (default 6)", &c.rows, 1, 1000);
  p.option("--cols", "N", "mosaic columns (default 8)", &c.cols, 1, 1000);
  p.option("--channels", "N", "colour channels (default 3)", &c.channels, 1, MosaicGeometry::kMaxChannels);
  p.option("--tile", "WxH", "tile size in pixels (default 2560x2160)", &a->tile);
  p.option("--z", "N", "z planes (default 1)", &c.z_planes, 1, MosaicGeometry::kMaxZPlanes);
  p.option("--timepoints", "N", "time points (default 1)", &c.timepoints, 1, MosaicGeometry::kMaxTimepoints);
  p.option("--overlap", "F", "overlap fraction between neighbours (default 0.1)", &c.overlap, 0.0, 0.9);
  p.option("--stage-jitter-um", "UM", "stage position error sd (default 1.5)", &c.stage_jitter_um, 0.0, 1e4);
  p.option("--shear-deg", "DEG", "camera rotation against the stage (default 0.3)", &c.shear_deg, -45.0, 45.0);
  p.option("--sparse", "F", "fraction of fields skipped (default 0)", &c.sparse, 0.0, 1.0);
  p.option("--seed", "N", "random seed (default 7)", &a->seed);
}

// After parsing: applies --tile and --seed and validates the whole config.
// Returns -1 to go on, or the usage error's exit code (already printed).
inline int finish_scan_options(const ArgParser& p, ScanArgs* a) {
  if (!parse_size(a->tile, &a->config.tile_width, &a->config.tile_height)) {
    return p.usage_error("bad --tile '" + a->tile + "' (WxH)");
  }
  a->config.seed = uint64_t(a->seed);
  if (Status s = validate(a->config); !s.ok()) return p.usage_error(s.message());
  MosaicGeometry g;  // the limits every slide meets (docs/FORMAT.md), checked before anything is allocated
  g.rows = a->config.rows;
  g.cols = a->config.cols;
  g.channels = a->config.channels;
  g.z_planes = a->config.z_planes;
  g.timepoints = a->config.timepoints;
  g.tile_height = a->config.tile_height;
  g.tile_width = a->config.tile_width;
  if (!g.valid()) return p.usage_error(g.invalid_reason());
  return -1;
}

}  // namespace vslide::cli
