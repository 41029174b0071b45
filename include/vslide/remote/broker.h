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
// that the client gets a "busy" error reply), a request is exactly
// [client, "", JSON] with the JSON at most kMaxRequestBytes (any other
// message is answered malformed_request at once, never queued), and at most
// send_hwm replies queue per client. A reply is forwarded only when its
// sequence number is in flight at the dealer that sends it, and then to the
// client that asked, whatever client frame the dealer echoes.
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
  // Bytes of replies not yet written to a client's connection, per client
  // and in all, past which a reply is answered "busy" (as TileServerOptions).
  size_t max_unsent_bytes_per_client = 64u << 20;
  size_t max_unsent_bytes = 512u << 20;
  int send_buffer_bytes = kDefaultSendBufferBytes;  // SO_SNDBUF of the frontend (see tile_server.h); 0 = kernel autotuning
  // CURVE: the broker's key pair file (`vslide keygen`), used on both sides.
  // authorized_keys_dir: CURVE on the frontend, admitting these client keys.
  // dealer_keys_dir: CURVE on the backend (ZAP domain "vslide-dealers"),
  // admitting only dealers whose public key is in this folder; dealers give
  // the broker's public key (`serve --connect B --broker-key FILE`). A CURVE
  // frontend with a plaintext TCP backend is refused: anyone reaching the
  // backend could register as a dealer and read or answer every request.
  // Both folders are re-read at every handshake (a removed key refuses the next
  // connection).
  std::string curve_secret_key_file;
  std::string authorized_keys_dir;
  std::string dealer_keys_dir;
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
  // {"dealers","queued","requests","replies","redispatched","busy_rejections",
  //  "dropped_replies" (replies that matched no request in flight at that dealer),
  //  "malformed" (client messages not [client, "", JSON] that were refused)}.
  nlohmann::json status() const;

  struct Impl;

 private:
  explicit Broker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vslide::remote
