#include "vslide/core/tile.h"

#include <algorithm>

namespace vslide {

std::string TileKey::to_string() const {
  std::string s = "(" + std::to_string(row) + "," + std::to_string(col) + ") channel " +
                  std::to_string(channel);
  if (z != 0) s += " z " + std::to_string(z);
  if (t != 0) s += " t " + std::to_string(t);
  if (level != 0) s += " level " + std::to_string(level);
  return s;
}

size_t TileKeyHash::operator()(const TileKey& k) const {
  uint64_t h = 1469598103934665603ull;
  for (int32_t v : {k.row, k.col, k.channel, k.z, k.t, k.level}) {
    h ^= uint64_t(uint32_t(v));
    h *= 1099511628211ull;
  }
  return size_t(h);
}

bool MosaicGeometry::contains(const TileKey& k) const {
  return k.row >= 0 && k.row < rows && k.col >= 0 && k.col < cols && k.channel >= 0 &&
         k.channel < channels && k.z >= 0 && k.z < z_planes && k.t >= 0 && k.t < timepoints &&
         k.level >= 0 && k.level < 16;
}

std::string MosaicGeometry::invalid_reason() const {
  auto range = [](const char* what, int64_t v, int64_t max) -> std::string {
    if (v >= 1 && v <= max) return "";
    return std::string(what) + " " + std::to_string(v) + " outside 1.." + std::to_string(max);
  };
  for (const auto& r : {range("rows", rows, kMaxRows), range("cols", cols, kMaxCols),
                        range("channels", channels, kMaxChannels), range("z_planes", z_planes, kMaxZPlanes),
                        range("timepoints", timepoints, kMaxTimepoints),
                        range("tile_height", tile_height, kMaxTileSide), range("tile_width", tile_width, kMaxTileSide)}) {
    if (!r.empty()) return r;
  }
  const int64_t planes = int64_t(channels) * z_planes * timepoints;
  if (planes > kMaxPlanesPerField) {
    return std::to_string(planes) + " planes per field (channels x z_planes x timepoints) exceed " +
           std::to_string(kMaxPlanesPerField);
  }
  const int64_t pixels = int64_t(tile_height) * tile_width;
  if (pixels > kMaxTilePixels) {
    return "tile " + std::to_string(tile_width) + "x" + std::to_string(tile_height) + " has more than " +
           std::to_string(kMaxTilePixels) + " pixels";
  }
  if (!(pixel_size_um > 0 && pixel_size_um <= 1e6)) return "pixel_size_um must lie in (0, 1e6]";
  return "";
}

bool MosaicGeometry::valid() const { return invalid_reason().empty(); }

namespace {
bool less_rc(const TileIndex::Entry& e, std::pair<int32_t, int32_t> rc) {
  return std::pair(e.field.row, e.field.col) < rc;
}
}  // namespace

TileIndex::Entry& TileIndex::upsert(const FieldOfView& f, int64_t slot) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), std::pair(f.row, f.col), less_rc);
  if (it != entries_.end() && it->field.row == f.row && it->field.col == f.col) {
    it->field = f;
    if (slot >= 0) it->slot = slot;
    return *it;
  }
  Entry e;
  e.field = f;
  e.slot = slot;
  e.planes.assign(size_t(planes_per_field_), false);
  return *entries_.insert(it, std::move(e));
}

const TileIndex::Entry* TileIndex::find(int32_t row, int32_t col) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), std::pair(row, col), less_rc);
  if (it == entries_.end() || it->field.row != row || it->field.col != col) return nullptr;
  return &*it;
}

bool TileIndex::mark_plane(int32_t row, int32_t col, int32_t plane) {
  auto* e = const_cast<Entry*>(find(row, col));
  if (e == nullptr || plane < 0 || plane >= planes_per_field_) return false;
  e->planes[size_t(plane)] = true;
  return true;
}

bool TileIndex::has_plane(int32_t row, int32_t col, int32_t plane) const {
  const Entry* e = find(row, col);
  return e != nullptr && plane >= 0 && plane < planes_per_field_ && e->planes[size_t(plane)];
}

size_t TileIndex::fields_present() const {
  return size_t(std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) {
    return std::find(e.planes.begin(), e.planes.end(), true) != e.planes.end();
  }));
}

size_t TileIndex::planes_present() const {
  size_t n = 0;
  for (const auto& e : entries_) n += size_t(std::count(e.planes.begin(), e.planes.end(), true));
  return n;
}

size_t TileIndex::fields_complete() const {
  return size_t(std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) {
    return std::all_of(e.planes.begin(), e.planes.end(), [](bool b) { return b; });
  }));
}

}  // namespace vslide
