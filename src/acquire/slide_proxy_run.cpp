// SlideProxy::run and its parts: receive and validate, spool and commit,
// acknowledge, hand off. The rule they keep: a key enters acked_ (and is
// acknowledged) only after the spool commit that covers its record
// succeeded; a field whose commit failed is answered with the error and
// stored when the scanner sends it again.
#include <blosc.h>

#include <cstdio>
#include <cstring>
#include <zmq_addon.hpp>

#include "slide_proxy_impl.h"
#include "vslide/storage/codec.h"

namespace vslide::acquire {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kBatchMaxMessages = 32;
constexpr size_t kBatchMaxBytes = 64u << 20;
constexpr auto kLingerAfterFinish = std::chrono::milliseconds(1500);
constexpr auto kFullReportInterval = std::chrono::seconds(10);

zmq::message_t text_frame(const json& j) { return zmq::message_t(j.dump()); }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void set_error(json* body, const Status& st, const json& seq) {
  *body = error_reply(st);
  if (!seq.is_null()) (*body)["seq"] = seq;
}

}  // namespace

// One received message and what to answer it.
struct SlideProxy::Reply {
  zmq::message_t identity;
  json body;
  // The reply waits for the batch's commit: the ack of a field appended now
  // (or of the same bytes appended earlier in this batch), or the end_ack of
  // an end/abort spooled now.
  bool needs_commit = false;
  std::optional<TileKey> key;  // enters acked_ once committed
  uint64_t checksum = 0;
  std::string end_type;        // "end"/"abort" spooled by this message
  bool wants_finished = false; // tell this peer "finished" when the file is done
  std::optional<PendingField> field;  // for the writer, after the ack
  zmq::message_t pixels;
  bool keep = false;  // the bytes stay in memory (else the writer reads the spool)
};

struct SlideProxy::RunState {
  SlideState final_state = SlideState::kComplete;
  double first_contact_s = 0;
  bool contacted = false;
  Clock::time_point started = Clock::now(), last_message = Clock::now();
  size_t batch_max = 1;
  std::optional<std::thread> finisher;
  std::atomic<bool> finished{false};
  Result<FinishReport> finish_result = Status::internal("not finished");
  std::vector<zmq::message_t> waiting_for_finish;  // identities to tell "finished"
  bool ended_by_scanner = false;
  std::optional<Clock::time_point> linger_until;
  std::optional<Clock::time_point> last_full_report;
  size_t refused_peers = 0;  // messages from keys other than the scan's
  std::optional<Clock::time_point> last_refusal_report;
  std::vector<zmq::message_t> parts;  // the message being handled
};

void SlideProxy::start_finish(RunState& rs, SlideState state) {
  rs.finisher.emplace([this, &rs, state] {
    rs.finish_result = writer_->finish(state);
    rs.finished = true;
  });
}

json SlideProxy::finished_body(const RunState& rs) const {
  if (!rs.finish_result.ok()) return error_reply(rs.finish_result.status());
  const FinishReport& f = *rs.finish_result;
  return json{{"type", "finished"},
              {"slide_id", settings_.slide_id},
              {"path", f.path},
              {"state", std::string(slide_state_name(f.state))},
              {"planes", f.planes},
              {"failed_planes", f.failed_planes},
              {"bytes_raw", f.bytes_raw},
              {"bytes_stored", f.bytes_stored}};
}

json SlideProxy::state_body(const RunState& rs) const {
  if (rs.finished) return finished_body(rs);
  json keys = json::array();
  for (const auto& [k, sum] : acked_) keys.push_back(key_to_array(k));
  json body{{"type", "state"},
            {"slide_id", settings_.slide_id},
            {"acked", keys},
            {"ending", bool(rs.finisher)},
            {"finished", false}};
  if (std::string stalled = writer_->stall_reason(); !stalled.empty()) body["writer_stalled"] = stalled;
  return body;
}

void SlideProxy::tell_finished(RunState& rs) {
  for (auto& id : rs.waiting_for_finish) {
    std::array<zmq::message_t, 2> out{zmq::message_t(id.data(), id.size()), text_frame(finished_body(rs))};
    (void)zmq::send_multipart(impl_->sock, out, zmq::send_flags::dontwait);
  }
  rs.waiting_for_finish.clear();
  rs.linger_until = Clock::now() + kLingerAfterFinish;
}

