// What `vslide import-tiles` will import, before any pixel is read: every
// plane with the file and page that holds it, every field with the stage
// position its source gave, the channel metadata the files carry. Built from
// a tiles CSV (import_csv.cpp) or from OME-TIFF files (import_ome.cpp), then
// checked as a whole (import_check.cpp): plane formats and sizes, units,
// tile spacing against tile size x pixel size.
#pragma once

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vslide/core/slide_header.h"
#include "vslide/core/tile.h"
#include "vslide/storage/ome_xml.h"
#include "vslide/storage/tiles_csv.h"
#include "vslide/storage/tiff_io.h"

namespace vslide::cli {

// A number for messages: "%.6g", or fixed with `digits` decimals.
inline std::string format_number(double v, int digits = -1) {
  char b[48];
  if (digits < 0) std::snprintf(b, sizeof b, "%.6g", v);
  else std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// PositionUnits and parse_position_units: vslide/storage/tiles_csv.h.

struct ImportField {
  int32_t row = -1, col = -1;  // -1 until assign_grid() when the source gives no grid
  double x = 0, y = 0, z_um = 0;  // stage position in `ImportPlan::units`
  std::string label;              // for messages: "tiles.csv line 4", "a.ome.tif image 'Image:3'"
};

struct ImportPlane {
  TileKey key;          // row/col filled from the field once the grid is known
  size_t field = 0;     // index into ImportPlan::fields
  size_t file = 0;      // index into ImportPlan::files
  int page = 0;
  std::string label;    // "tiles.csv line 7", "a.ome.tif page 12 (c=1 z=0 t=3)"
};

struct ImportPlan {
  std::string source;                       // the CSV or the first OME-TIFF, for messages
  std::vector<TiffDirectory> files;
  std::vector<ImportField> fields;
  std::vector<ImportPlane> planes;
  PositionUnits units = PositionUnits::kUnknown;
  std::optional<double> pixel_size_um;      // what the files say, when they agree
  std::vector<OmeChannel> ome_channels;     // from OME-XML; empty otherwise
};

// Reads the CSV (parse_tiles_csv, vslide/storage/tiles_csv.h) and opens the
// TIFF files it names; a multi-page TIFF without a page column is refused.
Result<ImportPlan> plan_from_csv(const std::string& csv, PositionUnits units);

// Reads OME-TIFF files (or folders of *.ome.tif[f]): every plane of every
// image, placed by its OME-XML. Every page of every file must be a plane.
Result<ImportPlan> plan_from_ome_tiff(const std::vector<std::string>& inputs, PositionUnits units);

// Gives fields without a grid index a (row, col) from their positions
// (columns by x, rows by y, a new column or row where the position jumps by
// more than half a tile) and fills every plane's key. AlreadyExists when two
// fields land on one cell, naming both.
Status assign_grid(ImportPlan* plan, double tile_w, double tile_h);

// Checks every page before anything is written: 16-bit grayscale, one size
// for all. Returns the tile size (width, height).
Result<std::pair<int32_t, int32_t>> check_pages(const ImportPlan& plan);

// Refuses a mosaic whose neighbouring fields lie further apart than a tile
// (it would scatter, with gaps) or nearly on top of each other (it would pile
// up), with the numbers. Positions in micrometres.
Status check_spacing(const ImportPlan& plan, const std::vector<FieldOfView>& fields, double tile_w_um,
                     double tile_h_um, double pixel_size_um);

// The channel table, from (first to last) the options, a JSON sidecar (an
// array of the slide's channel objects: name, color "#rrggbb",
// excitation_nm, emission_nm, contrast_low, contrast_high), the OME-XML, and
// honest defaults: "Channel N", Fiji's colour order (one channel: white), no
// wavelengths, contrast windows from the 0.1 and 99.9 percentiles of up to
// kWindowSamplePlanes planes of the channel. `note` says where each part came from.
struct ChannelTableOptions {
  std::string names, colors, excitation_nm, emission_nm, windows, json_file;
};
constexpr int kWindowSamplePlanes = 8;
Result<std::vector<ChannelInfo>> build_channel_table(const ImportPlan& plan, int32_t channels,
                                                     const ChannelTableOptions& options, std::string* note);

}  // namespace vslide::cli
