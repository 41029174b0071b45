// Image pipelines: one tile in, a detection (label tile + object table) out.
//
// A pipeline sees one colour plane of one field of view at a time, so it runs
// the same on a local file, a remote slide or a slide still being scanned, and
// tiles can be processed in parallel. Objects in the overlap of two fields are
// detected in both: `touches_border` marks those cut by the tile edge, which a
// consumer that wants each object once should drop or merge.
//
// Thread-safety: run() is const and safe to call from many threads at once on
// one pipeline object.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vslide/core/image.h"
#include "vslide/core/slide_source.h"
#include "vslide/core/status.h"
#include "vslide/core/tile.h"

namespace vslide {

// One detected object of one tile.
struct DetectedObject {
  int64_t id = 0;          // unique on the slide: (row << 40) | (col << 20) | label
  uint32_t label = 0;      // its value in the tile's label image (1..n)
  TileKey key;             // the plane it was found in
  double x_px = 0, y_px = 0;  // centroid in tile pixels (pixel centres at +0.5)
  double x_um = 0, y_um = 0;  // centroid in slide micrometres (field's stage position + pixels)
  int64_t area_px = 0;
  double area_um2 = 0;
  double mean_intensity = 0;  // of the raw tile pixels under the object
  int32_t bbox_x0 = 0, bbox_y0 = 0, bbox_x1 = 0, bbox_y1 = 0;  // inclusive-exclusive
  bool touches_border = false;  // cut by the tile edge
  // Set when the slide's detections are merged across overlapping fields
  // (merge_overlaps): false for a copy of an object that another field holds
  // (better: whole, or farther from its edge); duplicate_of is then the id of
  // the copy that is kept. Overlays and counts use the kept objects only.
  bool kept = true;
  int64_t duplicate_of = 0;
};

void to_json(nlohmann::json& j, const DetectedObject& o);
void from_json(const nlohmann::json& j, DetectedObject& o);

// Candidates a pipeline's filter threw away: {"min_area", 12}.
struct FilterCount {
  std::string filter;
  size_t rejected = 0;
};

struct Detection {
  LabelTile labels;  // same size as the tile; 0 = background, object k has label k
  std::vector<DetectedObject> objects;
  size_t candidates = 0;              // objects found before the filters
  std::vector<FilterCount> rejected;  // per filter, in the order they apply
};

class ImagePipeline {
 public:
  virtual ~ImagePipeline() = default;
  // Short name, also the default detection layer name ("nuclei").
  virtual std::string name() const = 0;
  // Processes one tile. `field` gives its stage position (for object
  // positions in slide micrometres), `pixel_size_um` its scale. Fails with
  // InvalidArgument for an empty tile or a non-positive pixel size.
  virtual Result<Detection> run(const Image16View& tile, const TileKey& key, const FieldOfView& field,
                                double pixel_size_um) const = 0;
};

// The pipelines this build knows, by name: "nuclei". InvalidArgument (listing
// the known names) for any other.
Result<std::unique_ptr<ImagePipeline>> make_pipeline(const std::string& name);
std::vector<std::string> pipeline_names();

}  // namespace vslide