Result<ProxyResult> SlideProxy::run(SlideState final_state, double first_contact_s) {
  RunState rs;
  rs.final_state = final_state;
  rs.first_contact_s = first_contact_s;
  // Group commit pays only when a commit costs something (fdatasync); with
  // process durability each field is acknowledged as soon as it is spooled,
  // rather than after the rest of a batch.
  rs.batch_max = spool_->sync_mode() == SyncMode::kPower ? kBatchMaxMessages : 1;
  if (end_kind_) start_finish(rs, *end_kind_ == "abort" ? SlideState::kFailed : final_state);

  for (;;) {
    if (writer_->broken()) {
      // The file cannot be written: leave, so that a fresh process resumes
      // from the file as last flushed and the spool. Nothing unstored was
      // acknowledged: every acknowledged field is in the spool.
      if (rs.finisher) rs.finisher->join();
      return Status::resource_exhausted("slide writer " + settings_.slide_id + ": " + writer_->stall_reason());
    }
    if (rs.finished && !rs.linger_until) tell_finished(rs);
    if (rs.linger_until && Clock::now() >= *rs.linger_until) break;
    if (!rs.finisher && settings_.idle_timeout_s > 0 && seconds_since(rs.last_message) > settings_.idle_timeout_s) {
      std::fprintf(stderr,
                   "slide proxy %s: no message from the scanner for %.0f s: finishing the slide as failed "
                   "with the %zu planes acknowledged\n",
                   settings_.slide_id.c_str(), settings_.idle_timeout_s, acked_.size());
      start_finish(rs, SlideState::kFailed);
    }
    if (!rs.finisher && !rs.contacted && rs.first_contact_s > 0 && seconds_since(rs.started) > rs.first_contact_s) {
      std::fprintf(stderr, "slide proxy %s: no scanner came back within %.0f s: finishing the slide (%s) with the "
                   "%zu planes acknowledged\n", settings_.slide_id.c_str(), rs.first_contact_s,
                   std::string(slide_state_name(final_state)).c_str(), acked_.size());
      start_finish(rs, final_state);
    }

    zmq::pollitem_t item{impl_->sock.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(50));
    if (!(item.revents & ZMQ_POLLIN)) continue;

    std::vector<Reply> batch = receive_batch(rs);
    Status committed = commit_batch(rs, batch);
    for (auto& r : batch) {
      if (committed.ok() && r.wants_finished) rs.waiting_for_finish.emplace_back(r.identity.data(), r.identity.size());
    }
    reply_batch(batch, committed);
    if (end_kind_ && !rs.finisher) start_finish(rs, *end_kind_ == "abort" ? SlideState::kFailed : final_state);
  }
  if (rs.finisher) rs.finisher->join();
  if (!rs.finish_result.ok()) return rs.finish_result.status();
  ProxyResult result;
  result.report = *rs.finish_result;
  result.ended_by_scanner = rs.ended_by_scanner;
  return result;
}

// ---- receive and validate ----

std::vector<SlideProxy::Reply> SlideProxy::receive_batch(RunState& rs) {
  std::vector<Reply> batch;
  size_t batch_bytes = 0;
  while (batch.size() < rs.batch_max && batch_bytes < kBatchMaxBytes) {
    rs.parts.clear();
    if (!zmq::recv_multipart(impl_->sock, std::back_inserter(rs.parts), zmq::recv_flags::dontwait)) break;
    Reply r;
    r.identity = std::move(rs.parts[0]);
    receive_one(rs, r, &batch_bytes);
    batch.push_back(std::move(r));
  }
  return batch;
}

