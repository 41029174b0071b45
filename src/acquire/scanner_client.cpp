#include "vslide/acquire/scanner_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "vslide/remote/curve.h"
#include "vslide/storage/codec.h"

namespace vslide::acquire {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Result<ScanTarget> target_from_reply(const json& r) {
  if (Status st = status_from_reply(r); !st.ok()) return st;
  ScanTarget t;
  t.slide_id = r.value("slide_id", "");
  t.path = r.value("path", "");
  if (r.value("type", "") == "finished") {
    t.finished = true;
    t.state = r.value("state", "");
    return t;
  }
  if (r.value("type", "") != "scan") return Status::internal("manager: unexpected reply " + r.dump());
  t.proxy = r.value("proxy", "");
  return t;
}

}  // namespace

// Replies from the manager are small (a scan reply, a status of a few
// scans); a proxy's "state" reply lists every acknowledged plane.
constexpr int64_t kMaxManagerReplyBytes = 1 << 20;
constexpr int64_t kReplyBytesPerPlane = 48;

// Reports a refused handshake on one socket (the peer's ZAP handler said no,
// or only one side uses CURVE): such a peer never answers, and waiting for
// its reply would end only in a timeout that says nothing of why.
class HandshakeWatch {
 public:
  // REQUIRES: `socket` not yet connected; outlives this watch.
  HandshakeWatch(zmq::context_t& ctx, zmq::socket_t& socket) : events_(ctx, zmq::socket_type::pair) {
    static std::atomic<uint64_t> next{0};
    const std::string endpoint = "inproc://vslide-scanner-handshake-" + std::to_string(next++);
    if (zmq_socket_monitor(socket.handle(), endpoint.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
      throw zmq::error_t();
    }
    events_.set(zmq::sockopt::linger, 0);
    events_.connect(endpoint);
  }
  zmq::socket_t& events() { return events_; }
  // Why the handshake failed; empty while none has.
  std::string failure() {
    std::vector<zmq::message_t> event;
    while (zmq::recv_multipart(events_, std::back_inserter(event), zmq::recv_flags::dontwait)) {
      if (!event.empty() && event[0].size() >= 6) {
        uint16_t id = 0;
        uint32_t value = 0;
        std::memcpy(&id, event[0].data(), 2);
        std::memcpy(&value, static_cast<const char*>(event[0].data()) + 2, 4);
        if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
          return "it refused this scanner's CURVE key (status " + std::to_string(value) +
                 "): the key is not in its authorised-keys folder";
        }
        return "the security handshake failed: the manager and this scanner disagree about CURVE (a wrong "
               "--manager-key, or --curve-secret-key on one side only)";
      }
      event.clear();
    }
    return std::string();
  }

 private:
  zmq::socket_t events_;
};

struct ScannerClient::Impl {
  zmq::context_t ctx{1};
  std::unique_ptr<zmq::socket_t> proxy;
  int ack_fd = -1;
  uint64_t seq = 0;
  std::optional<remote::CurveKeyPair> keys;  // CURVE: ours, and the manager's (= its proxies') public key
  std::string server_key;
  int64_t max_proxy_reply_bytes = kMaxManagerReplyBytes;

