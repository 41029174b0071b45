// Turns one request (the frames after the routing envelope) into its reply
// frames: ["", JSON, payload...]. Runs in a tile server worker thread.
// Never throws and never fails: every problem becomes an error reply.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <zmq.hpp>

#include "vslide/remote/slide_library.h"
#include "vslide/remote/tile_server.h"

namespace vslide::remote {

// Counters shared by the workers of one server (all relaxed atomics).
struct ServerCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> tiles{0};
  std::atomic<uint64_t> payload_bytes{0};
  std::atomic<uint64_t> busy_rejections{0};
  std::atomic<uint64_t> malformed_messages{0};  // not ["", JSON]: answered by the front loop, never queued
};

// The stored chunks a server has checked against their slide's index since it
// opened the slide (by slide object: a slide closed and opened again is
// checked again). Bounded by the tiles of the open slides. Thread-safe.
class VerifiedChunks {
 public:
  bool contains(const std::shared_ptr<SlideSource>& slide, const TileKey& key) const;
  void add(const std::shared_ptr<SlideSource>& slide, const TileKey& key);

 private:
  struct Slide {
    std::weak_ptr<SlideSource> slide;  // tells a closed slide from a new one at its address
    std::unordered_set<TileKey, TileKeyHash> keys;
  };
  mutable std::mutex mutex_;
  std::unordered_map<const SlideSource*, Slide> slides_;  // guarded by mutex_
};

class RequestHandler {
 public:
  RequestHandler(const SlideLibrary& library, const TileServerOptions& options, ServerCounters& counters,
                 std::string server_name);

  std::vector<zmq::message_t> handle(std::vector<zmq::message_t>& request) const;

  // The "status" reply body, also used by the front loop.
  nlohmann::json status_json() const;
  void set_inflight_probe(std::function<nlohmann::json()> probe) { probe_ = std::move(probe); }

 private:
  struct Reply;
  void handle_json(const nlohmann::json& request, Reply& reply) const;
  // One part of a tile ("part": [index, count]); count 0 = the whole tile.
  struct Part {
    int index = 0, count = 0;
  };
  Status add_tile(const std::shared_ptr<SlideSource>& slide, const TileKey& key, nlohmann::json* meta, Reply& reply,
                  Part part) const;

  const SlideLibrary& library_;
  const TileServerOptions& options_;
  ServerCounters& counters_;
  std::string server_name_;
  std::function<nlohmann::json()> probe_;
  int64_t started_unix_ms_;
  mutable VerifiedChunks verified_;
};

}  // namespace vslide::remote
