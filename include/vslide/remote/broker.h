// Broker: many tile dealers behind one address.
//
//   clients ──► ROUTER frontend ──► broker loop ──► ROUTER backend ◄── dealers (`vslide serve --connect`)
//
// Clients speak the ordinary protocol to the frontend and cannot tell a
// broker from a server. Dealers announce themselves with READY and a
// capacity (concurrent requests they take); the broker hands each request to
// the dealer with the most free capacity, keeps a copy until the reply
// comes, and exchanges heartbeats. A dealer silent for heartbeat_ms x
// liveness is declared dead and its unanswered requests go to another dealer,
// so a dealer dying mid-request costs the client time, not an error (the
// client's own retry covers the rest). Replies pass through untouched.
//
// Memory is bounded: at most max_queue requests wait for a dealer (beyond
// that the client gets a "busy" error reply), request frames are at most
// kMaxRequestBytes, and at most send_hwm replies queue per client.
//
// Thread-safety: start() and the destructor from one thread, the accessors
// from any. Failure modes: start() returns IOError naming the address that
// could not be bound, InvalidArgument for bad key files.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "vslide/core/status.h"
#include "vslide/remote/tile_server.h"

namespace vslide::remote {

struct BrokerOptions {
  std::string frontend;  // clients connect here, e.g. "tcp://127.0.0.1:5555"
  std::string backend;   // dealers connect here, e.g. "tcp://127.0.0.1:5556"
  int heartbeat_ms = 250;
  int heartbeat_liveness = 4;
  size_t max_queue = 1024;
  int send_hwm = 8;
  int send_buffer_bytes = kDefaultSendBufferBytes;  // SO_SNDBUF of the frontend (see tile_server.h); 0 = kernel autotuning
  // Optional CURVE on the frontend (see TileServerOptions).
  std::string curve_secret_key_file;
  std::string authorized_keys_dir;
  std::function<void(const std::string&)> log;  // stderr if unset
};

class Broker {
 public:
  static Result<std::unique_ptr<Broker>> start(BrokerOptions options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Bound addresses with their real ports (ZMQ_LAST_ENDPOINT).
  std::string frontend_endpoint() const;
  std::string backend_endpoint() const;
  // {"dealers","queued","requests","replies","redispatched","busy_rejections"}.
  nlohmann::json status() const;

  struct Impl;

 private:
  explicit Broker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vslide::remote