void SlideProxy::receive_one(RunState& rs, Reply& r, size_t* batch_bytes) {
  if (rs.parts.size() < 2) {
    set_error(&r.body, Status::invalid_argument("message without a JSON frame"), nullptr);
    return;
  }
  auto msg = parse_message(std::span(static_cast<const uint8_t*>(rs.parts[1].data()), rs.parts[1].size()),
                           "slide proxy " + settings_.slide_id);
  if (!msg.ok()) {
    set_error(&r.body, msg.status(), nullptr);
    return;
  }
  const std::string type = (*msg)["type"];
  const json seq = msg->contains("seq") ? (*msg)["seq"] : json(nullptr);
  if (!settings_.scanner_key.empty()) {
    // Only the scanner that began the scan speaks for it: anyone else's
    // field would be acknowledged and its real plane then refused as a duplicate.
    const std::string peer = remote::curve_peer_key(rs.parts[1]);
    if (peer != settings_.scanner_key) {
      // Logged at most every 10 s: an authorised peer must not fill the disk with the log.
      ++rs.refused_peers;
      if (!rs.last_refusal_report || Clock::now() - *rs.last_refusal_report > kFullReportInterval) {
        std::fprintf(stderr,
                     "slide proxy %s: refused a '%s' from CURVE key %s: the scan belongs to key %s (%zu refused "
                     "so far)\n",
                     settings_.slide_id.c_str(), type.c_str(), peer.empty() ? "(none)" : peer.c_str(),
                     settings_.scanner_key.c_str(), rs.refused_peers);
        rs.last_refusal_report = Clock::now();
      }
      return set_error(&r.body,
                       Status::failed_precondition("slide proxy " + settings_.slide_id +
                                                   ": only the scanner that began this scan may send to it (its "
                                                   "CURVE key); this connection's key is another"),
                       seq);
    }
  }
  // Only the scan's own scanner keeps the scan alive (idle timeout, recovery wait).
  rs.last_message = Clock::now();
  rs.contacted = true;
  if (type == "hello") {
    r.body = state_body(rs);
  } else if (type == "field") {
    validate_field(rs, *msg, r, batch_bytes);
  } else if (type == "end" || type == "abort") {
    if (!rs.finisher && !end_kind_) {
      spool_end(type, seq, r);
    } else {
      r.body = json{{"type", "end_ack"}, {"seq", seq}, {"planes", acked_.size()}};
      r.wants_finished = true;
    }
  } else {
    set_error(&r.body, Status::invalid_argument("unknown message type '" + type + "'"), seq);
  }
}

void SlideProxy::spool_end(const std::string& type, const json& seq, Reply& r) {
  auto ref = spool_->append(json{{"type", type}}.dump(), {});
  if (!ref.ok()) {
    set_error(&r.body, ref.status(), seq);
    return;
  }
  r.body = json{{"type", "end_ack"}, {"seq", seq}, {"planes", acked_.size() + batch_keys_.size()}};
  r.needs_commit = true;
  r.wants_finished = true;
  r.end_type = type;
}

void SlideProxy::validate_field(RunState& rs, const json& msg, Reply& r, size_t* batch_bytes) {
  const json seq = msg.contains("seq") ? msg["seq"] : json(nullptr);
  const MosaicGeometry& geometry = settings_.spec.geometry;
  const uint64_t plane_bytes = geometry.plane_bytes();
  auto meta = field_meta_from_json(msg);
  if (!meta.ok()) return set_error(&r.body, meta.status(), seq);
  const TileKey& key = meta->key;
  if (rs.finisher || end_kind_) {
    return set_error(&r.body, Status::failed_precondition("field " + key.to_string() + ": the scan has ended"), seq);
  }
  if (rs.parts.size() != 3) {
    return set_error(&r.body,
                     Status::invalid_argument("field " + key.to_string() + ": expected one pixel frame, got " +
                                              std::to_string(rs.parts.size() - 2)),
                     seq);
  }
  const auto* data = static_cast<const uint8_t*>(rs.parts[2].data());
  const size_t size = rs.parts[2].size();
  size_t decoded = size;
  if (meta->codec.family == CodecFamily::kBlosc && blosc_cbuffer_validate(data, size, &decoded) != 0) decoded = 0;
  if (!geometry.contains(key) || key.level != 0) {
    return set_error(&r.body,
                     Status::out_of_range("field " + key.to_string() + ": outside the mosaic (" +
                                          std::to_string(geometry.rows) + "x" + std::to_string(geometry.cols) + ", " +
                                          std::to_string(geometry.channels) + " channels)"),
                     seq);
  }
  if (meta->width != geometry.tile_width || meta->height != geometry.tile_height || decoded != plane_bytes) {
    return set_error(
        &r.body,
        Status::invalid_argument("field " + key.to_string() + ": wrong size: " + std::to_string(meta->width) + "x" +
                                 std::to_string(meta->height) + ", pixels decode to " + std::to_string(decoded) +
                                 " bytes; the slide's planes are " + std::to_string(geometry.tile_width) + "x" +
                                 std::to_string(geometry.tile_height) + " uint16 = " + std::to_string(plane_bytes) +
                                 " bytes"),
        seq);
  }
  if (meta->codec.family == CodecFamily::kGzip) {
    return set_error(&r.body, Status::invalid_argument("field " + key.to_string() + ": gzip is not accepted on the wire"),
                     seq);
  }
  if (chunk_checksum(std::span(data, size)) != meta->checksum) {
    return set_error(&r.body,
                     Status::corruption("field " + key.to_string() + ": pixel frame checksum mismatch (damaged in transit)"),
                     seq);
  }
  const json ack{{"type", "ack"}, {"seq", seq}, {"key", key_to_array(key)}};
  // Already known: committed (acked_), or appended earlier in this batch.
  for (const auto* known : {&acked_, &batch_keys_}) {
    auto it = known->find(key);
    if (it == known->end()) continue;
    if (it->second != 0 && it->second != meta->checksum) {
      return set_error(&r.body,
                       Status::already_exists("field " + key.to_string() +
                                              ": duplicate with different pixels; the first one is kept"),
                       seq);
    }
    r.body = ack;
    r.body["duplicate"] = true;
    r.needs_commit = known == &batch_keys_;  // acknowledged with the first copy's commit
    return;
  }
  auto ref = spool_->append(msg.dump(), std::span(data, size), meta->checksum);
  if (!ref.ok() && ref.status().code() == StatusCode::kResourceExhausted) {
    std::string why = ref.status().message();
    const std::string stall = writer_->stall_reason();
    if (!stall.empty()) why += "; the slide writer is stalled: " + stall;
    if (!rs.last_full_report || Clock::now() - *rs.last_full_report > kFullReportInterval) {
      std::fprintf(stderr, "slide proxy %s: refusing fields (busy): %s\n", settings_.slide_id.c_str(), why.c_str());
      rs.last_full_report = Clock::now();
    }
    r.body = json{{"type", "busy"}, {"seq", seq}, {"error", why},
                  {"disk_full", ref.status().message().find("disk full") != std::string::npos}};
    return;
  }
  if (!ref.ok()) return set_error(&r.body, ref.status(), seq);
  batch_keys_[key] = meta->checksum;
  *batch_bytes += size;
  r.needs_commit = true;
  r.key = key;
  r.checksum = meta->checksum;
  r.keep = writer_->may_buffer(size);
  r.body = ack;
  r.body["spilled"] = !r.keep;
  r.field = PendingField{*meta, Payload(), *ref};
  r.pixels = std::move(rs.parts[2]);
}

