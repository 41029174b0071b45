// vslide flatfield: estimates each channel's shading (flat-field gain and
// dark level) from the slide's own fields and stores it in the slide. The
// raw planes are untouched; render, detect and export apply the correction.
#include <iostream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "progress.h"
#include "vslide/register/shading.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {
namespace {

int run_flatfield(int argc, char** argv) {
  std::string path;
  int channel = -1, z = 0, t = 0, max_fields = 200, threads = 0, grid = 64, degree = 4;
  double dark = -1;
  bool json = false, dry_run = false;
  ArgParser p("vslide flatfield SLIDE [--channel C] [--dark COUNTS] [--json]",
              "Estimates the shading of each channel (or of --channel C) from the slide's own fields\n"
              "and stores it: gain(x, y), a smooth surface of mean 1 over the tile, and the dark level,\n"
              "so that corrected = dark + (raw - dark) / gain. Method: the pixels of up to --max-fields\n"
              "fields are pooled per cell of the tile; the spread between the background (the mode)\n"
              "and bright content (the 99% quantile) is proportional to the gain above the dark level,\n"
              "so the spread against the background gives the dark level; the gain is then the\n"
              "background above it. With --dark (the camera offset, exact) only the last step runs.\n"
              "The raw planes are never changed: `vslide render --flatfield off` shows them as they are.\n"
              "Exit 1 when a channel cannot be estimated (the others are still stored), 2 on bad arguments.");
  p.positional("SLIDE", "slide file (HDF5; opened for appending)", &path);
  p.option("--channel", "C", "channel to estimate (default: every channel)", &channel, 0, 1 << 20);
  p.option("--z", "Z", "z plane to read (default 0)", &z, 0, 1 << 20);
  p.option("--t", "T", "time point to read (default 0)", &t, 0, 1 << 20);
  p.option("--dark", "COUNTS", "known dark level (camera offset); default: estimated", &dark, 0, 65535);
  p.option("--max-fields", "N", "fields read per channel, spread over the slide (default 200)", &max_fields, 2,
           1 << 24);
  p.option("--grid", "W", "stored gain grid width in cells (default 64)", &grid, 2, 1024);
  p.option("--degree", "D", "degree of the fitted gain surface (default 4)", &degree, 0, 8);
  p.option("--threads", "N", "reader threads (default: one per core)", &threads, 0, 1024);
  p.flag("--dry-run", "estimate and report, store nothing", &dry_run);
  p.flag("--json", "print one JSON object instead of text", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;

  auto slide = Hdf5Slide::open(path, dry_run ? OpenMode::kRead : OpenMode::kAppend);
  if (!slide.ok()) {
    std::cerr << "vslide flatfield: " << slide.status().to_string() << "\n";
    return 1;
  }
  const MosaicGeometry& g = (*slide)->geometry();
  if (channel >= g.channels)
    return p.usage_error("--channel " + std::to_string(channel) + ": the slide has " + std::to_string(g.channels) +
                         " channels");
  std::vector<int32_t> channels;
  for (int32_t c = 0; c < g.channels; ++c)
    if (channel < 0 || c == channel) channels.push_back(c);

  nlohmann::json out = {{"path", path}, {"channels", nlohmann::json::array()}};
  int rc = 0;
  for (int32_t c : channels) {
    ShadingOptions opt;
    opt.channel = c;
    opt.z = z;
    opt.t = t;
    opt.max_fields = size_t(max_fields);
    opt.grid_width = grid;
    opt.degree = degree;
    opt.threads = threads;
    if (dark >= 0) opt.dark = float(dark);
    ProgressBar bar("flatfield channel " + std::to_string(c), 0, !json);
    opt.progress = [&bar](size_t done, size_t) { bar.update(done); };
    auto est = estimate_flatfield(**slide, opt);
    bar.finish();
    if (!est.ok()) {
      if (est.status().code() == StatusCode::kInvalidArgument)
        return p.usage_error(est.status().message());
      std::cerr << "vslide flatfield: channel " << c << ": " << est.status().to_string() << "\n";
      out["channels"].push_back({{"channel", c}, {"error", est.status().to_string()}});
      rc = 1;
      continue;
    }
    for (const std::string& w : est->warnings) std::cerr << "vslide flatfield: channel " << c << ": " << w << "\n";
    if (!dry_run) {
      if (Status s = (*slide)->write_flatfield(est->flat); !s.ok()) {
        std::cerr << "vslide flatfield: channel " << c << ": " << s.to_string() << "\n";
        return 1;
      }
    }
    out["channels"].push_back({{"channel", c},
                               {"method", est->method},
                               {"dark", est->flat.dark},
                               {"dark_estimated", est->dark_estimated},
                               {"dark_uncertainty", est->dark_uncertainty},
                               {"fields_used", est->fields_used},
                               {"gain_min", est->gain_min},
                               {"gain_max", est->gain_max},
                               {"fit_rms", est->fit_rms},
                               {"grid", {est->flat.gain_width, est->flat.gain_height}},
                               {"warnings", est->warnings}});
    if (!json)
      std::cout << path << ": channel " << c << ": gain " << est->gain_min << ".." << est->gain_max
                << ", dark " << est->flat.dark << (est->dark_estimated ? " (estimated)" : " (given)") << ", "
                << est->fields_used << " fields, method " << est->method << ", fit rms "
                << est->fit_rms * 100 << "%" << (dry_run ? " (not stored)" : "") << "\n";
  }
  if (!dry_run) {
    if (Status s = (*slide)->flush(); !s.ok()) {
      std::cerr << "vslide flatfield: " << s.to_string() << "\n";
      return 1;
    }
  }
  out["stored"] = !dry_run;
  if (json) std::cout << out.dump(2) << "\n";
  return rc;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("flatfield", "estimate and store each channel's shading (flat-field) correction",
               vslide::cli::run_flatfield);
