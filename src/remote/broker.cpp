#include "vslide/remote/broker.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <deque>
#include <iostream>
#include <map>
#include <thread>

#include <zmq_addon.hpp>

#include "broker_wire.h"
#include "unsent_bytes.h"
#include "vslide/remote/curve.h"
#include "vslide/remote/protocol.h"
#include "zmq_send.h"

namespace vslide::remote {

using Clock = std::chrono::steady_clock;
using Frames = std::vector<zmq::message_t>;
namespace bw = broker_wire;

namespace {

Frames copy_frames(const Frames& in) {
  Frames out;
  out.reserve(in.size());
  for (const auto& f : in) out.emplace_back(f.data(), f.size());
  return out;
}

std::string seq_bytes(uint64_t seq) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8) s[size_t(i)] = char(seq & 0xff);
  return s;
}

uint64_t seq_value(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = (v << 8) | uint8_t(c);
  return v;
}

std::string printable_id(std::string_view id) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : id) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace

struct Broker::Impl {
  BrokerOptions options;
  zmq::context_t context{1};
  std::unique_ptr<ZapAuthenticator> zap;
  std::unique_ptr<zmq::socket_t> frontend, backend;
  std::unique_ptr<UnsentReplyBytes> unsent;  // replies not yet written to clients; the broker thread's
  std::string frontend_endpoint, backend_endpoint;
  std::atomic<bool> stop{false};
  std::thread thread;
  std::atomic<uint64_t> requests{0}, replies{0}, redispatched{0}, busy{0}, dropped_replies{0}, malformed{0};
  std::atomic<size_t> dealer_count{0}, queued_count{0};

  struct Dealer {
    int capacity = 1;
    std::map<uint64_t, Frames> inflight;  // seq -> [client, request frames...] (a copy, for re-dispatch)
    Clock::time_point expiry;
  };
  // Owned by the broker thread.
  std::map<std::string, Dealer> dealers;
  std::deque<std::pair<uint64_t, Frames>> pending;  // seq, [client, request frames...]
  uint64_t next_seq = 1;

  void log(const std::string& line) const {
    if (options.log) options.log(line);
    else std::cerr << "vslide broker: " << line << "\n";
  }
  std::chrono::milliseconds expiry_span() const {
    return std::chrono::milliseconds(options.heartbeat_ms * options.heartbeat_liveness);
  }
  void send_control(const std::string& dealer, std::string_view cmd) {
    std::array<zmq::const_buffer, 3> msg = {zmq::buffer(dealer), zmq::buffer(bw::kTag), zmq::buffer(cmd)};
    (void)zmq::send_multipart(*backend, msg, zmq::send_flags::dontwait);  // a full dealer queue skips one beat
  }
  void on_frontend();
  void on_backend();
  void dispatch();
  void purge_dead();
  void run();
};

void Broker::Impl::on_frontend() {
  Frames in;
  (void)zmq::recv_multipart(*frontend, std::back_inserter(in));
  if (in.empty()) return;
  // Exactly [client, "", JSON]: a message of more frames is refused at once, so
  // that no multi-frame message ever waits in the queue (docs/PROTOCOL.md, limits).
  if (in.size() != 3 || in[1].size() != 0) {
    ++malformed;
    Frames reply;
    reply.push_back(std::move(in[0]));
    reply.emplace_back();
    reply.emplace_back(error_reply(0, WireError::kMalformedRequest,
                                   "a request is exactly two frames: an empty delimiter and one JSON object").dump());
    send_all_or_drop(*frontend, reply);
    return;
  }
  ++requests;
  if (pending.size() >= options.max_queue) {
    ++busy;
    Frames reply;
    reply.push_back(std::move(in[0]));
    reply.emplace_back();
    reply.emplace_back(error_reply(0, WireError::kBusy, "broker queue full; retry later").dump());
    send_all_or_drop(*frontend, reply);
    return;
  }
  pending.emplace_back(next_seq++, std::move(in));
}

