// RemoteSlide: a SlideSource served by a tile dealer (or a broker) over
// ZeroMQ, addressed as "tcp://host:port/SLIDE_ID" (or, for a server on this
// host's Unix socket, "ipc://SOCKET_PATH/SLIDE_ID").
//
// open() fetches the header, channel table and tile index once; read() and
// read_chunk() fetch one tile each (chunks as stored, decoded here in the
// calling thread, with one Blosc thread as local reads, and checked against
// each block's XXH3 checksum). Large tiles are streamed by default: asked for
// in several parts at once and decoded part by part as they arrive, so that
// decoding overlaps the transfer (RemoteSlideOptions::tile_parts). prefetch() asks
// for a set of tiles in the background, in batches, into a bounded cache of
// stored (compressed) tiles that read()/read_chunk() consult first.
//
// Each request waits at most timeout_ms for its reply and is sent once more
// on a fresh connection when none came (`retries`); a reply to an abandoned
// request is recognised by its id and ignored.
//
// CURVE: set server_public_key and a client key pair (Z85) in the options;
// open_from_env() reads them from the key files named by
// VSLIDE_CURVE_SERVER_KEY (the server's .key file) and VSLIDE_CURVE_CLIENT_KEY
// (the client's .key_secret file), so every command that opens a slide by
// URL can talk to a secured server.
//
// Thread-safety: every SlideSource method is safe from many threads at once;
// each concurrent request borrows its own socket from a pool. Failure modes:
// Unavailable or DeadlineExceeded naming the URL and the request when no reply
// came after the retry; the server's error (NotFound, OutOfRange, ...) with
// its message otherwise; Corruption when a block fails its checksum.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "vslide/core/slide_source.h"

namespace vslide::remote {

struct RemoteSlideOptions {
  int timeout_ms = 5000;
  int retries = 1;
  size_t cache_bytes = 256u << 20;  // stored bytes kept by the read-ahead cache; 0 = no cache
  size_t prefetch_batch = 8;        // tiles per background "tiles" request
  std::string server_public_key;    // Z85; empty = no CURVE
  std::string client_public_key;
  std::string client_secret_key;
  // Streamed reads: with tile_parts n > 1, read() of a Blosc tile of at
  // least stream_min_bytes raw bytes asks for it in n parts at once (one
  // "tile" request per part, docs/PROTOCOL.md) and decodes each part's Blosc
  // blocks while the next parts are still on the wire, when the server offers
  // parts (its header reply's "tile_parts"; n is capped at that and at
  // kMaxTileParts). read_chunk(), batches and the cache are unaffected. On by
  // default with the most parts the protocol allows: on the 2-vCPU project
  // machine, from a server with the default 256 KiB send buffer, 4 parts and
  // one request per tile measured alike at p50 for 2560x2160 tiles (medians
  // 1.33x and 1.34x local over 5 runs) and 4 parts better at p99 (1.32x
  // against 1.54x; docs/PERFORMANCE.md, "remote"). 1 = one request per tile.
  int tile_parts = 4;  // kMaxTileParts (protocol.h)
  size_t stream_min_bytes = 4u << 20;
  // Process-wide, once: raise glibc's mmap threshold to 32 MiB (and the trim
  // threshold to 128 MiB) so that the multi-megabyte reply buffers libzmq
  // allocates for every tile are recycled from the heap instead of being
  // mapped and page-faulted afresh each time. Measured (docs/PERFORMANCE.md):
  // remote read p50 1.9x -> 1.4x local on 2560x2160 tiles. Costs up to the
  // trim threshold of freed memory kept per malloc arena.
  bool tune_allocator = true;
};

class RemoteSlide final : public SlideSource {
 public:
  static Result<std::unique_ptr<RemoteSlide>> open(const std::string& url, RemoteSlideOptions options = {});
  // open() with CURVE keys from VSLIDE_CURVE_SERVER_KEY / VSLIDE_CURVE_CLIENT_KEY when set.
  static Result<std::unique_ptr<RemoteSlide>> open_from_env(const std::string& url, RemoteSlideOptions options = {});
  ~RemoteSlide() override;

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
  Result<StoredTile> read_chunk(const TileKey& key) const override;
  Result<Overview> read_overview(int32_t channel) const override;
  std::vector<std::string> detection_layers() const override;
  Result<LabelTile> read_labels(const std::string& layer, const TileKey& key) const override;
  Result<std::string> read_objects_json(const std::string& layer) const override;
  // The slide's registration and flat-fields (ops "registration", "flatfield").
  Result<Registration> read_registration() const override;
  Result<FlatField> read_flatfield(int32_t channel) const override;

  // Read-ahead: fetches these tiles in the background (replacing any earlier
  // set not yet fetched); returns at once. Tiles already cached are skipped.
  void prefetch(const std::vector<TileKey>& keys) const;
  // True when the tile's stored bytes are in the cache.
  bool cached(const TileKey& key) const;
  // Blocks until the background set is fetched (or failed); for tests and benchmarks.
  void wait_prefetch() const;
  // Several tiles in one request ("tiles"), in order; per-tile results.
  std::vector<Result<StoredTile>> read_chunks(const std::vector<TileKey>& keys) const;
  // The server's "status" reply body ("server" object) and the "list" reply.
  Result<nlohmann::json> server_status() const;
  Result<nlohmann::json> list_slides() const;

  struct Stats {
    uint64_t requests = 0, retries = 0, cache_hits = 0, cache_misses = 0, prefetched = 0;
  };
  Stats stats() const;

  struct Impl;

 private:
  explicit RemoteSlide(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The process-wide allocator tuning of RemoteSlideOptions::tune_allocator
// (idempotent, thread-safe). Benchmarks call it before measuring local reads
// too, so that both sides of a comparison run under the same allocator.
void tune_allocator_for_tiles();

// Decodes a stored tile into its plane: every block checked against its
// checksum, decoded with storage's codecs and placed; Corruption naming
// `where` and the tile on any mismatch. Used by RemoteSlide; public so that
// tests and other clients can check stored tiles the same way.
Result<Image16> decode_stored_tile(const StoredTile& tile, const std::string& where);

}  // namespace vslide::remote
