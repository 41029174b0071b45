// The tiles CSV of `vslide import-tiles` (vslide/storage/tiles_csv.h): any
// text gives an error or rows within the documented limits, never a crash,
// an overflow or an allocation beyond the text's own size. The TIFF files the
// rows name are not opened here (fuzz_tiff_import covers those).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "vslide/storage/tiff_io.h"
#include "vslide/storage/tiles_csv.h"

using namespace vslide;

namespace {
void require(bool ok) {
  if (!ok) abort();  // an invariant of the parser's contract broke: a finding
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first byte picks the units the caller gives, as --position-units would.
  const PositionUnits given = size == 0 ? PositionUnits::kUnknown : PositionUnits(data[0] % 3);
  auto r = parse_tiles_csv(text, "fuzz.csv", given);
  if (!r.ok()) {
    require(r.status().message().rfind("fuzz.csv", 0) == 0);  // every error names the file
    return 0;
  }
  require(r->units != PositionUnits::kUnknown && !r->rows.empty());
  const double limit = r->units == PositionUnits::kPixels ? kMaxStagePositionPx : kMaxStagePositionUm;
  std::set<TileKey> keys;
  int last_line = 1;
  for (const TilesCsvRow& row : r->rows) {
    const TileKey& k = row.key;
    require(!row.path.empty());
    require(k.row >= 0 && k.row <= kMaxTilesCsvGridIndex && k.col >= 0 && k.col <= kMaxTilesCsvGridIndex);
    require(k.channel >= 0 && k.channel <= 63 && k.z >= 0 && k.z <= 4095 && k.t >= 0 &&
            k.t <= kMaxTilesCsvGridIndex && k.level == 0);
    require(row.page >= -1 && row.page < kMaxTiffPages && (row.page >= 0) == r->has_page_column);
    require(std::isfinite(row.x) && std::isfinite(row.y) && std::isfinite(row.z_um));
    require(std::abs(row.x) <= limit && std::abs(row.y) <= limit && std::abs(row.z_um) <= kMaxStagePositionUm);
    require(keys.insert(k).second);  // no tile twice
    require(row.line > last_line);
    last_line = row.line;
  }
  return 0;
}
