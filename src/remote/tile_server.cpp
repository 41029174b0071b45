#include "vslide/remote/tile_server.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <iostream>
#include <map>
#include <thread>

#include <zmq_addon.hpp>

#include "broker_wire.h"
#include "request_handler.h"
#include "unsent_bytes.h"
#include "vslide/remote/curve.h"
#include "vslide/remote/protocol.h"
#include "zmq_send.h"

namespace vslide::remote {

using Clock = std::chrono::steady_clock;
using Frames = std::vector<zmq::message_t>;
namespace bw = broker_wire;

struct TileServer::Impl {
  std::shared_ptr<const SlideLibrary> library;
  TileServerOptions options;
  zmq::context_t context{2};
  std::unique_ptr<ZapAuthenticator> zap;
  ServerCounters counters;
  std::unique_ptr<RequestHandler> handler;
  std::unique_ptr<zmq::socket_t> front;    // owned by the front thread once started
  std::unique_ptr<zmq::socket_t> backend;  // likewise
  std::string endpoint;
  std::string backend_address;
  size_t envelope_frames = 1;  // [client] when bound; [seq, client] behind a broker
  std::atomic<bool> stop{false};
  std::atomic<size_t> idle_workers{0}, queued{0}, queued_bytes{0};
  std::unique_ptr<UnsentReplyBytes> unsent;  // bind mode; the front thread's
  std::thread front_thread;
  std::vector<std::thread> workers;

  void log(const std::string& line) const {
    if (options.log) options.log(line);
    else std::cerr << "vslide serve: " << line << "\n";
  }
  Status open_front();
  void worker_loop();
  void front_loop();
  void send_front(Frames& reply);     // reply = [envelope..., "", JSON, payload...]
  void reject_busy(Frames& request);  // request = [envelope..., rest...]
  void broker_hello();
};

Status TileServer::Impl::open_front() {
  try {
    const bool bound = !options.bind.empty();
    front = std::make_unique<zmq::socket_t>(context, bound ? zmq::socket_type::router : zmq::socket_type::dealer);
    front->set(zmq::sockopt::linger, 0);
    front->set(zmq::sockopt::sndhwm, bound ? options.send_hwm : 1000);
    front->set(zmq::sockopt::rcvhwm, 1000);
    front->set(zmq::sockopt::maxmsgsize, kMaxRequestBytes);
    if (options.send_buffer_bytes > 0) front->set(zmq::sockopt::sndbuf, options.send_buffer_bytes);
    if (!options.curve_secret_key_file.empty()) {
      VSLIDE_ASSIGN_OR_RETURN(auto keys, read_key_file(options.curve_secret_key_file));
      if (keys.secret_key.empty()) {
        return Status::invalid_argument(options.curve_secret_key_file + ": no secret-key (use the .key_secret file)");
      }
      if (bound) {
        front->set(zmq::sockopt::curve_server, true);
        front->set(zmq::sockopt::curve_secretkey, keys.secret_key);
        front->set(zmq::sockopt::zap_domain, std::string(kClientZapDomain));
      } else {
        // A dealer is the CURVE client of the broker's backend.
        VSLIDE_ASSIGN_OR_RETURN(auto broker, read_key_file(options.broker_public_key_file));
        front->set(zmq::sockopt::curve_serverkey, broker.public_key);
        front->set(zmq::sockopt::curve_publickey, keys.public_key);
        front->set(zmq::sockopt::curve_secretkey, keys.secret_key);
      }
    }
    // endpoint is written only here, before the front thread starts (reconnects
    // keep it: it is the broker's address either way).
    if (bound) {
      front->bind(options.bind);
      endpoint = front->get(zmq::sockopt::last_endpoint);
    } else {
      front->connect(options.connect);
      if (endpoint.empty()) endpoint = options.connect;
    }
  } catch (const zmq::error_t& e) {
    return Status::io_error("tile server: cannot " + std::string(options.bind.empty() ? "connect to " : "bind ") +
                            (options.bind.empty() ? options.connect : options.bind) + ": " + e.what());
  }
  return Status();
}

void TileServer::Impl::broker_hello() {
  const std::string capacity = std::to_string(options.workers * 2);
  std::array<zmq::const_buffer, 3> ready = {zmq::buffer(bw::kTag), zmq::buffer(bw::kReady), zmq::buffer(capacity)};
  // Dropped when the broker's queue is full: the heartbeat silence then makes us reconnect and say READY again.
  if (!zmq::send_multipart(*front, ready, zmq::send_flags::dontwait)) log("READY to broker not sent (queue full)");
}

void TileServer::Impl::worker_loop() {
  try {
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    // Bounded sends: once the server stops, the front loop no longer reads
    // the backend, and a blocking send there would never return (the
    // destructor then waits on this thread forever).
    socket.set(zmq::sockopt::sndtimeo, 100);
    socket.connect(backend_address);
    socket.send(zmq::str_buffer("READY"), zmq::send_flags::none);
    while (!stop) {
      zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
      Frames in;
      if (!zmq::recv_multipart(socket, std::back_inserter(in))) continue;
      if (in.size() < envelope_frames) continue;  // cannot happen: the front loop builds envelopes
      Frames rest;
      for (size_t i = envelope_frames; i < in.size(); ++i) rest.push_back(std::move(in[i]));
      in.resize(envelope_frames);
      if (options.fault_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options.fault_delay_ms));
      Frames reply = handler->handle(rest);
      for (auto& f : reply) in.push_back(std::move(f));
      // The inproc pair takes a multipart message whole or not at all; retry
      // in 100 ms steps while the server runs (a reply left at stop is dropped).
      while (!zmq::send_multipart(socket, in).has_value() && !stop) {
      }
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != ETERM) log(std::string("worker stopped: ") + e.what());
  }
}