void Broker::Impl::on_backend() {
  Frames in;
  (void)zmq::recv_multipart(*backend, std::back_inserter(in));
  if (in.size() < 3 || in[1].to_string_view() != bw::kTag) return;  // not a dealer speaking our protocol
  const std::string id = in[0].to_string();
  const auto cmd = in[2].to_string_view();
  auto it = dealers.find(id);
  if (cmd == bw::kReady) {
    int capacity = 1;
    if (in.size() >= 4) {
      auto s = in[3].to_string_view();
      std::from_chars(s.data(), s.data() + s.size(), capacity);
    }
    if (it != dealers.end()) {  // reconnected: whatever it held is lost
      for (auto& [seq, req] : it->second.inflight) pending.emplace_front(seq, std::move(req));
    }
    Dealer d;
    d.capacity = std::max(1, std::min(capacity, 1024));
    d.expiry = Clock::now() + expiry_span();
    dealers[id] = std::move(d);
    log("dealer " + printable_id(id) + " ready, capacity " + std::to_string(dealers[id].capacity));
    return;
  }
  if (it == dealers.end()) {
    // A dealer we declared dead (or never met): make it introduce itself again.
    send_control(id, bw::kDisconnect);
  } else {
    it->second.expiry = Clock::now() + expiry_span();
  }
  if (cmd == bw::kReply && in.size() >= 5) {
    // Forward only the answer to a request this dealer holds, to the client that
    // sent it: a reply for a sequence number not in flight here (forged, or late
    // from a dealer whose requests went elsewhere) is dropped.
    if (it == dealers.end() || in[3].size() != 8) {
      ++dropped_replies;
      return;
    }
    auto req = it->second.inflight.find(seq_value(in[3].to_string_view()));
    if (req == it->second.inflight.end()) {
      ++dropped_replies;
      return;
    }
    Frames out;
    out.reserve(in.size() - 4);
    out.push_back(std::move(req->second[0]));  // the client identity as the request came
    for (size_t i = 5; i < in.size(); ++i) out.push_back(std::move(in[i]));
    it->second.inflight.erase(req);
    ++replies;
    if (!unsent->admit(out)) ++busy;
    send_all_or_drop(*frontend, out);  // [client, "", JSON, payload...]
  }
}

void Broker::Impl::dispatch() {
  while (!pending.empty()) {
    Dealer* best = nullptr;
    const std::string* best_id = nullptr;
    int best_free = 0;
    for (auto& [id, d] : dealers) {
      int free = d.capacity - int(d.inflight.size());
      if (free > best_free) {
        best = &d;
        best_id = &id;
        best_free = free;
      }
    }
    if (best == nullptr) return;
    auto [seq, request] = std::move(pending.front());
    pending.pop_front();
    Frames out;
    out.reserve(request.size() + 4);
    out.emplace_back(best_id->data(), best_id->size());
    out.emplace_back(bw::kTag.data(), bw::kTag.size());
    out.emplace_back(bw::kRequest.data(), bw::kRequest.size());
    const std::string sb = seq_bytes(seq);
    out.emplace_back(sb.data(), sb.size());
    Frames copy = copy_frames(request);
    for (auto& f : copy) out.push_back(std::move(f));
    if (!send_all_or_drop(*backend, out)) {
      pending.emplace_front(seq, std::move(request));
      return;
    }
    best->inflight.emplace(seq, std::move(request));
  }
}

void Broker::Impl::purge_dead() {
  const auto now = Clock::now();
  for (auto it = dealers.begin(); it != dealers.end();) {
    if (it->second.expiry > now) {
      ++it;
      continue;
    }
    const size_t lost = it->second.inflight.size();
    for (auto& [seq, req] : it->second.inflight) pending.emplace_front(seq, std::move(req));
    redispatched += lost;
    log("dealer " + printable_id(it->first) + " silent for " + std::to_string(expiry_span().count()) +
        " ms: removed, " + std::to_string(lost) + " unanswered request(s) sent to another dealer");
    it = dealers.erase(it);
  }
}

void Broker::Impl::run() {
  const auto beat = std::chrono::milliseconds(options.heartbeat_ms);
  auto next_beat = Clock::now() + beat;
  while (!stop) {
    try {
      zmq::pollitem_t items[] = {{frontend->handle(), 0, ZMQ_POLLIN, 0}, {backend->handle(), 0, ZMQ_POLLIN, 0}};
      // Take new client requests only while some dealer could take them or the queue has room.
      zmq::poll(items, 2, std::min(beat, std::chrono::milliseconds(100)));
      if (items[1].revents & ZMQ_POLLIN) on_backend();
      if (items[0].revents & ZMQ_POLLIN) on_frontend();
      const auto now = Clock::now();
      if (now >= next_beat) {
        for (auto& [id, d] : dealers) send_control(id, bw::kHeartbeat);
        purge_dead();
        next_beat = now + beat;
      }
      dispatch();
      dealer_count = dealers.size();
      queued_count = pending.size();
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;
      log(std::string("broker loop: ") + e.what());
    }
  }
  frontend.reset();
  backend.reset();
}

