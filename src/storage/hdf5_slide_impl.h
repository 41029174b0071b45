// Hdf5Slide's private state (internal to storage). Locking:
//   h5_mu   guards every HDF5 call on this file, the level handles and the
//           pending index records; taken first when both are needed.
//   meta_mu guards the in-memory index (fields, chunk records, counters).
// Readers take meta_mu shared, release it, then take h5_mu only when they
// must enter HDF5; they never hold meta_mu while waiting for h5_mu.
#pragma once

#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "hdf5_util.h"
#include "index_io.h"
#include "slide_layout.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide {

// The most a stored chunk of `raw` bytes may hold: a Blosc buffer adds 16 bytes
// of header, deflate at worst 5 bytes per 16 KB plus a few; anything larger in
// the index is damage, refused before it sizes an allocation.
constexpr uint64_t max_stored_bytes(uint64_t raw) { return raw + raw / 256 + 64 * 1024; }

struct ChunkKey {
  int64_t slot;
  int32_t plane, level, block;
  bool operator==(const ChunkKey&) const = default;
};
struct ChunkKeyHash {
  size_t operator()(const ChunkKey& k) const {
    uint64_t h = uint64_t(k.slot) * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t(uint32_t(k.plane)) << 32 | uint32_t(k.block)) + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    h ^= uint64_t(uint32_t(k.level)) * 0xC2B2AE3D27D4EB4Full;
    return size_t(h);
  }
};

struct ChunkEntry {
  uint32_t stored_bytes = 0;
  uint64_t checksum = 0;
  uint64_t address = kUnknownAddress;  // file offset, learnt lazily for pread
  static constexpr uint64_t kUnknownAddress = ~0ull;
};

struct LabelLayer {
  h5::Handle group, labels, chunks;
  std::unordered_map<int64_t, ChunkEntry> by_slot;
  // by_slot holds the whole chunk table: read from the file once, or the
  // layer was created by this handle. A layer found on disk and then written
  // to holds only the new tiles until the table is read.
  bool by_slot_complete = false;
};

struct Hdf5Slide::Impl {
  std::string path;
  bool writable = false;
  bool swmr_writer = false;
  bool swmr_reader = false;
  bool finished = false;
  int fd = -1;  // a complete file opened to read: chunks come from here, not HDF5
  const uint8_t* map = nullptr;  // the whole file mapped read-only (when mmap works)
  size_t map_size = 0;

  SlideHeader header;
  MosaicGeometry geometry;
  std::vector<ChannelInfo> channels;
  SlideState state = SlideState::kScanning;
  Layout layout = Layout::kLinear;
  CodecSpec codec;
  int32_t chunk_h = 0, chunk_w = 0;
  int format_version = kFormatVersion;

  struct Level {
    storage_detail::LevelShape shape;
    h5::Handle dset;
    hsize_t extent0 = 0;  // current axis-0 size (linear)
  };

  mutable std::mutex h5_mu;
  h5::Handle file, mosaic, fields_table, chunks_table, field_type, chunk_type;
  std::map<int32_t, Level> levels;
  std::vector<storage_detail::FieldRecord> pending_fields;
  std::vector<storage_detail::ChunkRecord> pending_chunks;
  std::map<std::string, LabelLayer> label_layers;

  mutable std::shared_mutex meta_mu;
  TileIndex index;
  mutable std::shared_ptr<const TileIndex> snapshot;
  std::unordered_map<ChunkKey, ChunkEntry, ChunkKeyHash> chunks;
  int64_t next_slot = 0;
  uint64_t bytes_stored = 0;

  ~Impl();

  // "slide.h5: tile (3,7) channel 2: " prefix for messages.
  std::string where(const TileKey& k) const { return path + ": tile " + k.to_string(); }
  storage_detail::LevelShape level_shape(int32_t level) const;
  int64_t slot_for(const FieldOfView& f);  // REQUIRES: meta_mu held exclusively

  // REQUIRES: h5_mu held.
  Status open_level(int32_t level, bool create);
  Status ensure_extent(Level& lv, int64_t slot);
  // Corruption when an opened level's extents or chunk shape disagree with the header.
  Status check_level_extent(const Level& lv, const std::vector<hsize_t>& dims, const std::string& name) const;
  Status append_pending();
  Status load_index();  // rebuilds index and chunk maps from the tables
  Status write_blocks(const TileKey& key, int64_t slot, const std::vector<std::span<const uint8_t>>& blocks,
                      const std::vector<uint64_t>& sums);
  // A chunk's stored bytes: a view into the mapped file, or into *scratch
  // (reusing its capacity) after pread or H5Dread_chunk. Takes h5_mu itself
  // when it must enter HDF5.
  Result<std::span<const uint8_t>> fetch_chunk(const Level& lv, const std::vector<hsize_t>& offset, ChunkEntry entry,
                                               const ChunkKey& key, std::vector<uint8_t>* scratch) const;
  // Finds the level, slot and chunk records of a stored plane.
  struct Located {
    const Level* level = nullptr;
    int64_t slot = 0;
    int32_t plane = 0;
    std::vector<ChunkEntry> entries;
  };
  Result<Located> locate(const TileKey& key) const;
  // Block b of a located plane: where it lies in the plane, its recorded
  // checksum and its bytes (a view into the mapping, or into *copy).
  Result<ChunkView> fetch_block(const TileKey& key, const Located& loc, int32_t b, std::vector<uint8_t>* copy) const;
};

}  // namespace vslide
