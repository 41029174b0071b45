// Turns one request (the frames after the routing envelope) into its reply
// frames: ["", JSON, payload...]. Runs in a tile server worker thread.
// Never throws and never fails: every problem becomes an error reply.
#pragma once

#include <atomic>
#include <cstdint>
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
  std::atomic<uint64_t> refused_clients{0};
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
};

}  // namespace vslide::remote
