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
#include "vslide/core/placement.h"
#include "vslide/core/slide_source.h"

namespace vslide {

struct DetectOptions {
  std::string layer;  // defaults to the pipeline's name
  int32_t channel = 0, z = 0, t = 0;
  int threads = 0;    // 0 = hardware concurrency
  // Count each object once (merge_overlaps); false keeps every detection.
  bool merge = true;
  // Apply the channel's stored flat-field (when stored) before the pipeline.
  bool flatfield = true;
  // Field positions that place the objects on the slide (core/placement.h):
  // registered where the slide has them, else the stage's.
  PositionsMode positions = PositionsMode::kRegistered;
  // Called from worker threads (serialised) after each tile.
  std::function<void(size_t done, size_t total)> progress;
};

struct DetectSummary {
  std::string layer;
  size_t tiles = 0;           // tiles processed and stored
  size_t detections = 0;      // objects found in all fields (rows of the stored table)
  size_t objects = 0;         // unique objects (kept rows)
  size_t duplicates = 0;      // copies of an object that another field holds
  size_t cut_replaced = 0;    // of which cut by an edge while another field holds it whole
  size_t border_objects = 0;  // unique objects still cut by a tile edge (the mosaic's border)
  size_t candidates = 0;      // before the pipeline's filters
  std::vector<FilterCount> rejected;  // per filter, summed over the tiles
  std::string positions;      // "registered" (a registration was used) or "stage"
  bool flatfield = false;     // a stored flat-field was applied
  std::vector<std::string> errors;  // one per failed tile, naming it
};

// Objects are placed with the field positions options.positions picks and,
// with options.merge, merged across overlapping fields (merge.h): the table
// keeps every detection, with kept/duplicate_of saying which count.
//
// InvalidArgument for a bad layer name (letters, digits, '_', '-', '.') or a
// channel/z/t outside the geometry; the slide's error when a stored flat-field or
// registration cannot be read; the writer's error if the object table cannot
// be stored. Per-tile failures go to summary.errors instead.
Result<DetectSummary> detect_slide(const SlideSource& slide, SlideWriter& writer, const ImagePipeline& pipeline,
                                   const DetectOptions& options);

}  // namespace vslide