Result<std::unique_ptr<Broker>> Broker::start(BrokerOptions options) {
  if (options.frontend.empty() || options.backend.empty()) {
    return Status::invalid_argument("broker: needs a frontend and a backend address");
  }
  const bool any_dir = !options.authorized_keys_dir.empty() || !options.dealer_keys_dir.empty();
  if (options.curve_secret_key_file.empty() == any_dir) {
    return Status::invalid_argument(
        "broker: CURVE needs the broker's secret key file and an authorised keys folder (clients, dealers or both)");
  }
  if (!options.authorized_keys_dir.empty() && options.dealer_keys_dir.empty() &&
      options.backend.rfind("ipc://", 0) != 0 && options.backend.rfind("inproc://", 0) != 0) {
    return Status::invalid_argument("broker: a CURVE frontend needs a CURVE backend too (--dealer-keys DIR), or "
                                    "anyone reaching " + options.backend + " could serve or read every request");
  }
  VSLIDE_RETURN_IF_ERROR(check_send_buffer(options.send_buffer_bytes, "broker"));
  for (const auto& address : {options.frontend, options.backend}) {
    if (Status s = check_bind_address(address); !s.ok()) return Status::invalid_argument("broker: bind " + s.message());
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  Impl* raw = impl.get();
  const auto& o = impl->options;
  std::string where = o.frontend;
  try {
    impl->unsent = std::make_unique<UnsentReplyBytes>(o.max_unsent_bytes_per_client, o.max_unsent_bytes);
    impl->frontend = std::make_unique<zmq::socket_t>(impl->context, zmq::socket_type::router);
    impl->frontend->set(zmq::sockopt::linger, 0);
    impl->frontend->set(zmq::sockopt::sndhwm, o.send_hwm);
    impl->frontend->set(zmq::sockopt::maxmsgsize, kMaxRequestBytes);
    if (o.send_buffer_bytes > 0) impl->frontend->set(zmq::sockopt::sndbuf, o.send_buffer_bytes);
    CurveKeyPair keys;
    if (!o.curve_secret_key_file.empty()) {
      VSLIDE_ASSIGN_OR_RETURN(keys, read_key_file(o.curve_secret_key_file));
      if (keys.secret_key.empty()) return Status::invalid_argument(o.curve_secret_key_file + ": no secret-key");
      std::vector<ZapDomain> domains;
      if (!o.authorized_keys_dir.empty()) domains.push_back({kClientZapDomain, o.authorized_keys_dir, {}});
      if (!o.dealer_keys_dir.empty()) domains.push_back({kDealerZapDomain, o.dealer_keys_dir, {}});
      VSLIDE_ASSIGN_OR_RETURN(impl->zap, ZapAuthenticator::start(impl->context, std::move(domains),
                                                                 [raw](const std::string& l) { raw->log(l); }));
    }
    if (!o.authorized_keys_dir.empty()) {
      impl->frontend->set(zmq::sockopt::curve_server, true);
      impl->frontend->set(zmq::sockopt::curve_secretkey, keys.secret_key);
      impl->frontend->set(zmq::sockopt::zap_domain, std::string(kClientZapDomain));
    }
    impl->frontend->bind(o.frontend);
    impl->frontend_endpoint = impl->frontend->get(zmq::sockopt::last_endpoint);
    where = o.backend;
    impl->backend = std::make_unique<zmq::socket_t>(impl->context, zmq::socket_type::router);
    impl->backend->set(zmq::sockopt::linger, 0);
    // Dealer messages are control frames, replies of at most a batch (128 MiB of payload
    // in frames of at most one chunk) and their JSON: bound a frame like a client does.
    impl->backend->set(zmq::sockopt::maxmsgsize, int64_t(kMaxBatchBytes) + (int64_t(1) << 20));
    if (!o.dealer_keys_dir.empty()) {
      impl->backend->set(zmq::sockopt::curve_server, true);
      impl->backend->set(zmq::sockopt::curve_secretkey, keys.secret_key);
      impl->backend->set(zmq::sockopt::zap_domain, std::string(kDealerZapDomain));
    }
    impl->backend->bind(o.backend);
    impl->backend_endpoint = impl->backend->get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::io_error("broker: cannot bind " + where + ": " + e.what());
  }
  impl->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<Broker>(new Broker(std::move(impl)));
}

Broker::Broker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Broker::~Broker() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->zap.reset();
}

std::string Broker::frontend_endpoint() const { return impl_->frontend_endpoint; }
std::string Broker::backend_endpoint() const { return impl_->backend_endpoint; }

nlohmann::json Broker::status() const {
  return nlohmann::json{{"dealers", impl_->dealer_count.load()}, {"queued", impl_->queued_count.load()},
                        {"requests", impl_->requests.load()},    {"replies", impl_->replies.load()},
                        {"redispatched", impl_->redispatched.load()}, {"busy_rejections", impl_->busy.load()},
                        {"dropped_replies", impl_->dropped_replies.load()}, {"malformed", impl_->malformed.load()},
                        {"unsent_reply_bytes", impl_->unsent ? impl_->unsent->total() : 0}};
}

}  // namespace vslide::remote