void TileServer::Impl::send_front(Frames& reply) {
  if (options.bind.empty()) {
    Frames out;
    out.reserve(reply.size() + 2);
    out.emplace_back(bw::kTag.data(), bw::kTag.size());
    out.emplace_back(bw::kReply.data(), bw::kReply.size());
    for (auto& f : reply) out.push_back(std::move(f));
    send_all_or_drop(*front, out);
  } else {
    if (!unsent->admit(reply)) counters.busy_rejections.fetch_add(1, std::memory_order_relaxed);
    // ROUTER: an unknown or full peer drops the reply, never blocks.
    send_all_or_drop(*front, reply);
  }
}

void TileServer::Impl::reject_busy(Frames& request) {
  counters.busy_rejections.fetch_add(1, std::memory_order_relaxed);
  uint64_t id = 0;
  if (request.size() == envelope_frames + 2) {
    auto j = nlohmann::json::parse(request.back().to_string_view(), nullptr, false);
    if (j.is_object() && j.contains("id") && j["id"].is_number_unsigned()) id = j["id"].get<uint64_t>();
  }
  Frames reply;
  for (size_t i = 0; i < envelope_frames && i < request.size(); ++i) reply.push_back(std::move(request[i]));
  reply.emplace_back();
  reply.emplace_back(error_reply(id, WireError::kBusy, "server queue full (" + std::to_string(options.max_queue) +
                                                           " requests waiting); retry later").dump());
  send_front(reply);
}

