// The tile server's request parser and handler: one client message, any bytes,
// against a real slide. An error reply or a reply, never a crash; replies are
// bounded (a batch at most kMaxBatchBytes).
#include <cstdint>
#include <memory>

#include "fuzz_support.h"
#include "request_handler.h"
#include "vslide/remote/protocol.h"

using namespace vslide;

namespace {
struct Server {
  std::shared_ptr<remote::SlideLibrary> library = std::make_shared<remote::SlideLibrary>();
  remote::TileServerOptions options;
  remote::ServerCounters counters;
  std::unique_ptr<remote::RequestHandler> handler;
  Server() {
    const std::string path = fuzz::make_small_slide("request");
    if (!library->add_file(path).ok()) abort();
    handler = std::make_unique<remote::RequestHandler>(*library, options, counters, "fuzz");
    ::unlink(path.c_str());  // the open slide keeps its mapping
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Server server;
  if (size > size_t(remote::kMaxRequestBytes)) return 0;  // the socket drops such frames
  std::vector<zmq::message_t> request;
  request.emplace_back();
  request.emplace_back(data, size);
  auto reply = server.handler->handle(request);
  if (reply.size() < 2) abort();
  size_t payload = 0;
  for (size_t i = 2; i < reply.size(); ++i) payload += reply[i].size();
  if (payload > remote::kMaxBatchBytes) abort();
  return 0;
}
