// Hdf5Slide: the virtual slide as one HDF5 file (see docs/FORMAT.md).
//
// Implements SlideSource (reading) and SlideWriter (writing). Reads are safe
// from many threads: HDF5 (built thread-safe, one global lock) is entered only
// to fetch a chunk's stored bytes with H5Dread_chunk, or, for a finished file,
// only once per chunk to learn its file address, after which chunks are read
// from a read-only mapping of the file and never enter HDF5 again. Decoding always runs in the calling
// thread, so N threads decode N tiles at once. No HDF5 filter plugin is needed
// to read: vslide decodes Blosc and gzip itself.
//
// Writes encode in the calling thread and move finished chunks with
// H5Dwrite_chunk under the writer's lock (see SlideWriter).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vslide/core/slide_source.h"

namespace vslide {

enum class Layout { kLinear, kPacked, kGrid };
std::string_view layout_name(Layout l);
Result<Layout> parse_layout(std::string_view name);

struct CreateOptions {
  Layout layout = Layout::kLinear;
  CodecSpec codec = CodecSpec::fast_default();
  // Chunk (block) size in pixels; 0 = the whole plane. Must divide the tile.
  int32_t chunk_height = 0;
  int32_t chunk_width = 0;
  // Open for single-writer/multiple-reader access after set-up, so that other
  // processes can read the slide while it is being written (HDF5 SWMR).
  bool swmr = false;
  bool overwrite = false;  // replace an existing file
};

enum class OpenMode { kRead, kAppend };

// Versions of the file format (docs/FORMAT.md, "Versioning"). A file carries
// the lowest version whose readers read it correctly, so that older vslides
// read every file they can: a slide is created at kBaseFormatVersion (2: may
// hold /registration and /flatfield); storing per-plane field positions
// (/registration/planes) raises it to 3, which a version-2 reader refuses
// instead of drawing every plane at the reference plane's positions.
// This vslide reads every version from 1 to kFormatVersion.
constexpr int kFormatVersion = 3;
constexpr int kBaseFormatVersion = 2;

class Hdf5Slide final : public SlideSource, public SlideWriter {
 public:
  // Creates a new slide file in state kScanning.
  static Result<std::unique_ptr<Hdf5Slide>> create(const std::string& path, const SlideHeader& header,
                                                   const MosaicGeometry& geometry,
                                                   const std::vector<ChannelInfo>& channels,
                                                   const CreateOptions& options);
  // Opens an existing slide. kRead works on complete files, unfinished files
  // (writer died) and files being written by another process in SWMR mode.
  // kAppend reopens an unfinished file to complete it, or a complete one to
  // add zoom layers and detection layers.
  static Result<std::unique_ptr<Hdf5Slide>> open(const std::string& path, OpenMode mode = OpenMode::kRead);

  ~Hdf5Slide() override;
  Hdf5Slide(const Hdf5Slide&) = delete;
  Hdf5Slide& operator=(const Hdf5Slide&) = delete;

  // SlideSource
  std::string describe() const override;
  const SlideHeader& header() const override;
  const MosaicGeometry& geometry() const override;
  const std::vector<ChannelInfo>& channels() const override;
  SlideState state() const override;
  std::shared_ptr<const TileIndex> index() const override;
  Status refresh() override;
  CodecSpec codec() const override;
  std::vector<int32_t> zoom_levels() const override;
  Result<Image16> read(const TileKey& key) const override;
  Status read_into(const TileKey& key, std::span<uint16_t> out) const override;
  Result<StoredTile> read_chunk(const TileKey& key) const override;
  Result<Overview> read_overview(int32_t channel) const override;
  std::vector<std::string> detection_layers() const override;
  Result<LabelTile> read_labels(const std::string& layer, const TileKey& key) const override;
  Result<std::string> read_objects_json(const std::string& layer) const override;
  Result<Registration> read_registration() const override;
  Result<FlatField> read_flatfield(int32_t channel) const override;

  // SlideWriter
  Status write_field(const FieldOfView& field) override;
  Status write_plane(const TileKey& key, const Image16View& pixels) override;
  Status write_stored(const StoredTile& tile) override;
  Status write_overview(const Overview& overview) override;
  Status write_labels(const std::string& layer, const TileKey& key, const LabelTile& tile) override;
  Status write_objects_json(const std::string& layer, const std::string& json_array) override;
  Status write_registration(const Registration& registration) override;
  Status write_flatfield(const FlatField& flatfield) override;
  Status flush() override;
  Status finish(SlideState final_state = SlideState::kComplete) override;

  // write_stored for a plane held in one chunk (the whole-plane layouts),
  // without copying it: the acquisition path's zero-copy store. `checksum`
  // must be XXH3-64 of `bytes`, carried end to end from whoever encoded
  // them (it is recorded, not recomputed, so `vslide verify` catches any
  // damage on the way).
  Status write_stored_chunk(const TileKey& key, const CodecSpec& codec, int32_t height, int32_t width,
                            std::span<const uint8_t> bytes, uint64_t checksum);

  // Creates the dataset for zoom level `level` (factor 2^level) if absent.
  // Planes of that level are then written with write_plane(key with level).
  Status add_zoom_level(int32_t level);

  // Storage details, for `vslide info` and the benchmarks.
  Layout layout() const;
  int32_t chunk_height() const;
  int32_t chunk_width() const;
  int format_version() const;
  uint64_t bytes_stored() const;   // sum of stored level-0 chunk sizes
  uint64_t bytes_raw() const;      // planes_present * plane bytes

  // The index and the header against the digest finish() recorded (root
  // attribute `index_digest`, docs/FORMAT.md): an XXH3-64 over the header,
  // geometry and channel JSON and, per field, its position, slot, stage
  // position and plane bitmap. A flipped byte in a chunk record's slot, plane
  // or level, or in a stage position, changes what the index says and fails
  // this check (Corruption naming what differs) instead of a plane vanishing
  // silently. Returns false when the file has no digest (unfinished, or
  // written before the digest existed), true when it matched.
  Result<bool> check_index_digest() const;

  // Checks one plane's chunks against their recorded checksums and decodes
  // them. OK, or the first problem found in that plane.
  Status verify_plane(const TileKey& key) const;

  // A stored plane's chunks as views into the read-only mapping of a finished
  // file: no copy and no checksum check (each block carries its recorded
  // checksum for the caller to check). For a server that sends chunks as
  // they are stored. The views stay valid while this Hdf5Slide lives.
  // Unavailable when the file is not mapped (not finished, or mmap failed):
  // use read_chunk then. Thread-safe like read_chunk.
  struct ChunkView {
    int32_t y = 0, x = 0, height = 0, width = 0;  // as in ChunkBlock
    uint64_t checksum = 0;
    std::span<const uint8_t> bytes;
  };
  struct StoredView {
    TileKey key;
    CodecSpec codec;
    int32_t height = 0, width = 0;
    std::vector<ChunkView> blocks;
  };
  Result<StoredView> read_chunk_view(const TileKey& key) const;

  struct Impl;

 private:
  explicit Hdf5Slide(std::unique_ptr<Impl> impl);
  Status write_stored_blocks(const TileKey& key, const CodecSpec& codec, int32_t height, int32_t width,
                             const std::vector<std::span<const uint8_t>>& blocks, const std::vector<uint64_t>& sums);

  std::unique_ptr<Impl> impl_;
};

}  // namespace vslide