void TileServer::Impl::front_loop() {
  std::deque<zmq::message_t> idle;  // worker identities, least recently used first
  std::deque<Frames> queue;         // [envelope..., rest...] waiting for a worker
  const bool dealer_mode = options.bind.empty();
  const auto beat = std::chrono::milliseconds(options.heartbeat_ms);
  auto last_from_broker = Clock::now(), last_beat_sent = Clock::now();
  if (dealer_mode) broker_hello();

  // What waits for a worker, in bytes and per client (the client's routing id,
  // the envelope's last frame), so that no one client and no flood of large
  // requests holds the queue.
  size_t queue_bytes = 0;
  std::map<std::string, size_t> queued_by_client;
  auto bytes_of = [](const Frames& f) {
    size_t n = 0;
    for (const auto& m : f) n += m.size();
    return n;
  };
  auto client_of = [&](const Frames& f) { return f[envelope_frames - 1].to_string(); };
  auto dispatch = [&](Frames&& request) {
    Frames out;
    out.reserve(request.size() + 1);
    out.push_back(std::move(idle.front()));
    idle.pop_front();
    for (auto& f : request) out.push_back(std::move(f));
    if (!zmq::send_multipart(*backend, out)) log("front loop: request not handed to a worker");
  };
  auto dequeue = [&]() {
    Frames request = std::move(queue.front());
    queue.pop_front();
    queue_bytes -= bytes_of(request);
    auto it = queued_by_client.find(client_of(request));
    if (it != queued_by_client.end() && --it->second == 0) queued_by_client.erase(it);
    return request;
  };
  auto admit = [&](Frames&& request) {
    // Exactly [envelope..., "", JSON]: anything else is answered here, at once, and
    // freed; a message of many frames never waits in the queue (docs/PROTOCOL.md).
    if (request.size() != envelope_frames + 2 || request[envelope_frames].size() != 0) {
      counters.malformed_messages.fetch_add(1, std::memory_order_relaxed);
      Frames reply;
      for (size_t i = 0; i < envelope_frames; ++i) reply.push_back(std::move(request[i]));
      reply.emplace_back();
      reply.emplace_back(error_reply(0, WireError::kMalformedRequest,
                                     "a request is exactly two frames: an empty delimiter and one JSON object").dump());
      send_front(reply);
      return;
    }
    if (!idle.empty()) {
      dispatch(std::move(request));
      return;
    }
    const size_t bytes = bytes_of(request);
    const std::string client = client_of(request);
    auto it = queued_by_client.find(client);
    const size_t mine = it == queued_by_client.end() ? 0 : it->second;
    if (queue.size() < options.max_queue && queue_bytes + bytes <= options.max_queue_bytes &&
        mine < options.max_queued_per_client) {
      queue_bytes += bytes;
      ++queued_by_client[client];
      queue.push_back(std::move(request));
    } else {
      reject_busy(request);
    }
  };

  while (!stop) {
    try {
      zmq::pollitem_t items[] = {{front->handle(), 0, ZMQ_POLLIN, 0}, {backend->handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, dealer_mode ? beat : std::chrono::milliseconds(100));
      if (items[1].revents & ZMQ_POLLIN) {
        Frames in;
        (void)zmq::recv_multipart(*backend, std::back_inserter(in));
        if (in.empty()) continue;
        idle.push_back(std::move(in[0]));
        if (!(in.size() == 2 && in[1].to_string_view() == "READY")) {
          Frames reply(std::make_move_iterator(in.begin() + 1), std::make_move_iterator(in.end()));
          send_front(reply);
        }
        while (!idle.empty() && !queue.empty()) dispatch(dequeue());
      }
      if (items[0].revents & ZMQ_POLLIN) {
        Frames in;
        (void)zmq::recv_multipart(*front, std::back_inserter(in));
        if (!dealer_mode) {
          if (!in.empty()) admit(std::move(in));  // [client, rest...]
        } else {
          last_from_broker = Clock::now();
          if (in.size() >= 2 && in[0].to_string_view() == bw::kTag) {
            const auto cmd = in[1].to_string_view();
            if (cmd == bw::kRequest && in.size() >= 4) {
              admit(Frames(std::make_move_iterator(in.begin() + 2), std::make_move_iterator(in.end())));
            } else if (cmd == bw::kDisconnect) {
              broker_hello();
            }
          }
        }
      }
      idle_workers = idle.size();
      queued = queue.size();
      queued_bytes = queue_bytes;
      if (dealer_mode) {
        const auto now = Clock::now();
        if (now - last_beat_sent >= beat) {
          std::array<zmq::const_buffer, 2> hb = {zmq::buffer(bw::kTag), zmq::buffer(bw::kHeartbeat)};
          (void)zmq::send_multipart(*front, hb, zmq::send_flags::dontwait);  // a full queue skips one beat
          last_beat_sent = now;
        }
        if (now - last_from_broker > beat * options.heartbeat_liveness) {
          log("broker " + options.connect + " silent for " +
              std::to_string(options.heartbeat_ms * options.heartbeat_liveness) + " ms; reconnecting");
          front.reset();
          if (Status s = open_front(); !s.ok()) {
            log(s.message());
            std::this_thread::sleep_for(beat);
            continue;
          }
          broker_hello();
          last_from_broker = now;
        }
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;
      log(std::string("front loop: ") + e.what());
    }
  }
  front.reset();
  backend.reset();
}

Status check_send_buffer(int bytes, const std::string& who) {
  if (bytes == 0 || bytes >= kMinSendBufferBytes) return Status();
  return Status::invalid_argument(who + ": send buffer of " + std::to_string(bytes) + " bytes; give 0 (kernel autotuning) or at least " +
                                  std::to_string(kMinSendBufferBytes) + " (smaller ones stall transfers)");
}

Result<std::unique_ptr<TileServer>> TileServer::start(std::shared_ptr<const SlideLibrary> library,
                                                      TileServerOptions options) {
  if (options.bind.empty() == options.connect.empty()) {
    return Status::invalid_argument("tile server: give exactly one of a bind address and a broker address");
  }
  if (!options.bind.empty() && options.curve_secret_key_file.empty() != options.authorized_keys_dir.empty()) {
    return Status::invalid_argument("tile server: CURVE needs both a secret key file and an authorised keys folder");
  }
  if (options.bind.empty() && (options.curve_secret_key_file.empty() != options.broker_public_key_file.empty() ||
                               !options.authorized_keys_dir.empty())) {
    return Status::invalid_argument("tile server: a dealer's CURVE needs its own key pair file and the broker's "
                                    "public key file (the broker authorises dealers, not the dealer clients)");
  }
  VSLIDE_RETURN_IF_ERROR(check_send_buffer(options.send_buffer_bytes, "tile server"));
  if (!options.bind.empty()) {
    if (Status s = check_bind_address(options.bind); !s.ok()) return Status::invalid_argument("tile server: bind " + s.message());
  }
  if (options.workers < 1) options.workers = 1;
  auto impl = std::make_unique<Impl>();
  impl->library = std::move(library);
  impl->options = std::move(options);
  impl->envelope_frames = impl->options.bind.empty() ? 2 : 1;
  if (!impl->options.bind.empty()) {
    impl->unsent = std::make_unique<UnsentReplyBytes>(impl->options.max_unsent_bytes_per_client,
                                                      impl->options.max_unsent_bytes);
  }
  Impl* raw = impl.get();
  if (!impl->options.authorized_keys_dir.empty()) {
    std::vector<ZapDomain> domains{{kClientZapDomain, impl->options.authorized_keys_dir, {}}};
    VSLIDE_ASSIGN_OR_RETURN(impl->zap, ZapAuthenticator::start(impl->context, std::move(domains),
                                                               [raw](const std::string& line) { raw->log(line); }));
  }
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  impl->handler = std::make_unique<RequestHandler>(*impl->library, impl->options, impl->counters,
                                                   std::string(host) + ":" + std::to_string(::getpid()));
  impl->handler->set_inflight_probe([raw] {
    return nlohmann::json{{"idle_workers", raw->idle_workers.load()}, {"queued", raw->queued.load()},
                          {"queued_bytes", raw->queued_bytes.load()}, {"unsent_reply_bytes", raw->unsent ? raw->unsent->total() : 0},
                          {"refused_clients", raw->zap ? raw->zap->refused() : 0}};
  });
  VSLIDE_RETURN_IF_ERROR(impl->open_front());
  try {
    impl->backend = std::make_unique<zmq::socket_t>(impl->context, zmq::socket_type::router);
    impl->backend->set(zmq::sockopt::linger, 0);
    impl->backend_address = "inproc://vslide-workers-" + std::to_string(reinterpret_cast<uintptr_t>(raw));
    impl->backend->bind(impl->backend_address);
  } catch (const zmq::error_t& e) {
    return Status::internal(std::string("tile server: inproc backend: ") + e.what());
  }
  for (int i = 0; i < impl->options.workers; ++i) impl->workers.emplace_back([raw] { raw->worker_loop(); });
  impl->front_thread = std::thread([raw] { raw->front_loop(); });
  return std::unique_ptr<TileServer>(new TileServer(std::move(impl)));
}

TileServer::TileServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TileServer::~TileServer() {
  impl_->stop = true;
  if (impl_->front_thread.joinable()) impl_->front_thread.join();
  for (auto& w : impl_->workers) w.join();
  impl_->zap.reset();
}

std::string TileServer::endpoint() const { return impl_->endpoint; }

nlohmann::json TileServer::status() const { return impl_->handler->status_json(); }

}  // namespace vslide::remote
