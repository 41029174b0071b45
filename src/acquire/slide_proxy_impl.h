// SlideProxy's private state, shared by slide_proxy.cpp (restore, bind,
// warm-up) and slide_proxy_run.cpp (serving a scan).
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "vslide/acquire/slide_proxy.h"
#include "vslide/core/large_buffer.h"
#include "vslide/remote/curve.h"

namespace vslide::acquire {

struct SlideProxy::Impl {
  std::shared_ptr<BufferPool> buffers;
  zmq::context_t ctx{1};
  // With CURVE: admits the manager's authorised scanner keys (re-read at
  // every handshake) and the proxy's own key (its warm-up); destroyed
  // before ctx, after sock.
  std::unique_ptr<remote::ZapAuthenticator> zap;
  std::optional<remote::CurveKeyPair> keys;
  zmq::socket_t sock{ctx, zmq::socket_type::router};
  std::string endpoint;
};

}  // namespace vslide::acquire
