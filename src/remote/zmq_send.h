// Sending without ever blocking a loop that serves many peers.
#pragma once

#include <vector>

#include <zmq.hpp>

namespace vslide::remote {

// Sends every frame as one multipart message, or nothing when the peer's
// queue is full (EAGAIN). Returns false when dropped. Once the first frame
// is accepted ZeroMQ accepts the rest of the message.
inline bool send_all_or_drop(zmq::socket_t& socket, std::vector<zmq::message_t>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    const bool last = i + 1 == frames.size();
    auto flags = zmq::send_flags::dontwait | (last ? zmq::send_flags::none : zmq::send_flags::sndmore);
    if (!socket.send(frames[i], flags)) {
      if (i == 0) return false;
      // Mid-message EAGAIN cannot happen with ZeroMQ's atomic multipart; finish blocking.
      if (!socket.send(frames[i], last ? zmq::send_flags::none : zmq::send_flags::sndmore)) return false;
    }
  }
  return true;
}

}  // namespace vslide::remote
