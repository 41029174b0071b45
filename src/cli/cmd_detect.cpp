// vslide detect: runs an image pipeline over every field of a slide and
// stores a detection layer (label tiles + object table) in the file.
#include <iostream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "progress.h"
#include "vslide/analysis/detect.h"
#include "vslide/analysis/pipeline.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {
namespace {

int run_detect(int argc, char** argv) {
  std::string path, pipeline_name = "nuclei", layer;
  int channel = 0, z = 0, t = 0, threads = 0;
  bool json = false;
  ArgParser p("vslide detect SLIDE --pipeline nuclei [--channel 0] [--z 0] [--t 0] [--name LAYER] [--json]",
              "Runs an image pipeline on every field of view and stores the result in the slide as a\n"
              "detection layer: one label tile per field and one object table (centroids in pixels and\n"
              "slide micrometres, areas, mean intensities, bounding boxes). Objects in the overlap of\n"
              "two fields are detected in both; those cut by a tile edge are flagged touches_border.\n"
              "Exit 1 when a tile fails (the others are still stored), 2 on bad arguments.");
  p.positional("SLIDE", "slide file (HDF5; opened for appending)", &path);
  p.option("--pipeline", "NAME", "image pipeline (default nuclei)", &pipeline_name);
  p.option("--channel", "C", "channel to analyse (default 0)", &channel);
  p.option("--z", "Z", "z plane (default 0)", &z);
  p.option("--t", "T", "time point (default 0)", &t);
  p.option("--name", "LAYER", "detection layer name (default: the pipeline's name)", &layer);
  p.option("--threads", "N", "worker threads (default: one per core)", &threads);
  p.flag("--json", "print one JSON object instead of text", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;

  auto pipeline = make_pipeline(pipeline_name);
  if (!pipeline.ok()) return p.usage_error(pipeline.status().message());
  auto slide = Hdf5Slide::open(path, OpenMode::kAppend);
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
  ProgressBar bar("detect " + pipeline_name, (*slide)->index()->fields_present(), !json);
  options.progress = [&bar](size_t done, size_t) { bar.update(done); };
  auto summary = detect_slide(**slide, **slide, **pipeline, options);
  bar.finish();
  if (!summary.ok()) {
    std::cerr << "vslide detect: " << summary.status().to_string() << "\n";
    return summary.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (Status s = (*slide)->flush(); !s.ok()) {
    std::cerr << "vslide detect: " << s.to_string() << "\n";
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
                        {"border_objects", summary->border_objects},
                        {"failed_tiles", summary->errors.size()},
                        {"errors", summary->errors}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << path << ": layer '" << summary->layer << "': " << summary->objects << " objects in "
              << summary->tiles << " tiles (" << summary->border_objects << " cut by a tile edge)";
    if (!summary->errors.empty()) std::cout << ", " << summary->errors.size() << " tiles failed";
    std::cout << "\n";
  }
  return summary->errors.empty() ? 0 : 1;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("detect", "run an image pipeline (nuclei) and store a detection layer", vslide::cli::run_detect);