  // A DEALER socket with the client's limits: no reply frame above
  // max_reply_bytes is read in (ZMQ_MAXMSGSIZE), and CURVE when configured.
  std::unique_ptr<zmq::socket_t> open(const std::string& endpoint, int64_t max_reply_bytes,
                                      std::optional<HandshakeWatch>* watch = nullptr) {
    auto s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    s->set(zmq::sockopt::linger, 0);
    s->set(zmq::sockopt::maxmsgsize, max_reply_bytes);
    if (keys) {
      if (Status st = remote::set_curve_client(*s, *keys, server_key); !st.ok()) {
        throw zmq::error_t();  // cannot happen: the keys were checked when read
      }
    }
    if (watch) watch->emplace(ctx, *s);
    s->connect(endpoint);
    return s;
  }
  void connect(const std::string& endpoint) {
    proxy = open(endpoint, max_proxy_reply_bytes);
    proxy->set(zmq::sockopt::sndhwm, 0);
  }
  using Bytes = std::shared_ptr<const std::vector<uint8_t>>;
  // The pixel frame is sent without a copy: the message holds a reference
  // to the bytes until ZeroMQ has written them to the socket.
  void send(const json& meta, const Bytes& payload = nullptr) {
    std::vector<zmq::message_t> parts;
    parts.emplace_back(meta.dump());
    if (payload) {
      auto* hold = new Bytes(payload);
      parts.emplace_back(const_cast<uint8_t*>(payload->data()), payload->size(),
                         [](void*, void* hint) { delete static_cast<Bytes*>(hint); }, hold);
    }
    (void)zmq::send_multipart(*proxy, parts);
  }
  // One reply, or nullopt after timeout_ms.
  std::optional<json> receive(int timeout_ms) {
    zmq::pollitem_t item{proxy->handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
    if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(*proxy, std::back_inserter(parts), zmq::recv_flags::dontwait)) return std::nullopt;
    json j = json::parse(parts.back().to_string_view(), nullptr, false);
    if (j.is_discarded()) return json{{"type", "error"}, {"code", "Corruption"}, {"error", "reply is not JSON"}};
    return j;
  }
};

ScannerClient::ScannerClient(ScannerOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  if (options_.curve_secret_key_file.empty() != options_.manager_key_file.empty()) {
    curve_status_ = Status::invalid_argument("scanner: CURVE needs both its own key pair file and the manager's "
                                             "public key file");
  } else if (!options_.curve_secret_key_file.empty()) {
    auto mine = remote::read_key_file(options_.curve_secret_key_file);
    auto manager = remote::read_key_file(options_.manager_key_file);
    if (!mine.ok()) {
      curve_status_ = mine.status();
    } else if (mine->secret_key.empty()) {
      curve_status_ = Status::invalid_argument(options_.curve_secret_key_file +
                                               ": no secret-key (use the .key_secret file)");
    } else if (!manager.ok()) {
      curve_status_ = manager.status();
    } else {
      impl_->keys = *mine;
      impl_->server_key = manager->public_key;
    }
  }
  if (!options_.ack_log.empty()) {
    impl_->ack_fd = ::open(options_.ack_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (impl_->ack_fd < 0) {
      ack_log_status_ = Status::io_error("ack log " + options_.ack_log + ": " + std::strerror(errno));
    }
  }
}

Status ScannerClient::log_ack(const TileKey& key) {
  if (impl_->ack_fd < 0) return Status();
  std::string line = std::to_string(key.row) + " " + std::to_string(key.col) + " " + std::to_string(key.channel) +
                     " " + std::to_string(key.z) + " " + std::to_string(key.t) + "\n";
  const char* p = line.data();
  size_t n = line.size();
  while (n > 0) {
    ssize_t w = ::write(impl_->ack_fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Status::io_error("ack log " + options_.ack_log + ": write: " + std::strerror(errno));
    p += w;
    n -= size_t(w);
  }
  return Status();
}

ScannerClient::~ScannerClient() {
  if (impl_->ack_fd >= 0) ::close(impl_->ack_fd);
}

Result<json> ScannerClient::ask_manager(const json& request, double timeout_s) {
  VSLIDE_RETURN_IF_ERROR(curve_status_);
  try {
    std::optional<HandshakeWatch> watch;
    auto socket = impl_->open(options_.manager, kMaxManagerReplyBytes, &watch);
    zmq::socket_t& sock = *socket;
    std::array<zmq::message_t, 2> out{zmq::message_t(), zmq::message_t(request.dump())};
    (void)zmq::send_multipart(sock, out);
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      zmq::pollitem_t items[] = {{sock.handle(), 0, ZMQ_POLLIN, 0}, {watch->events().handle(), 0, ZMQ_POLLIN, 0}};
      if (left.count() > 0) zmq::poll(items, 2, left);
      if (items[0].revents & ZMQ_POLLIN) break;
      if (std::string why = watch->failure(); !why.empty()) {
        // Not Unavailable: retrying cannot help until the configuration changes.
        return Status::failed_precondition("manager " + options_.manager + ": " + why);
      }
      if (left.count() <= 0) {
        return Status::unavailable("manager " + options_.manager + ": no reply within " +
                                   std::to_string(int(timeout_s)) + " s");
      }
    }
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(sock, std::back_inserter(parts))) return Status::unavailable("manager: no reply");
    json j = json::parse(parts.back().to_string_view(), nullptr, false);
    if (j.is_discarded()) return Status::corruption("manager " + options_.manager + ": reply is not JSON");
    return j;
  } catch (const zmq::error_t& e) {
    return Status::unavailable("manager " + options_.manager + ": " + e.what());
  }
}

