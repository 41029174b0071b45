#include "vslide/acquire/slide_proxy.h"

#include <blosc.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "vslide/core/large_buffer.h"
#include "vslide/storage/codec.h"

namespace vslide::acquire {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kBatchMaxMessages = 32;
constexpr size_t kBatchMaxBytes = 64u << 20;
constexpr auto kLingerAfterFinish = std::chrono::milliseconds(1500);
// Warm-up before the endpoint is handed out: at most this many bytes of
// plane-sized messages (at least one, at most four).
constexpr size_t kWarmUpBytes = 24u << 20;
constexpr auto kWarmUpTimeout = std::chrono::seconds(5);

zmq::message_t text_frame(const json& j) { return zmq::message_t(j.dump()); }

}  // namespace

struct SlideProxy::Impl {
  std::shared_ptr<BufferPool> buffers;
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::router};
  std::string endpoint;
};

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
    auto [it, fresh] = acked_.emplace(meta->key, meta->checksum);
    if (!fresh) {
      it->second = meta->checksum;
      spool_->mark_written(ref);  // the file already holds it
      return Status();
    }
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

Result<std::string> SlideProxy::bind() {
  try {
    impl_->sock.set(zmq::sockopt::linger, 0);
    impl_->sock.set(zmq::sockopt::sndhwm, 0);
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

Result<ProxyResult> SlideProxy::run(SlideState final_state) {
  auto& sock = impl_->sock;
  const MosaicGeometry geometry = settings_.spec.geometry;
  const uint64_t plane_bytes = geometry.plane_bytes();

  struct Reply {
    zmq::message_t identity;
    json body;
    std::optional<PendingField> field;  // to hand to the writer after the commit
    zmq::message_t pixels;               // the field's bytes, copied after the ack when kept in memory
    bool keep = false;
  };

  // Group commit pays only when a commit costs something (fdatasync); with
  // process durability each field is acknowledged as soon as it is spooled,
  // rather than after the rest of a batch.
  const size_t batch_max = spool_->sync_mode() == SyncMode::kPower ? kBatchMaxMessages : 1;
  std::optional<std::thread> finisher;
  std::atomic<bool> finished{false};
  Result<FinishReport> finish_result = Status::internal("not finished");
  std::vector<zmq::message_t> waiting_for_finish;  // identities to tell "finished"
  bool ended_by_scanner = false;
  Clock::time_point last_message = Clock::now();
  std::optional<Clock::time_point> linger_until;

  auto start_finish = [&](SlideState state) {
    finisher.emplace([&, state] {
      finish_result = writer_->finish(state);
      finished = true;
    });
  };
  auto finished_body = [&]() {
    if (!finish_result.ok()) return error_reply(finish_result.status());
    return json{{"type", "finished"},
                {"slide_id", settings_.slide_id},
                {"path", finish_result->path},
                {"state", std::string(slide_state_name(finish_result->state))},
                {"planes", finish_result->planes},
                {"failed_planes", finish_result->failed_planes},
                {"bytes_raw", finish_result->bytes_raw},
                {"bytes_stored", finish_result->bytes_stored}};
  };
  if (end_kind_) start_finish(*end_kind_ == "abort" ? SlideState::kFailed : final_state);

  for (;;) {
    if (finished && !linger_until) {
      for (auto& id : waiting_for_finish) {
        zmq::message_t copy(id.data(), id.size());
        std::array<zmq::message_t, 2> out{std::move(copy), text_frame(finished_body())};
        (void)zmq::send_multipart(sock, out, zmq::send_flags::dontwait);
      }
      waiting_for_finish.clear();
      linger_until = Clock::now() + kLingerAfterFinish;
    }
    if (linger_until && Clock::now() >= *linger_until) break;
    if (!finisher && settings_.idle_timeout_s > 0 &&
        std::chrono::duration<double>(Clock::now() - last_message).count() > settings_.idle_timeout_s) {
      std::fprintf(stderr,
                   "slide proxy %s: no message from the scanner for %.0f s: finishing the slide as failed "
                   "with the %zu planes acknowledged\n",
                   settings_.slide_id.c_str(), settings_.idle_timeout_s, acked_.size());
      start_finish(SlideState::kFailed);
    }

    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(50));
    if (!(item.revents & ZMQ_POLLIN)) continue;

    std::vector<Reply> replies;
    size_t batch_bytes = 0;
    while (replies.size() < batch_max && batch_bytes < kBatchMaxBytes) {
      std::vector<zmq::message_t> parts;
      auto got = zmq::recv_multipart(sock, std::back_inserter(parts), zmq::recv_flags::dontwait);
      if (!got) break;
      last_message = Clock::now();
      Reply r;
      r.identity = std::move(parts[0]);
      auto fail = [&](const Status& st, const json& seq) {
        r.body = error_reply(st);
        if (!seq.is_null()) r.body["seq"] = seq;
      };
      if (parts.size() < 2) {
        fail(Status::invalid_argument("message without a JSON frame"), nullptr);
        replies.push_back(std::move(r));
        continue;
      }
      auto msg = parse_message(std::span(static_cast<const uint8_t*>(parts[1].data()), parts[1].size()),
                               "slide proxy " + settings_.slide_id);
      if (!msg.ok()) {
        fail(msg.status(), nullptr);
        replies.push_back(std::move(r));
        continue;
      }
      const std::string type = (*msg)["type"];
      json seq = msg->contains("seq") ? (*msg)["seq"] : json(nullptr);
      if (type == "hello") {
        json keys = json::array();
        for (const auto& [k, sum] : acked_) keys.push_back(key_to_array(k));
        r.body = json{{"type", "state"},     {"slide_id", settings_.slide_id}, {"acked", keys},
                      {"ending", bool(finisher)}, {"finished", bool(finished)}};
        if (finished) r.body = finished_body();
      } else if (type == "field") {
        auto meta = field_meta_from_json(*msg);
        if (!meta.ok()) {
          fail(meta.status(), seq);
        } else if (finisher) {
          fail(Status::failed_precondition("field " + meta->key.to_string() + ": the scan has ended"), seq);
        } else if (parts.size() != 3) {
          fail(Status::invalid_argument("field " + meta->key.to_string() + ": expected one pixel frame, got " +
                                        std::to_string(parts.size() - 2)),
               seq);
        } else {
          const auto* data = static_cast<const uint8_t*>(parts[2].data());
          const size_t size = parts[2].size();
          const TileKey& key = meta->key;
          size_t decoded = size;
          if (meta->codec.family == CodecFamily::kBlosc &&
              blosc_cbuffer_validate(data, size, &decoded) != 0) {
            decoded = 0;
          }
          if (!geometry.contains(key) || key.level != 0) {
            fail(Status::out_of_range("field " + key.to_string() + ": outside the mosaic (" +
                                      std::to_string(geometry.rows) + "x" + std::to_string(geometry.cols) + ", " +
                                      std::to_string(geometry.channels) + " channels)"),
                 seq);
          } else if (meta->width != geometry.tile_width || meta->height != geometry.tile_height ||
                     decoded != plane_bytes) {
            fail(Status::invalid_argument(
                     "field " + key.to_string() + ": wrong size: " + std::to_string(meta->width) + "x" +
                     std::to_string(meta->height) + ", pixels decode to " + std::to_string(decoded) +
                     " bytes; the slide's planes are " + std::to_string(geometry.tile_width) + "x" +
                     std::to_string(geometry.tile_height) + " uint16 = " + std::to_string(plane_bytes) + " bytes"),
                 seq);
          } else if (meta->codec.family == CodecFamily::kGzip) {
            fail(Status::invalid_argument("field " + key.to_string() + ": gzip is not accepted on the wire"), seq);
          } else if (chunk_checksum(std::span(data, size)) != meta->checksum) {
            fail(Status::corruption("field " + key.to_string() + ": pixel frame checksum mismatch (damaged in transit)"),
                 seq);
          } else if (auto it = acked_.find(key); it != acked_.end()) {
            if (it->second != 0 && it->second != meta->checksum) {
              fail(Status::already_exists("field " + key.to_string() +
                                          ": duplicate with different pixels; the first one is kept"),
                   seq);
            } else {
              r.body = json{{"type", "ack"}, {"seq", seq}, {"key", key_to_array(key)}, {"duplicate", true}};
            }
          } else {
            std::string meta_text = msg->dump();
            auto ref = spool_->append(meta_text, std::span(data, size), meta->checksum);
            if (!ref.ok() && ref.status().code() == StatusCode::kResourceExhausted) {
              r.body = json{{"type", "busy"}, {"seq", seq}, {"error", ref.status().message()}};
            } else if (!ref.ok()) {
              fail(ref.status(), seq);
            } else {
              acked_[key] = meta->checksum;
              batch_bytes += size;
              PendingField f{*meta, Payload(), *ref};
              r.keep = writer_->may_buffer(size);
              r.body = json{{"type", "ack"}, {"seq", seq}, {"key", key_to_array(key)}, {"spilled", !r.keep}};
              r.field = std::move(f);
              r.pixels = std::move(parts[2]);
            }
          }
        }
      } else if (type == "end" || type == "abort") {
        if (!finisher) {
          auto ref = spool_->append(json{{"type", type}}.dump(), {});
          if (!ref.ok()) {
            fail(ref.status(), seq);
            replies.push_back(std::move(r));
            continue;
          }
          ended_by_scanner = true;
          end_kind_ = type;
        }
        r.body = json{{"type", "end_ack"}, {"seq", seq}, {"planes", acked_.size()}};
        waiting_for_finish.emplace_back(r.identity.data(), r.identity.size());
      } else {
        fail(Status::invalid_argument("unknown message type '" + type + "'"), seq);
      }
      replies.push_back(std::move(r));
    }

    // Group commit: one commit for the whole batch, then the acknowledgements.
    Status committed = spool_->commit();
    const uint64_t backlog = writer_->queued_fields();
    for (auto& r : replies) {
      if (!committed.ok() && (r.field || r.body.value("type", "") == "end_ack")) {
        json seq = r.body.value("seq", json(nullptr));
        r.body = error_reply(committed);
        r.body["seq"] = seq;
        r.field.reset();
      }
      if (r.body.value("type", "") == "ack") {
        r.body["backlog_fields"] = backlog + (r.field ? 1 : 0);  // this field is queued right after
        r.body["buffered_bytes"] = writer_->buffered_bytes();
        r.body["spool_bytes"] = spool_->live_bytes();
      }
      std::array<zmq::message_t, 2> out{std::move(r.identity), text_frame(r.body)};
      (void)zmq::send_multipart(sock, out, zmq::send_flags::dontwait);
      if (r.field) {
        if (r.keep) {
          // After the ack, off the camera's path: copied into a pooled
          // buffer (0.2 ms into warm pages) so that ZeroMQ's receive buffer
          // is freed at once and reused, warm, for the next field.
          const size_t size = r.pixels.size();
          auto held = impl_->buffers->acquire(size);
          std::memcpy(held->data(), r.pixels.data(), size);
          r.field->bytes = Payload(held, std::span<const uint8_t>(held->data(), size));
        }
        r.pixels = zmq::message_t();
        writer_->enqueue(std::move(*r.field));
      }
    }
    if (end_kind_ && !finisher && committed.ok()) {
      start_finish(*end_kind_ == "abort" ? SlideState::kFailed : final_state);
    }
  }
  if (finisher) finisher->join();
  if (!finish_result.ok()) return finish_result.status();
  ProxyResult result;
  result.report = *finish_result;
  result.ended_by_scanner = ended_by_scanner;
  return result;
}

}  // namespace vslide::acquire
