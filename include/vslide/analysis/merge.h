// Counting each object once: detections of neighbouring fields that are the
// same object (in their overlap) are grouped, and one copy per group is kept.
//
// Two detections of different fields are the same object when, placed on the
// slide (their x_um/y_um, which detect_slide computes from the registered
// field positions when the slide has them, from the stage otherwise), their
// bounding boxes overlap by at least half of the smaller box and the smaller
// one's centroid lies inside the larger box, both within a slack (at least
// 2 px) for the error of the field positions. A group never
// holds two detections of one field: two nuclei that one field separates
// stay two. The kept copy is, in order of preference: one not cut by its
// tile edge (a nucleus cut by a field edge is taken from the field that holds
// it whole), the one farthest from its tile's edge, the larger, the lower id.
// Objects cut by the edge of the mosaic itself have no other copy: they are
// kept and stay flagged touches_border.
//
// Thread-safety: a free function of its arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vslide/analysis/pipeline.h"

namespace vslide {

struct MergeStats {
  size_t detections = 0;  // objects in
  size_t unique = 0;      // kept
  size_t duplicates = 0;  // detections - unique
  size_t cut_replaced = 0;  // cut copies dropped for a whole copy in another field
};

// Sets kept / duplicate_of on every object (all kept when alone). Tiles are
// tile_width x tile_height pixels of pixel_size_um; slack_um is the expected
// error of the field positions (kStageSlackUm for unregistered stage
// positions, 0 for registered ones: then 2 px).
constexpr double kStageSlackUm = 3.0;
MergeStats merge_overlaps(std::vector<DetectedObject>* objects, int32_t tile_width, int32_t tile_height,
                          double pixel_size_um, double slack_um = 0);

}  // namespace vslide
