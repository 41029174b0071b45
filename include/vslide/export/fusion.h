// MosaicFuser: the fused 16-bit mosaic of a slide region, computed one
// bounded output block at a time, for export (OME-TIFF, OME-Zarr) and for
// anyone else who wants stitched pixels (Python's read_region).
//
// Method (docs/EXPORT.md):
// - Output grid: level 0 has the slide's pixel size; pixel (0,0)'s top-left
//   corner lies at the region's (x0, y0) in slide micrometres. Level L has
//   pixels 2^L times larger and ceil(size / 2^L) of them.
// - Positions: the registered position of each field when the slide has a
//   registration (SlideSource::read_registration), the stage position
//   otherwise; in each (z, t) plane the plane's own registered position where
//   the registration stores one (Registration::plane_fields, the rule of
//   field_origin_um(field, registration, mode, z, t)); rounded to the nearest
//   output pixel of the level (no resampling: a pixel covered by one field
//   keeps its raw value). The default region covers every plane's fields.
// - Colour offsets (Registration::channel_offsets): pixel (x, y) of the
//   reference channel samples pixel (round(x*scale + dx), round(y*scale + dy))
//   of the channel's plane (dx, dy divided by 2^L at level L).
// - Level L planes: the stored zoom layer L when the slide has it, else the
//   field's level L-1 plane 2x2-averaged (vslide::downsample, rounded half
//   up): each level is the mean of the one below, computed once per field.
// - Shading: where a flat-field is stored, FlatField::correct (the viewer's
//   rule: dark + (raw - dark) / gain at the pixel centre), rounded and
//   clamped to uint16, on each level's planes.
// - Blending: linear feathering. Each field's pixel (x, y) of a w x h plane
//   weighs min(x + 1, w - x, y + 1, h - y); the output is the weighted mean,
//   rounded half up, in exact integer arithmetic. Pixels no field covers are 0.
//
// Thread-safety: fuse_block is const and safe from many threads; decoded
// planes go through a shared LRU cache bounded in bytes.
// Failure modes: a plane the slide lacks (sparse mosaic, missing colour) is
// left out of the blend; any other read error fails the block with a message
// that names the slide and the tile.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vslide/core/slide_source.h"

namespace vslide {

struct FusionOptions {
  // Region in slide micrometres (x0, y0, x1, y1); default: every field's extent.
  std::optional<std::array<double, 4>> region_um;
  std::vector<int32_t> channels;  // slide channels to fuse, in output order; empty = all
  int32_t levels = 0;             // pyramid levels; 0 = until the image fits in `fit_size`
  int32_t fit_size = 512;         // with levels == 0: stop once width and height are <= this
  bool use_registration = true;   // false: stage positions even when registered
  bool use_flatfield = true;      // false: no shading correction even when stored
  bool use_zoom_layers = true;    // false: always downsample level 0
  // Decoded planes kept for neighbouring blocks, recycled buffers included;
  // planes that blocks in progress hold after their eviction come on top
  // (Footprint::block_bytes per worker).
  size_t cache_bytes = size_t(256) << 20;
};

// What a fuser will produce.
struct FusionPlan {
  double origin_x_um = 0, origin_y_um = 0;  // top-left corner of output pixel (0,0)
  double pixel_size_um = 0;                 // at level 0
  int64_t width = 0, height = 0;            // level 0 size in pixels
  int32_t levels = 1;
  std::vector<int32_t> channels;            // slide channel of each output channel
  int32_t z_planes = 1, timepoints = 1;
  bool registered = false;                  // positions came from a stored registration
  int32_t planes_placed_apart = 0;          // (z, t) planes with positions of their own (registered per plane)
  std::vector<bool> flatfield;              // per output channel: shading corrected?
  int64_t fields = 0;                       // fields of view placed

  int64_t level_width(int32_t level) const { return (width + (int64_t(1) << level) - 1) >> level; }
  int64_t level_height(int32_t level) const { return (height + (int64_t(1) << level) - 1) >> level; }
  int32_t output_planes() const { return int32_t(channels.size()) * z_planes * timepoints; }
};

// One output plane: output channel index (into FusionPlan::channels), z, t.
struct OutputPlane {
  int32_t channel = 0, z = 0, t = 0;
};

class MosaicFuser {
 public:
  // Reads the slide's geometry, index, registration and flat-fields and
  // plans the output. InvalidArgument for an empty region, a channel the
  // slide lacks or a slide without fields. `src` must outlive the fuser.
  static Result<std::unique_ptr<MosaicFuser>> create(const SlideSource& src, const FusionOptions& options);
  ~MosaicFuser();

  const FusionPlan& plan() const;
  const SlideSource& source() const;

  // Fuses the block [x, x + w) x [y, y + h) of `plane` at `level` into
  // `out` (w * h pixels, row-major). The block may reach past the image
  // (those pixels come out 0). Safe from many threads.
  Status fuse_block(int32_t level, const OutputPlane& plane, int64_t x, int64_t y, int32_t w, int32_t h,
                    std::span<uint16_t> out) const;

  // Memory for planning a budget (docs/EXPORT.md, "Memory").
  struct Footprint {
    int32_t max_fields_per_block = 0;  // most fields over one block, any level
    // Most plane bytes one fuse_block call holds at once: the planes of the
    // fields over its block, plus a plane being derived from the level below
    // and that plane (at worst 1.25 level-0 planes).
    size_t block_bytes = 0;
    // Plane bytes of the fields over the busiest two consecutive rows of
    // blocks, any level: a cache this large reads each plane about once per
    // level when blocks go row by row; a smaller one re-reads planes.
    size_t row_pair_bytes = 0;
  };
  // For square blocks of `block` pixels laid from the image's (0, 0).
  Footprint footprint(int32_t block) const;
  // Memory the fuser holds besides planes: the shading models' gain maps.
  size_t fixed_bytes() const;
  // Changes the plane cache's capacity (FusionOptions::cache_bytes).
  // REQUIRES: no fuse_block running.
  void set_cache_bytes(size_t bytes);
  // Scratch memory one fuse_block call of a w-pixel-wide block needs besides
  // its planes and `out` (overlap accumulators of one row).
  static size_t block_scratch_bytes(int32_t w) { return size_t(w) * 12 + 4096; }
  // Planes decoded so far (cache misses) and served from the cache.
  uint64_t planes_decoded() const;
  uint64_t planes_reused() const;

 private:
  struct Impl;
  explicit MosaicFuser(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vslide
