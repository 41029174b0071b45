// RemoteSlide's insides, shared by remote_slide.cpp (requests, cache,
// read-ahead), tile_decode.cpp (checking and decoding tiles as received)
// and streamed_read.cpp (one tile in several parts, decoded as they arrive).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "tile_cache.h"
#include "vslide/remote/protocol.h"
#include "vslide/remote/remote_slide.h"

namespace vslide::remote {

using nlohmann::json;

// The "id" of a reply; 0 when absent or not an unsigned integer.
inline uint64_t reply_id_of(const json& body) {
  if (!body.is_object()) return 0;
  auto it = body.find("id");
  return it != body.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

struct Reply {
  json body;
  std::vector<zmq::message_t> payloads;
};

// Waits until `deadline` for the next reply on `socket` (["", JSON, payload...];
// other messages are skipped): its JSON, not yet checked (discarded when not
// JSON), and its payload frames. False when none came in time.
bool next_reply(zmq::socket_t& socket, std::chrono::steady_clock::time_point deadline, Reply* out);

// Decodes blocks given as (metadata, bytes) into the plane: each block checked
// against its checksum first; Corruption naming `where` and the tile otherwise.
Result<Image16> decode_blocks(const StoredTile& tile, const std::vector<std::span<const uint8_t>>& data,
                              const std::string& where);

// Checks a tile's metadata against the slide's geometry (check_tile_meta) and
// its payload frames (from *next on) and takes the frames.
Result<std::shared_ptr<const WireTile>> take_tile(const json& meta, std::vector<zmq::message_t>& payloads,
                                                  size_t* next, const std::string& where, const MosaicGeometry& g);

struct RemoteSlide::Impl {
  std::string url;
  RemoteUrl address;
  RemoteSlideOptions options;
  zmq::context_t context{1};

  // Set by open(); header fields are fixed afterwards, the rest guarded by mutex.
  SlideHeader header;
  MosaicGeometry geometry;
  std::vector<ChannelInfo> channels;
  CodecSpec codec;
  std::vector<int32_t> zoom_levels;
  std::vector<std::string> layers;
  mutable std::mutex mutex;
  SlideState state = SlideState::kScanning;  // guarded by mutex
  std::shared_ptr<const TileIndex> index;    // guarded by mutex

  mutable std::mutex pool_mutex;
  mutable std::vector<std::unique_ptr<zmq::socket_t>> pool;  // idle sockets, guarded by pool_mutex
  mutable std::atomic<uint64_t> next_id{1};
  mutable std::atomic<uint64_t> n_requests{0}, n_retries{0}, n_hits{0}, n_misses{0}, n_prefetched{0};

  mutable TileCache cache{0};

  // Read-ahead, guarded by prefetch_mutex.
  mutable std::mutex prefetch_mutex;
  mutable std::condition_variable prefetch_cv, prefetch_done_cv;
  mutable std::deque<TileKey> prefetch_queue;
  mutable bool prefetch_busy = false, prefetch_stop = false;
  mutable std::thread prefetch_thread;

  // The most parts the server streams a tile in (its header's "tile_parts"); 0 = it does not.
  int server_tile_parts = 0;
  // ZMQ_MAXMSGSIZE of new sockets: the floor until the header is known, then
  // max_reply_frame_bytes(geometry). Fixed once open() returns.
  int64_t max_frame_bytes = kMaxReplyFrameFloor;

  std::unique_ptr<zmq::socket_t> new_socket() const;
  // A pooled idle socket, or a new one; give it back only when nothing is in flight on it.
  std::unique_ptr<zmq::socket_t> borrow_socket() const;
  void return_socket(std::unique_ptr<zmq::socket_t> socket) const;
  Result<Reply> call(json request, const std::string& what) const;
  Result<std::shared_ptr<const WireTile>> fetch(const TileKey& key) const;
  // The tile as a StoredTile, every block checked against its checksum.
  Result<StoredTile> checked_stored(const WireTile& tile) const;
  std::vector<Result<std::shared_ptr<const WireTile>>> fetch_batch(const std::vector<TileKey>& keys) const;
  // How many parts read() asks for this tile in (1 = one plain request).
  int parts_for(const TileKey& key) const;
  // read() of a tile streamed in `parts` parts, decoded as they arrive (streamed_read.cpp).
  Result<Image16> read_streamed(const TileKey& key, int parts) const;
  Status load_header();
  Status load_index();
  void prefetch_loop() const;
};


}  // namespace vslide::remote
