// Tile addressing and mosaic geometry.
//
// A slide is a mosaic of rows x cols fields of view; each field holds one
// uint16 plane of tile_height x tile_width per (channel, z plane, time point).
// Zoom layer `level` k > 0 holds the same planes downsampled by 2^k.
// Thread-safety: plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vslide {

// One colour plane of one field of view, at one zoom level.
struct TileKey {
  int32_t row = 0;
  int32_t col = 0;
  int32_t channel = 0;
  int32_t z = 0;
  int32_t t = 0;
  int32_t level = 0;  // 0 = raw pixels; k = downsampled by 2^k

  auto operator<=>(const TileKey&) const = default;
  // "(3,7) channel 2" plus " z 1", " t 4", " level 3" where non-zero.
  std::string to_string() const;
};

struct TileKeyHash {
  size_t operator()(const TileKey& k) const;
};

struct MosaicGeometry {
  int32_t rows = 0;
  int32_t cols = 0;
  int32_t channels = 1;
  int32_t z_planes = 1;
  int32_t timepoints = 1;
  int32_t tile_height = 0;
  int32_t tile_width = 0;
  double pixel_size_um = 0.1625;  // object-side size of one pixel

  int32_t planes_per_field() const { return channels * z_planes * timepoints; }
  // Position of (channel, z, t) among a field's planes: ((t * Z) + z) * C + channel.
  int32_t plane_index(int32_t channel, int32_t z, int32_t t) const {
    return (t * z_planes + z) * channels + channel;
  }
  size_t plane_bytes() const { return size_t(tile_height) * size_t(tile_width) * 2; }
  // Size of a plane at zoom level k: ceil(H / 2^k) x ceil(W / 2^k).
  int32_t level_height(int32_t level) const { return (tile_height + (1 << level) - 1) >> level; }
  int32_t level_width(int32_t level) const { return (tile_width + (1 << level) - 1) >> level; }
  // True when the key's row, col, channel, z and t lie inside the geometry
  // (the level is checked against the slide's zoom layers, not here).
  bool contains(const TileKey& k) const;
  // The limits every geometry must meet wherever it enters (a file, a scan
  // request, a remote server's header), computed in 64 bits so an absurd
  // value is refused rather than overflowed (docs/FORMAT.md, "Limits").
  static constexpr int32_t kMaxRows = 100000, kMaxCols = 100000;
  static constexpr int32_t kMaxChannels = 64, kMaxZPlanes = 4096, kMaxTimepoints = 100000;
  static constexpr int64_t kMaxPlanesPerField = 65536;       // channels x z planes x time points
  static constexpr int32_t kMaxTileSide = 65536;             // tile height and width
  static constexpr int64_t kMaxTilePixels = int64_t(1) << 28;  // a plane of at most 512 MiB
  // Empty when the geometry is within the limits; otherwise what is wrong ("tile 65536x65536
  // has more than 268435456 pixels"). valid() is invalid_reason().empty().
  std::string invalid_reason() const;
  bool valid() const;
  bool operator==(const MosaicGeometry&) const = default;
};

// One field of view as the stage placed it.
struct FieldOfView {
  int32_t row = 0;
  int32_t col = 0;
  double stage_x_um = 0;  // centre-left-top convention: stage position of the tile's top-left pixel
  double stage_y_um = 0;
  double stage_z_um = 0;
  double acquired_unix_s = 0;
  bool operator==(const FieldOfView&) const = default;
};

// Which fields of view exist and where the stage put them. Fields are kept
// sorted by (row, col); lookup is a bisection, so sparse mosaics cost nothing
// for the fields they lack. Each field also has a storage `slot` (its position
// in a linear dataset) and a bitmap of which planes are stored.
class TileIndex {
 public:
  struct Entry {
    FieldOfView field;
    int64_t slot = -1;             // storage position; -1 when unknown
    std::vector<bool> planes;      // planes_per_field flags: plane stored?
  };

  TileIndex() = default;
  explicit TileIndex(int32_t planes_per_field) : planes_per_field_(planes_per_field) {}

  int32_t planes_per_field() const { return planes_per_field_; }
  // Adds or replaces the field at (row, col), keeping the order.
  Entry& upsert(const FieldOfView& f, int64_t slot);
  // Marks one plane of an existing field as stored; false when the field is absent.
  bool mark_plane(int32_t row, int32_t col, int32_t plane);

  // Bisection lookup; nullptr when the field is absent.
  const Entry* find(int32_t row, int32_t col) const;
  bool has_plane(int32_t row, int32_t col, int32_t plane) const;

  const std::vector<Entry>& entries() const { return entries_; }
  size_t field_count() const { return entries_.size(); }
  // Fields with at least one plane stored.
  size_t fields_present() const;
  // Planes stored across all fields.
  size_t planes_present() const;
  // Fields whose every plane is stored.
  size_t fields_complete() const;

 private:
  int32_t planes_per_field_ = 1;
  std::vector<Entry> entries_;
};

}  // namespace vslide
