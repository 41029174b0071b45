// vslide detect: runs an image pipeline over every field of a slide and
// stores a detection layer (label tiles + object table) in the file.
#include <algorithm>
#include <iostream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "progress.h"
#include "write_aside.h"
#include "vslide/analysis/detect.h"
#include "vslide/analysis/nuclei.h"
#include "vslide/analysis/pipeline.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {
namespace {

// "12", "12um2" / "0.5um" (micrometres) or "300px": false when malformed.
bool parse_with_unit(std::string text, const std::string& um_suffix, double* value, bool* pixels) {
  *pixels = false;
  auto strip = [&](const std::string& suffix) {
    if (text.size() > suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0) {
      text.resize(text.size() - suffix.size());
      return true;
    }
    return false;
  };
  if (strip("px")) *pixels = true;
  else strip(um_suffix);
  return parse_real(text, value) && *value >= 0;
}

int run_detect(int argc, char** argv) {
  std::string path, pipeline_name = "nuclei", layer, min_area = "12", max_area = "1000", smooth = "0.5",
                    threshold = "auto", flatfield = "on", positions = "registered";
  int channel = 0, z = 0, t = 0, threads = 0;
  double split = NucleiParams().split_level;
  bool json = false, no_merge = false;
  ArgParser p("vslide detect SLIDE --pipeline nuclei [--channel 0] [--z 0] [--t 0] [--name LAYER] [--json]",
              "Runs an image pipeline on every field of view and stores the result in the slide as a\n"
              "detection layer: one label tile per field and one object table (centroids in pixels and\n"
              "slide micrometres, areas, mean intensities, bounding boxes).\n"
              "Each object is counted once: fields are placed with their registered positions (the\n"
              "stage's when the slide is not registered), detections of one object in overlapping\n"
              "fields are merged, and a nucleus cut by a field edge is taken from the field that holds\n"
              "it whole. The table keeps every detection; `kept` and `duplicate_of` say which count,\n"
              "and overlays draw the kept ones. The channel's stored flat-field is applied first.\n"
              "Sizes are in micrometres (scaled by the slide's pixel size) or, with a px suffix, in\n"
              "pixels: --min-area 300px. The summary says how many candidates each filter rejected.\n"
              "Exit 1 when a tile fails (the others are still stored), 2 on bad arguments.");
  p.positional("SLIDE", "slide file (HDF5; opened for appending)", &path);
  p.option("--pipeline", "NAME", "image pipeline (default nuclei)", &pipeline_name);
  p.option("--channel", "C", "channel to analyse (default 0)", &channel);
  p.option("--z", "Z", "z plane (default 0)", &z);
  p.option("--t", "T", "time point (default 0)", &t);
  p.option("--name", "LAYER", "detection layer name (default: the pipeline's name)", &layer);
  p.option("--min-area", "A", "smallest object, um2 or Npx (default 12 um2: debris, slivers)", &min_area);
  p.option("--max-area", "A", "largest object, um2 or Npx (default 1000 um2: clumps)", &max_area);
  p.option("--smooth", "S", "Gaussian sigma before the threshold, um or Npx (default 0.5 um)", &smooth);
  p.option("--threshold", "T",
           "auto (default: half way from background to the typical nucleus, at least 6 noise sd)\n"
           "or a fixed level in counts",
           &threshold);
  p.option("--split", "L", "split touching nuclei at this core depth, 0 = off (default 0.65)", &split, 0, 1);
  p.option("--flatfield", "on|off", "apply the channel's stored flat-field (default on)", &flatfield);
  p.option("--positions", "registered|stage",
           "field positions (default registered: the registration's where stored, else the stage's)", &positions);
  p.flag("--no-merge", "keep every detection of every field (no merging of overlaps)", &no_merge);
  p.option("--threads", "N", "worker threads (default: one per core)", &threads);
  p.flag("--json", "print one JSON object instead of text", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;

  auto pipeline = make_pipeline(pipeline_name);
  if (!pipeline.ok()) return p.usage_error(pipeline.status().message());
  if (pipeline_name == "nuclei") {
    NucleiParams np;
    bool px = false;
    if (!parse_with_unit(min_area, "um2", &np.min_area_um2, &px)) return p.usage_error("bad --min-area " + min_area);
    if (px) np.min_area_px = std::max(np.min_area_um2, 1e-9), np.min_area_um2 = 0;
    if (!parse_with_unit(max_area, "um2", &np.max_area_um2, &px)) return p.usage_error("bad --max-area " + max_area);
    if (px) np.max_area_px = std::max(np.max_area_um2, 1e-9), np.max_area_um2 = 1e300;
    if (!parse_with_unit(smooth, "um", &np.smooth_sigma_um, &px)) return p.usage_error("bad --smooth " + smooth);
    if (px) np.smooth_sigma_px = std::max(np.smooth_sigma_um, 1e-9);
    if (threshold != "auto" && (!parse_real(threshold, &np.threshold) || !(np.threshold > 0)))
      return p.usage_error("--threshold: 'auto' or a level in counts > 0, not '" + threshold + "'");
    np.split_level = split;
    if (Status s = np.validate(); !s.ok()) return p.usage_error(s.message());
    pipeline = std::unique_ptr<ImagePipeline>(std::make_unique<NucleiPipeline>(np));
  }
  if (flatfield != "on" && flatfield != "off") return p.usage_error("--flatfield: on or off");
  auto positions_mode = parse_positions_mode(positions);
  if (!positions_mode.ok()) return p.usage_error(positions_mode.status().message());
  // Written into a copy that replaces the slide only when complete: a full
  // disk or a kill never damages the slide (write_aside.h).
  auto aside = WriteAside::begin(path);
  if (!aside.ok()) {
    std::cerr << "vslide detect: " << aside.status().to_string() << "\n";
    return 1;
  }
  auto slide = Hdf5Slide::open(aside->temp_path(), OpenMode::kAppend);
  if (!slide.ok()) {
    std::cerr << "vslide detect: " << slide.status().to_string() << "\n";
    return 1;
  }

  DetectOptions options;
  options.layer = layer;
  options.channel = channel;
  options.z = z;
  options.t = t;
  options.threads = threads;
  options.merge = !no_merge;
  options.flatfield = flatfield == "on";
  options.positions = *positions_mode;
  ProgressBar bar("detect " + pipeline_name, (*slide)->index()->fields_present(), !json);
  options.progress = [&bar](size_t done, size_t) { bar.update(done); };
  auto summary = detect_slide(**slide, **slide, **pipeline, options);
  bar.finish();
  if (!summary.ok()) {
    std::cerr << "vslide detect: " << summary.status().to_string() << "\n";
    return summary.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  nlohmann::json rejected = nlohmann::json::object();
  std::string rejected_text;
  size_t rejected_total = 0;
  for (const FilterCount& f : summary->rejected) {
    rejected[f.filter] = f.rejected;
    rejected_text += (rejected_text.empty() ? "" : ", ") + std::to_string(f.rejected) + " by " + f.filter;
    rejected_total += f.rejected;
  }
  // Silence is what hid every real nucleus behind a size limit: say it.
  const double px_um = (*slide)->geometry().pixel_size_um;
  std::string warning;
  if (summary->candidates > 0 && rejected_total * 2 > summary->candidates)
    warning = std::to_string(rejected_total) + " of " + std::to_string(summary->candidates) +
              " candidates rejected by the size filters (" + rejected_text + ") at " + std::to_string(px_um) +
              " um/px: check the slide's pixel size or --min-area/--max-area";
  if (Status s = (*slide)->flush(); !s.ok()) {
    std::cerr << "vslide detect: " << s.to_string() << " (the slide is untouched)\n";
    return 1;
  }
  slide->reset();
  if (Status s = aside->commit(); !s.ok()) {
    std::cerr << "vslide detect: " << s.to_string() << " (the slide is untouched)\n";
    return 1;
  }
  for (const std::string& e : summary->errors) std::cerr << "vslide detect: " << e << "\n";
  if (json) {
    nlohmann::json j = {{"path", path},
                        {"pipeline", pipeline_name},
                        {"layer", summary->layer},
                        {"channel", channel},
                        {"z", z},
                        {"t", t},
                        {"tiles", summary->tiles},
                        {"objects", summary->objects},
                        {"detections", summary->detections},
                        {"duplicates", summary->duplicates},
                        {"cut_replaced", summary->cut_replaced},
                        {"border_objects", summary->border_objects},
                        {"candidates", summary->candidates},
                        {"rejected", rejected},
                        {"positions", summary->positions},
                        {"flatfield", summary->flatfield},
                        {"pixel_size_um", px_um},
                        {"warnings", warning.empty() ? nlohmann::json::array() : nlohmann::json::array({warning})},
                        {"failed_tiles", summary->errors.size()},
                        {"errors", summary->errors}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << path << ": layer '" << summary->layer << "': " << summary->objects << " objects in "
              << summary->tiles << " tiles (" << summary->detections << " detections, " << summary->duplicates
              << " duplicates in overlaps merged, " << summary->cut_replaced << " of them cut copies; "
              << summary->border_objects << " cut by the mosaic's edge)";
    if (!summary->errors.empty()) std::cout << ", " << summary->errors.size() << " tiles failed";
    std::cout << "\n  " << summary->candidates << " candidates, rejected: "
              << (rejected_text.empty() ? "none" : rejected_text) << "; positions: " << summary->positions
              << "; flat-field: " << (summary->flatfield ? "applied" : "none stored") << "\n";
    if (!warning.empty()) std::cerr << "vslide detect: warning: " << warning << "\n";
  }
  return summary->errors.empty() ? 0 : 1;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("detect", "run an image pipeline (nuclei) and store a detection layer", vslide::cli::run_detect);
