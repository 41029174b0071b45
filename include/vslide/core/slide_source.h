// SlideSource and SlideWriter: the two interfaces every part meets at.
//
// A SlideSource is a virtual slide to read: a local HDF5 file (storage's
// Hdf5Slide) or a tile dealer across the network (remote's RemoteSlide). The
// viewer, the benchmarks, the analysis and the command line see only this.
//
// Thread-safety: every const method of a SlideSource is safe to call from many
// threads at once; implementations are expected to keep reads concurrent
// (decoding outside any global lock).
//
// Failure modes: reads return NotFound for a tile the mosaic lacks,
// OutOfRange for a key outside the geometry, Corruption for stored bytes that
// fail their checksum or codec checks (that tile only: other tiles still
// read), IOError/Unavailable for the file system or the network.
#pragma once

#include <cstdint>
#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vslide/core/codec_spec.h"
#include "vslide/core/image.h"
#include "vslide/core/registration.h"
#include "vslide/core/slide_header.h"
#include "vslide/core/status.h"
#include "vslide/core/tile.h"

namespace vslide {

// One stored chunk: the compressed bytes exactly as they lie in the file.
struct ChunkBlock {
  int32_t y = 0, x = 0;             // position of the block inside the plane
  int32_t height = 0, width = 0;    // block size in pixels (a full chunk, even at edges)
  std::vector<uint8_t> bytes;       // encoded with the tile's codec
  uint64_t checksum = 0;            // XXH3-64 of `bytes` as recorded at write time
};

// A plane in its stored form: one block (chunk = whole plane) or several
// sub-tile blocks that tile the plane.
struct StoredTile {
  TileKey key;
  CodecSpec codec;
  int32_t height = 0, width = 0;    // plane size in pixels
  std::vector<ChunkBlock> blocks;

  size_t stored_bytes() const {
    size_t n = 0;
    for (const auto& b : blocks) n += b.bytes.size();
    return n;
  }
};

// A reconstructed low-resolution image of the whole slide for one channel.
struct Overview {
  int32_t channel = 0;
  Image16 image;
  double origin_x_um = 0, origin_y_um = 0;  // slide position of pixel (0,0)'s top-left corner
  double um_per_px = 1;
};

// One tile of a detection layer: a label image (0 = background).
struct LabelTile {
  int32_t width = 0, height = 0;
  std::vector<uint32_t> labels;
};

class SlideSource {
 public:
  virtual ~SlideSource() = default;

  // The path or URL, for messages: "slide.h5", "tcp://host:5555/vs-123".
  virtual std::string describe() const = 0;
  virtual const SlideHeader& header() const = 0;
  virtual const MosaicGeometry& geometry() const = 0;
  virtual const std::vector<ChannelInfo>& channels() const = 0;
  virtual SlideState state() const = 0;
  // A snapshot of which fields are present and where the stage put them.
  virtual std::shared_ptr<const TileIndex> index() const = 0;
  // For a slide still being written: picks up fields written since open.
  virtual Status refresh() { return Status(); }
  // The codec of the raw (level 0) planes.
  virtual CodecSpec codec() const = 0;
  // Stored zoom levels, ascending; always starts with 0 (raw).
  virtual std::vector<int32_t> zoom_levels() const = 0;

  // Decoded pixels of one plane (any stored level).
  virtual Result<Image16> read(const TileKey& key) const = 0;
  // Decodes one plane into the caller's buffer of exactly level_width x
  // level_height pixels (a cache's own memory): no allocation on the fast
  // path. InvalidArgument when the buffer has the wrong size.
  virtual Status read_into(const TileKey& key, std::span<uint16_t> out) const {
    auto img = read(key);
    if (!img.ok()) return img.status();
    if (out.size() != img->pixel_count()) {
      return Status::invalid_argument(describe() + ": tile " + key.to_string() + ": buffer of " +
                                      std::to_string(out.size()) + " pixels for a plane of " +
                                      std::to_string(img->pixel_count()));
    }
    std::copy(img->pixels().begin(), img->pixels().end(), out.begin());
    return Status();
  }
  // The plane's stored (compressed) bytes, untouched, for zero-recompression transport.
  virtual Result<StoredTile> read_chunk(const TileKey& key) const = 0;

  // Overview image of one channel; NotFound when the slide has none.
  virtual Result<Overview> read_overview(int32_t channel) const = 0;
  // Detection layers stored with the slide.
  virtual std::vector<std::string> detection_layers() const = 0;
  virtual Result<LabelTile> read_labels(const std::string& layer, const TileKey& key) const = 0;
  // The layer's object table as JSON text (an array of objects).
  virtual Result<std::string> read_objects_json(const std::string& layer) const = 0;

  // The register part's results (registered field positions, colour
  // offsets); NotFound when the slide has not been registered.
  virtual Result<Registration> read_registration() const {
    return Status::not_found(describe() + ": no registration stored");
  }
  // The shading model of one channel; NotFound when none is stored.
  virtual Result<FlatField> read_flatfield(int32_t channel) const {
    return Status::not_found(describe() + ": no flat-field stored for channel " +
                             std::to_string(channel));
  }
};

// Writes a virtual slide. Every method is safe to call from many threads at
// once: write_plane encodes in the calling thread, outside any global lock,
// and only moves the finished chunk into the file under the writer's lock, so
// N calling threads compress N planes in parallel.
//
// A field's stage position (write_field) must precede or accompany its planes.
// Nothing written is visible as "complete" until finish(); a writer that dies
// leaves a slide in state kScanning, readable up to its last complete tile.
class SlideWriter {
 public:
  virtual ~SlideWriter() = default;

  virtual Status write_field(const FieldOfView& field) = 0;
  virtual Status write_plane(const TileKey& key, const Image16View& pixels) = 0;
  // Stores already-encoded bytes (e.g. as they came from the scanner), after
  // checking their framing says the plane size (no decode for Blosc: the
  // content is the caller's checksum's job). The codec must match the slide's.
  virtual Status write_stored(const StoredTile& tile) = 0;
  virtual Status write_overview(const Overview& overview) = 0;
  virtual Status write_labels(const std::string& layer, const TileKey& key, const LabelTile& tile) = 0;
  virtual Status write_objects_json(const std::string& layer, const std::string& json_array) = 0;
  // Stores (replacing) the register part's results. Raw planes and stage
  // positions are untouched.
  virtual Status write_registration(const Registration&) {
    return Status::failed_precondition("this slide writer cannot store a registration");
  }
  virtual Status write_flatfield(const FlatField&) {
    return Status::failed_precondition("this slide writer cannot store a flat-field");
  }
  // Makes everything written so far durable and visible to readers.
  virtual Status flush() = 0;
  // Sorts and writes the index, sets the final state, closes the file.
  virtual Status finish(SlideState final_state = SlideState::kComplete) = 0;
};

}  // namespace vslide
