#include "unsent_bytes.h"

#include <nlohmann/json.hpp>

#include "vslide/remote/protocol.h"

namespace vslide::remote {

namespace {

// A frame whose bytes count as unsent until ZeroMQ frees it.
struct CountedFrame {
  zmq::message_t frame;
  std::shared_ptr<std::atomic<size_t>> client, total;
  size_t bytes;
};

// Frames smaller than this are not worth a callback (a JSON reply, an empty
// delimiter); the message HWM bounds how many of them queue.
constexpr size_t kCountedFrameBytes = 4096;

}  // namespace

bool UnsentReplyBytes::admit(std::vector<zmq::message_t>& reply) {
  if (reply.size() < 3) return true;
  const std::string client = reply[0].to_string();
  size_t bytes = 0;
  for (size_t i = 1; i < reply.size(); ++i) bytes += reply[i].size();
  Count& mine = by_client_[client];
  if (!mine) mine = std::make_shared<std::atomic<size_t>>(0);
  const size_t unsent = mine->load(), all = total_->load();
  const bool client_full = unsent > 0 && unsent + bytes > max_per_client_;
  if (client_full || (all > 0 && all + bytes > max_total_)) {
    uint64_t id = 0;
    auto j = nlohmann::json::parse(reply[2].to_string_view(), nullptr, false);
    if (j.is_object() && j.contains("id") && j["id"].is_number_unsigned()) id = j["id"].get<uint64_t>();
    const std::string why = client_full ? std::to_string(unsent) + " bytes of replies to this client are not yet sent (limit " +
                                              std::to_string(max_per_client_) + "); read them, then retry"
                                        : std::to_string(all) + " bytes of replies are not yet sent to clients (limit " +
                                              std::to_string(max_total_) + "); retry later";
    reply.resize(2);
    reply.emplace_back(error_reply(id, WireError::kBusy, why).dump());
    return false;
  }
  for (size_t i = 1; i < reply.size(); ++i) {
    const size_t n = reply[i].size();
    if (n < kCountedFrameBytes) continue;
    auto* held = new CountedFrame{std::move(reply[i]), mine, total_, n};
    mine->fetch_add(n);
    total_->fetch_add(n);
    reply[i] = zmq::message_t(
        held->frame.data(), n,
        [](void*, void* hint) {
          auto* h = static_cast<CountedFrame*>(hint);
          h->client->fetch_sub(h->bytes);
          h->total->fetch_sub(h->bytes);
          delete h;
        },
        held);
  }
  // Forget clients with nothing unsent once there are many (clients come and go).
  if (by_client_.size() > 1024) {
    std::erase_if(by_client_, [](const auto& e) { return e.second.use_count() == 1 && e.second->load() == 0; });
  }
  return true;
}

}  // namespace vslide::remote
