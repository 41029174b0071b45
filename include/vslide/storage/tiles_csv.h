// The tiles CSV of `vslide import-tiles`: one row per plane, naming the TIFF
// file (and page) that holds it, its tile key and the stage position of its
// field. This header is the parser alone: text in, checked rows out; no file
// is opened (the command opens the TIFFs the rows name, import_csv.cpp).
//
//   path,row,col,channel,stage_x_um,stage_y_um[,z,t,page,stage_z_um]
//
// stage_x_px/stage_y_px give positions in pixels; stage_x/stage_y leave the
// unit to the caller (--position-units). Columns may come in any order; a
// UTF-8 byte-order mark (Excel writes one) is skipped; fields may be quoted;
// blank lines are skipped; spaces around a field are not part of it.
//
// Every number is checked strictly and every failure names the source and
// the line: "tiles.csv line 4: row '1.5' is not an integer". Limits (also in
// docs/FORMAT.md): row, col and t 0..100000, channel 0..63, z 0..4095, page
// 0..kMaxTiffPages-1, positions finite and within 1 m (1e9 px), text at most
// kMaxTilesCsvBytes. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vslide/core/status.h"
#include "vslide/core/tile.h"

namespace vslide {

enum class PositionUnits { kUnknown, kMicrometres, kPixels };

// "um" (µm, micron, micrometres) or "px" (pixels); "" is kUnknown.
// InvalidArgument for anything else.
Result<PositionUnits> parse_position_units(const std::string& text);

constexpr size_t kMaxTilesCsvBytes = size_t(256) << 20;
constexpr int32_t kMaxTilesCsvGridIndex = 100000;   // row, col, t
constexpr double kMaxStagePositionUm = 1e6;         // 1 m from the origin
constexpr double kMaxStagePositionPx = 1e9;

struct TilesCsvRow {
  std::string path;  // as written: relative paths are relative to the CSV's folder
  TileKey key;       // level 0
  int32_t page = -1;  // -1: the CSV has no page column
  double x = 0, y = 0, z_um = 0;  // stage position in TilesCsv::units (z in um)
  int line = 0;                   // 1-based line number in the text
};

struct TilesCsv {
  PositionUnits units = PositionUnits::kUnknown;  // never kUnknown in a parsed CSV
  bool has_page_column = false;
  std::vector<TilesCsvRow> rows;  // in the order of the text; at least one
};

// Parses a tiles CSV. `source` names it in messages ("tiles.csv"); `units`
// is what the caller was told (kUnknown: the columns must say it).
// InvalidArgument for a malformed header, a bad number, a missing column,
// an empty path, a unit the columns contradict or do not give, a field with
// two positions, no rows; AlreadyExists for a tile listed twice.
Result<TilesCsv> parse_tiles_csv(std::string_view text, const std::string& source, PositionUnits units);

}  // namespace vslide