// ---- spool commit, then acknowledge ----

Status SlideProxy::commit_batch(RunState& rs, std::vector<Reply>& batch) {
  Status committed = spool_->commit();
  if (committed.ok()) {
    for (auto& r : batch) {
      if (!r.needs_commit) continue;
      if (r.key) acked_[*r.key] = r.checksum;
      if (!r.end_type.empty()) {
        end_kind_ = r.end_type;
        rs.ended_by_scanner = true;
      }
    }
  } else {
    size_t refused = 0;
    for (auto& r : batch) {
      if (!r.needs_commit) continue;
      ++refused;
      // Never acknowledged, never handed on: the record has had its chance.
      if (r.field) spool_->mark_written(r.field->ref);
    }
    std::fprintf(stderr, "slide proxy %s: spool commit failed, %zu messages answered with the error: %s\n",
                 settings_.slide_id.c_str(), refused, committed.to_string().c_str());
  }
  batch_keys_.clear();
  return committed;
}

void SlideProxy::reply_batch(std::vector<Reply>& batch, const Status& committed) {
  const uint64_t backlog = writer_->queued_fields();
  for (auto& r : batch) {
    if (r.needs_commit && !committed.ok()) {
      json seq = r.body.value("seq", json(nullptr));
      set_error(&r.body, Status(committed.code(), committed.message() + ": not stored, send it again"), seq);
      r.field.reset();
    }
    if (r.body.value("type", "") == "ack" && !r.body.contains("duplicate")) {
      r.body["backlog_fields"] = backlog + (r.field ? 1 : 0);  // this field is queued right after
      r.body["buffered_bytes"] = writer_->buffered_bytes();
      r.body["spool_bytes"] = spool_->live_bytes();
    }
    std::array<zmq::message_t, 2> out{std::move(r.identity), text_frame(r.body)};
    (void)zmq::send_multipart(impl_->sock, out, zmq::send_flags::dontwait);
    hand_off(r);
  }
}

// ---- hand-off to the writer ----

void SlideProxy::hand_off(Reply& r) {
  if (!r.field) return;
  if (r.keep) {
    // After the ack, off the camera's path: copied into a pooled buffer
    // (0.2 ms into warm pages) so that ZeroMQ's receive buffer is freed at
    // once and reused, warm, for the next field.
    const size_t size = r.pixels.size();
    auto held = impl_->buffers->acquire(size);
    std::memcpy(held->data(), r.pixels.data(), size);
    r.field->bytes = Payload(held, std::span<const uint8_t>(held->data(), size));
  }
  r.pixels = zmq::message_t();
  writer_->enqueue(std::move(*r.field));
  r.field.reset();
}

}  // namespace vslide::acquire