Result<ScanTarget> ScannerClient::begin(const ScanSpec& spec) {
  VSLIDE_RETURN_IF_ERROR(ack_log_status_);
  auto r = ask_manager(json{{"type", "begin_scan"}, {"version", kProtocolVersion}, {"spec", scan_spec_to_json(spec)}},
                       30);
  if (!r.ok()) return r.status();
  return target_from_reply(*r);
}

Result<ScanTarget> ScannerClient::resume(const std::string& slide_id) {
  VSLIDE_RETURN_IF_ERROR(ack_log_status_);
  auto deadline = Clock::now() + std::chrono::duration<double>(options_.reconnect_timeout_s);
  for (;;) {
    auto r = ask_manager(json{{"type", "resume_scan"}, {"slide_id", slide_id}}, options_.reply_timeout_s);
    Result<ScanTarget> t = r.ok() ? target_from_reply(*r) : Result<ScanTarget>(r.status());
    if (t.ok() || t.status().code() != StatusCode::kUnavailable || Clock::now() > deadline) return t;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Status ScannerClient::abort(const ScanTarget& target) {
  VSLIDE_RETURN_IF_ERROR(curve_status_);
  impl_->connect(target.proxy);
  impl_->send(json{{"type", "abort"}, {"seq", ++impl_->seq}});
  auto r = impl_->receive(int(options_.reply_timeout_s * 1000));
  if (!r) return Status::unavailable("proxy " + target.proxy + ": no reply to abort");
  return status_from_reply(*r);
}

Result<ScanReport> ScannerClient::stream(const ScanTarget& first_target, const ScanSpec& spec,
                                         const std::vector<PlaneToSend>& planes, const FrameFn& frame,
                                         const ProgressFn& progress) {
  ScanReport report;
  report.slide_id = first_target.slide_id;
  report.path = first_target.path;
  if (first_target.finished) {
    report.state = first_target.state;
    return report;
  }
  VSLIDE_RETURN_IF_ERROR(curve_status_);
  ScanTarget target = first_target;
  std::set<TileKey> acked;
  const uint64_t plane_bytes = spec.geometry.plane_bytes();
  impl_->max_proxy_reply_bytes = kMaxManagerReplyBytes + kReplyBytesPerPlane * int64_t(planes.size());
  ScanProgress prog;
  prog.total = planes.size();

  struct InFlight {
    size_t index;
    std::shared_ptr<const std::vector<uint8_t>> bytes;
    Clock::time_point sent;
  };
  std::map<uint64_t, InFlight> inflight;
  std::deque<InFlight> retry;
  std::optional<json> finished_reply;

  // Connects and learns what is acknowledged; false when the proxy is silent.
  auto hello = [&]() -> Result<bool> {
    impl_->connect(target.proxy);
    impl_->send(json{{"type", "hello"}, {"version", kProtocolVersion}});
    for (;;) {
      auto r = impl_->receive(int(options_.reply_timeout_s * 1000));
      if (!r) return false;
      if (Status st = status_from_reply(*r); !st.ok()) return st;
      if ((*r)["type"] == "finished") {
        finished_reply = *r;
        return true;
      }
      if ((*r)["type"] != "state") continue;  // a late reply from before
      for (const auto& k : (*r)["acked"]) {
        auto key = key_from_array(k);
        if (key.ok()) acked.insert(*key);
      }
      return true;
    }
  };
  // Finds the scan's live proxy through the manager and says hello again.
  auto reconnect = [&]() -> Status {
    ++report.reconnects;
    std::string last_answer = "no answer";
    auto deadline = Clock::now() + std::chrono::duration<double>(options_.reconnect_timeout_s);
    while (Clock::now() < deadline) {
      auto t = resume(target.slide_id);
      if (t.ok() && t->finished) {
        finished_reply = json{{"type", "finished"}, {"state", t->state}, {"path", t->path}};
        return Status();
      }
      if (t.ok()) {
        target = *t;
        auto h = hello();
        if (!h.ok()) return h.status();
        if (*h) {
          for (auto& [seq, f] : inflight) retry.push_back(std::move(f));
          inflight.clear();
          return Status();
        }
      } else if (t.status().code() != StatusCode::kUnavailable) {
        return t.status();
      } else {
        last_answer = t.status().message();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return Status::unavailable("scan " + target.slide_id + ": no slide proxy reachable for " +
                               std::to_string(int(options_.reconnect_timeout_s)) + " s (" + last_answer + "); " +
                               std::to_string(acked.size()) + " of " + std::to_string(planes.size()) +
                               " planes stored, " + std::to_string(planes.size() - std::min(acked.size(), planes.size())) +
                               " missing. Then: vslide scan --resume " + target.slide_id);
  };
  auto send_field = [&](InFlight f) {
    const PlaneToSend& p = planes[f.index];
    FieldMeta m;
    m.seq = ++impl_->seq;
    m.key = p.key;
    m.field = p.field;
    m.codec = spec.codec;
    m.width = spec.geometry.tile_width;
    m.height = spec.geometry.tile_height;
    m.checksum = chunk_checksum(*f.bytes);
    f.sent = Clock::now();
    impl_->send(field_meta_to_json(m), f.bytes);
    inflight[m.seq] = std::move(f);
    ++prog.sent;
  };

  {
    auto h = hello();
    if (!h.ok()) return h.status();
    if (!*h) VSLIDE_RETURN_IF_ERROR(reconnect());
  }
  for (const auto& p : planes) report.planes_skipped += acked.count(p.key);

  const auto start = Clock::now();
  auto last_reply = Clock::now();
  auto last_ack = Clock::now();
  bool warned_full = false;
  size_t next = 0, new_sent = 0;
  auto all_acked = [&] {
    return next >= planes.size() && inflight.empty() && retry.empty();
  };
  while (!finished_reply && !all_acked()) {
    // Fill the window: retries first, then new planes at the requested rate.
    while (int(inflight.size()) < options_.window) {
      if (!retry.empty()) {
        InFlight f = std::move(retry.front());
        retry.pop_front();
        if (!acked.count(planes[f.index].key)) send_field(std::move(f));
        continue;
      }
      while (next < planes.size() && acked.count(planes[next].key)) ++next;
      if (next >= planes.size()) break;
      if (options_.fps > 0 && seconds_since(start) < double(new_sent) / options_.fps) break;
      auto bytes = frame(next);
      if (!bytes.ok()) return bytes.status().with_context("plane " + planes[next].key.to_string());
      send_field(InFlight{next, std::move(bytes).value(), Clock::now()});
      ++next;
      ++new_sent;
    }
    if (inflight.empty() && retry.empty()) {
      if (next >= planes.size()) break;
      std::this_thread::sleep_for(std::chrono::microseconds(500));  // pacing
      continue;
    }
    auto r = impl_->receive(20);
    if (!r) {
      if (!inflight.empty() && seconds_since(last_reply) > options_.reply_timeout_s) {
        VSLIDE_RETURN_IF_ERROR(reconnect());
        last_reply = Clock::now();
      }
      continue;
    }
    last_reply = Clock::now();
    const std::string type = r->value("type", "");
    uint64_t seq = r->value("seq", uint64_t(0));
    auto it = inflight.find(seq);
    if (type == "finished") {
      finished_reply = *r;
      break;
    }
    if (it == inflight.end()) continue;  // a reply to a message resent since
    if (type == "ack") {
      const TileKey& key = planes[it->second.index].key;
      acked.insert(key);
      report.ack_latency_ms.push_back(seconds_since(it->second.sent) * 1000);
      ++report.planes_acked;
      ++prog.acked;
      prog.raw_bytes_acked += plane_bytes;
      prog.backlog_fields = r->value("backlog_fields", uint64_t(0));
      prog.buffered_bytes = r->value("buffered_bytes", uint64_t(0));
      prog.spool_bytes = r->value("spool_bytes", uint64_t(0));
      // The ack log is a test's oracle: a line it cannot write ends the scan.
      VSLIDE_RETURN_IF_ERROR(log_ack(key));
      last_ack = Clock::now();
      inflight.erase(it);
      if (progress) progress(prog);
    } else if (type == "busy") {
      ++report.busy_replies;
      const std::string why = r->value("error", std::string("busy"));
      if (report.busy_replies == 1 || (r->value("disk_full", false) && !warned_full)) {
        std::fprintf(stderr, "vslide scan: the slide server refuses planes for now (%s); retrying for up to %.0f s\n",
                     why.c_str(), options_.stall_timeout_s);
        warned_full = warned_full || r->value("disk_full", false);
      }
      if (seconds_since(last_ack) > options_.stall_timeout_s) {
        return Status::resource_exhausted(
            "scan " + target.slide_id + ": nothing stored for " + std::to_string(int(options_.stall_timeout_s)) +
            " s: " + why + "; " + std::to_string(acked.size()) + " of " + std::to_string(planes.size()) +
            " planes stored, " + std::to_string(planes.size() - std::min(acked.size(), planes.size())) +
            " missing. Free space on the slide server, then: vslide scan --resume " + target.slide_id);
      }
      retry.push_back(std::move(it->second));
      inflight.erase(it);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
      ++report.rejected;
      if (report.errors.size() < 20) report.errors.push_back(status_from_reply(*r).to_string());
      inflight.erase(it);
    }
  }
  report.seconds = seconds_since(start);

  // End the scan and wait for the finished file.
  const auto end_start = Clock::now();
  auto send_end = [&] { impl_->send(json{{"type", "end"}, {"seq", ++impl_->seq}}); };
  if (!finished_reply) send_end();
  last_reply = Clock::now();
  auto last_ping = Clock::now();
  bool stall_seen = false;
  Clock::time_point stalled_since{};
  while (!finished_reply) {
    if (seconds_since(end_start) > options_.finish_timeout_s) {
      return Status::deadline_exceeded("scan " + target.slide_id + ": file not finished within " +
                                       std::to_string(int(options_.finish_timeout_s)) + " s");
    }
    auto r = impl_->receive(100);
    if (r) {
      last_reply = Clock::now();
      if (Status st = status_from_reply(*r); !st.ok()) return st.with_context("end of scan " + target.slide_id);
      if ((*r)["type"] == "finished") finished_reply = *r;
      const std::string stalled = r->value("writer_stalled", std::string());
      if (stalled.empty()) {
        stall_seen = false;
      } else if (!stall_seen) {
        stall_seen = true;
        stalled_since = Clock::now();
        std::fprintf(stderr, "vslide scan: every plane is acknowledged, but the slide server cannot finish the file "
                     "yet: %s\n", stalled.c_str());
      } else if (seconds_since(stalled_since) > options_.stall_timeout_s) {
        return Status::resource_exhausted("scan " + target.slide_id + ": the file is not finished: " + stalled +
                                          "; every plane is acknowledged and kept in the server's spool. Free "
                                          "space, then `vslide scan --resume " + target.slide_id +
                                          "` waits for the finished file");
      }
      continue;
    }
    if (seconds_since(last_reply) > options_.reply_timeout_s) {
      VSLIDE_RETURN_IF_ERROR(reconnect());
      if (!finished_reply) send_end();
      last_reply = last_ping = Clock::now();
    } else if (seconds_since(last_ping) > options_.reply_timeout_s / 3) {
      impl_->send(json{{"type", "hello"}});  // a liveness ping while the file is finished
      last_ping = Clock::now();
    }
  }
  report.finish_seconds = seconds_since(end_start);
  report.state = finished_reply->value("state", "");
  if (finished_reply->contains("path")) report.path = (*finished_reply)["path"];
  report.planes_in_file = finished_reply->value("planes", int64_t(-1));
  report.planes_total = planes.size();
  size_t have = 0;
  for (const auto& p : planes) have += acked.count(p.key);
  // What the file holds is what counts (a resume of a finished scan knows
  // no acknowledgements); a slide never holds more than its scanner sent.
  if (report.planes_in_file >= 0) have = std::max(have, std::min(planes.size(), size_t(report.planes_in_file)));
  report.planes_missing = planes.size() - have;
  return report;
}

}  // namespace vslide::acquire
