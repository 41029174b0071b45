// Runs an image pipeline over every field of a slide and stores the result as
// a detection layer: one label tile per field (SlideWriter::write_labels) and
// one object table for the layer (SlideWriter::write_objects_json).
//
// Reads through SlideSource and writes through SlideWriter only, so it works
// for any implementation (the command line passes one Hdf5Slide opened for
// append as both). Tiles are processed on `threads` worker threads; a tile
// that cannot be read or processed fails alone: it is reported in the summary
// and the other tiles are still stored.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "vslide/analysis/pipeline.h"
#include "vslide/core/slide_source.h"

namespace vslide {

struct DetectOptions {
  std::string layer;  // defaults to the pipeline's name
  int32_t channel = 0, z = 0, t = 0;
  int threads = 0;    // 0 = hardware concurrency
  // Called from worker threads (serialised) after each tile.
  std::function<void(size_t done, size_t total)> progress;
};

struct DetectSummary {
  std::string layer;
  size_t tiles = 0;           // tiles processed and stored
  size_t objects = 0;         // objects in the stored table
  size_t border_objects = 0;  // of which cut by a tile edge
  std::vector<std::string> errors;  // one per failed tile, naming it
};

// InvalidArgument for a bad layer name (letters, digits, '_', '-', '.') or a
// channel/z/t outside the geometry; the writer's error if the object table
// cannot be stored. Per-tile failures go to summary.errors instead.
Result<DetectSummary> detect_slide(const SlideSource& slide, SlideWriter& writer, const ImagePipeline& pipeline,
                                   const DetectOptions& options);

}  // namespace vslide
