#include "vslide/acquire/slide_proxy.h"

#include <blosc.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "slide_proxy_impl.h"
#include "vslide/storage/codec.h"

namespace vslide::acquire {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Warm-up before the endpoint is handed out: at most this many bytes of
// plane-sized messages (at least one, at most four).
constexpr size_t kWarmUpBytes = 24u << 20;
constexpr auto kWarmUpTimeout = std::chrono::seconds(5);
constexpr uint64_t kFrameSlack = 64u << 10;

}  // namespace


SlideProxy::SlideProxy(const ScanSettings& settings, Spool* spool, ScanWriter* writer)
    : impl_(std::make_unique<Impl>()), settings_(settings), spool_(spool), writer_(writer) {
  // Free buffers are kept up to the memory budget: with the fields in
  // flight, the writer process holds at most about twice --max-buffer-mb.
  impl_->buffers = BufferPool::create(settings_.max_buffer_bytes);
}

SlideProxy::~SlideProxy() = default;

Result<bool> SlideProxy::restore() {
  for (const TileKey& k : writer_->planes_in_file()) acked_[k] = 0;
  size_t requeued = 0;
  Status st = spool_->replay([&](const std::string& meta_text, std::vector<uint8_t> payload,
                                 const SpoolRef& ref) -> Status {
    auto meta_json = parse_message(std::span(reinterpret_cast<const uint8_t*>(meta_text.data()), meta_text.size()),
                                   "spool record");
    if (!meta_json.ok()) return meta_json.status();
    std::string type = (*meta_json)["type"];
    if (type == "end" || type == "abort") {
      end_kind_ = type;
      return Status();
    }
    auto meta = field_meta_from_json(*meta_json);
    if (!meta.ok()) return meta.status();
    // Every spool record goes to the writer again, even when the file lists
    // its plane: a write cut short by a full disk may have left the plane
    // listed but unreadable, and writing the same bytes again is harmless.
    acked_[meta->key] = meta->checksum;
    PendingField f{*meta, Payload(), ref};
    if (writer_->may_buffer(payload.size())) f.bytes = Payload(std::move(payload));
    writer_->enqueue(std::move(f));
    ++requeued;
    return Status();
  });
  if (!st.ok()) return st.with_context("slide proxy " + settings_.slide_id + ": spool replay");
  std::fprintf(stderr, "slide proxy %s: restored %zu acknowledged planes, %zu from the spool into the file%s\n",
               settings_.slide_id.c_str(), acked_.size(), requeued,
               end_kind_ ? (", scan had ended (" + *end_kind_ + ")").c_str() : "");
  return end_kind_.has_value();
}

Status SlideProxy::set_up_curve() {
  if (settings_.curve_secret_key_file.empty()) return Status();
  const std::string who = "slide proxy " + settings_.slide_id;
  auto keys = remote::read_key_file(settings_.curve_secret_key_file);
  if (!keys.ok()) return keys.status().with_context(who);
  std::vector<remote::ZapDomain> domains{
      {remote::kScannerZapDomain, settings_.authorized_keys_dir, {keys->public_key}}};
  auto zap = remote::ZapAuthenticator::start(impl_->ctx, std::move(domains), [this](const std::string& line) {
    std::fprintf(stderr, "slide proxy %s: %s\n", settings_.slide_id.c_str(), line.c_str());
  });
  if (!zap.ok()) return zap.status().with_context(who);
  impl_->zap = std::move(zap).value();
  VSLIDE_RETURN_IF_ERROR(remote::set_curve_server(impl_->sock, *keys, remote::kScannerZapDomain).with_context(who));
  impl_->keys = *keys;
  return Status();
}

Result<std::string> SlideProxy::bind() {
  VSLIDE_RETURN_IF_ERROR(set_up_curve());
  try {
    impl_->sock.set(zmq::sockopt::linger, 0);
    impl_->sock.set(zmq::sockopt::sndhwm, 0);
    // No frame larger than a plane can be: a Blosc stream of the plane (its
    // worst case adds 16 bytes) plus room for the JSON frame.
    impl_->sock.set(zmq::sockopt::maxmsgsize, int64_t(settings_.spec.geometry.plane_bytes() + kFrameSlack));
    impl_->sock.bind("tcp://" + settings_.bind_host + ":*");
    impl_->endpoint = impl_->sock.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::io_error("slide proxy " + settings_.slide_id + ": bind tcp://" + settings_.bind_host +
                            ":*: " + e.what());
  }
  warm_up();
  return impl_->endpoint;
}

void SlideProxy::warm_up() {
  // A scan's first fields would otherwise land in memory that nothing has
  // touched yet (ZeroMQ's receive buffers, allocated by its I/O thread), and
  // on the VMs measured a fresh 4 KB page costs ~15 us: the first acks of a
  // scan took 30-50 ms (docs/PERFORMANCE.md, "acquire"). A few plane-sized
  // messages travel the scanner's path (TCP, the I/O thread, a read here)
  // and are dropped; the fields reuse their memory. Plane-sized, because no
  // field is larger: every field then fits the memory freed here. Best
  // effort: a failure only leaves the memory cold.
  const size_t bytes = std::max<size_t>(settings_.spec.geometry.plane_bytes(), 1);
  const size_t count = std::clamp<size_t>(kWarmUpBytes / bytes, 1, 4);
  auto source = std::make_shared<const std::vector<uint8_t>>(bytes, 0);
  try {
    zmq::socket_t peer(impl_->ctx, zmq::socket_type::dealer);
    peer.set(zmq::sockopt::linger, 0);
    if (impl_->keys) {
      // The proxy's own key: admitted by its ZAP handler, refused as a
      // scanner by receive_one (the warm-up never reaches it anyway).
      if (Status st = remote::set_curve_client(peer, *impl_->keys, impl_->keys->public_key); !st.ok()) {
        std::fprintf(stderr, "slide proxy %s: warm-up skipped: %s\n", settings_.slide_id.c_str(), st.message().c_str());
        return;
      }
    }
    peer.connect(impl_->endpoint);
    for (size_t i = 0; i < count; ++i) {
      // Zero-copy; each message holds a reference, so the bytes live until
      // ZeroMQ is done with them even if the wait below gives up.
      auto* ref = new std::shared_ptr<const std::vector<uint8_t>>(source);
      zmq::message_t m(const_cast<uint8_t*>(source->data()), source->size(),
                       [](void*, void* hint) { delete static_cast<std::shared_ptr<const std::vector<uint8_t>>*>(hint); },
                       ref);
      peer.send(m, zmq::send_flags::none);
    }
    std::vector<zmq::message_t> held;  // all kept until the last arrives: each in memory of its own
    const auto deadline = Clock::now() + kWarmUpTimeout;
    while (held.size() < 2 * count && Clock::now() < deadline) {
      zmq::pollitem_t item{impl_->sock.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      zmq::message_t part;
      if (!impl_->sock.recv(part, zmq::recv_flags::dontwait)) continue;
      if (part.size() == bytes) (void)chunk_checksum(std::span(static_cast<const uint8_t*>(part.data()), part.size()));
      held.push_back(std::move(part));
    }
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "slide proxy %s: warm-up skipped: %s\n", settings_.slide_id.c_str(), e.what());
  }
}

Result<FinishReport> SlideProxy::finish_now(SlideState state) { return writer_->finish(state); }

}  // namespace vslide::acquire
