// TileServer: the tile dealer. Serves the slides of a SlideLibrary over
// ZeroMQ with the protocol of docs/PROTOCOL.md.
//
//   clients ──► ROUTER front ──► front loop ──► inproc ROUTER ──► N worker threads
//
// The front is either a ROUTER bound to an address (clients connect
// directly) or a DEALER connected to a broker's backend (`vslide broker`),
// announcing itself with READY and exchanging heartbeats. The front loop hands
// each request to an idle worker (least-recently-used first) or queues it
// (at most max_queue; beyond that the request gets a "busy" error reply at
// once). Workers read the stored chunk with SlideSource::read_chunk and send
// its bytes in their own frames without copying them.
//
// Memory is bounded: requests are at most kMaxRequestBytes a frame (bigger
// ones drop the sender's connection); a message that is not exactly
// ["", JSON] is answered malformed_request by the front loop at once, never
// queued; at most max_queue requests, max_queue_bytes of them and
// max_queued_per_client from one client wait for a worker; each worker
// holds one reply, and at most send_hwm replies and
// max_unsent_bytes_per_client bytes of replies queue per client (and
// max_unsent_bytes for all clients); a client that does not read (slow or
// gone) loses its replies beyond that (dropped past send_hwm, answered
// "busy" past the bytes), never stalling the others.
//
// Thread-safety: start() and the destructor from one thread; endpoint() and
// status() from any. Failure modes: start() returns IOError naming the
// address when the bind/connect fails, InvalidArgument for unreadable key
// files; afterwards nothing a client sends can stop the server.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "vslide/core/status.h"
#include "vslide/remote/slide_library.h"

namespace vslide::remote {

// The kernel send buffer (SO_SNDBUF) that servers and brokers give the
// sockets tiles leave on, in bytes. A fixed 256 KiB (Linux doubles it) keeps
// the sending I/O thread from copying megabytes into the socket ahead of the
// receiver: on loopback and LAN links a 2560x2160 tile arrives in about half
// the time of the kernel's autotuned buffer (docs/PERFORMANCE.md, "remote").
// It also caps one connection at about buffer / round-trip time: over long
// links (WAN) raise it, or give 0 for the kernel's autotuning. Below
// kMinSendBufferBytes transfers stalled (64 KiB: a 400-reply loopback run did
// not finish in 60 s; cause not traced), so smaller values are refused.
inline constexpr int kDefaultSendBufferBytes = 256 << 10;
inline constexpr int kMinSendBufferBytes = 128 << 10;

// InvalidArgument naming `who` unless `bytes` is 0 or at least kMinSendBufferBytes.
Status check_send_buffer(int bytes, const std::string& who);

enum class ServeMode {
  kStored,      // send chunks exactly as stored (the product)
  kRecompress,  // decode and re-encode each tile first (the paper's path; a benchmark baseline)
};

struct TileServerOptions {
  std::string bind;     // e.g. "tcp://127.0.0.1:5555" or "tcp://127.0.0.1:*"
  std::string connect;  // broker backend, e.g. "tcp://127.0.0.1:5556" (instead of bind)
  int workers = 2;
  size_t max_queue = 256;  // requests waiting for a worker
  int send_hwm = 8;        // replies queued per client before they are dropped
  int send_buffer_bytes = kDefaultSendBufferBytes;  // SO_SNDBUF of the front socket; 0 = kernel autotuning
  ServeMode mode = ServeMode::kStored;
  // CURVE (bind mode): the server's key pair file (`vslide keygen`) and a
  // folder of authorised client public key files, re-read at every handshake
  // (a key removed from it refuses the next connection). Both or neither.
  // Connect mode (a dealer behind a broker with --dealer-keys): this dealer's
  // key pair file and the broker's public key file.
  std::string curve_secret_key_file;
  std::string authorized_keys_dir;
  std::string broker_public_key_file;
  // Bytes of requests that may wait for a worker, all clients together, and
  // requests one client may have waiting: past either, "busy" at once.
  size_t max_queue_bytes = 4u << 20;
  size_t max_queued_per_client = 2 * 4;
  // Bytes of replies handed to ZeroMQ and not yet written to the client's
  // connection, per client and all clients together (bind mode). A reply
  // that would pass either is answered "busy" instead; a reply to a client
  // with nothing unsent always goes (a batch may be up to 128 MiB).
  size_t max_unsent_bytes_per_client = 64u << 20;
  size_t max_unsent_bytes = 512u << 20;
  // Broker heartbeats (connect mode): interval and missed beats before the
  // broker is deemed gone and the dealer reconnects.
  int heartbeat_ms = 250;
  int heartbeat_liveness = 4;
  // Fault injection for tests: each worker sleeps this long before answering.
  int fault_delay_ms = 0;
  // Where log lines go (refused clients, broker reconnects); stderr if unset.
  std::function<void(const std::string&)> log;
};

class TileServer {
 public:
  static Result<std::unique_ptr<TileServer>> start(std::shared_ptr<const SlideLibrary> library,
                                                   TileServerOptions options);
  ~TileServer();  // stops the workers and closes the sockets
  TileServer(const TileServer&) = delete;
  TileServer& operator=(const TileServer&) = delete;

  // The bound address with the real port (ZMQ_LAST_ENDPOINT) in bind mode;
  // the broker address in connect mode.
  std::string endpoint() const;
  // Counters as the "status" request reports them.
  nlohmann::json status() const;

  struct Impl;

 private:
  explicit TileServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vslide::remote
