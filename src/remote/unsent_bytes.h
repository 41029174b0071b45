// Bounds the bytes of replies a ROUTER socket holds for each client: ZeroMQ's
// own bound (ZMQ_SNDHWM) counts messages, and one reply may be 128 MiB, so
// 8 replies to a client that does not read held 1 GiB (issue 16).
//
// A reply's large frames are handed to ZeroMQ wrapped so that their bytes
// count as unsent until ZeroMQ frees them: once written to the client's
// connection, or dropped with it.
//
// Thread-safety: admit() from one thread (the loop that owns the socket);
// total() from any; the counts are decremented on ZeroMQ's I/O thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

namespace vslide::remote {

class UnsentReplyBytes {
 public:
  // A reply to a client with nothing unsent always goes, whatever its size.
  UnsentReplyBytes(size_t max_per_client, size_t max_total) : max_per_client_(max_per_client), max_total_(max_total) {}

  // reply = [client, "", JSON, payload...]. Counts its bytes as unsent to
  // that client and returns true; or, when that would pass either bound,
  // replaces it with [client, "", busy error reply] (the request's id kept,
  // the message saying which bound) and returns false.
  bool admit(std::vector<zmq::message_t>& reply);
  // Bytes handed to ZeroMQ and not yet freed by it, all clients together.
  size_t total() const { return total_->load(); }

 private:
  using Count = std::shared_ptr<std::atomic<size_t>>;
  size_t max_per_client_, max_total_;
  Count total_ = std::make_shared<std::atomic<size_t>>(0);
  std::map<std::string, Count> by_client_;  // by routing id; admit()'s thread only
};

}  // namespace vslide::remote
