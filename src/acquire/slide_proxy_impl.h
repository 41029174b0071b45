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

namespace vslide::acquire {

struct SlideProxy::Impl {
  std::shared_ptr<BufferPool> buffers;
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::router};
  std::string endpoint;
};

}  // namespace vslide::acquire
