#include "request_handler.h"

#include <chrono>
#include <cstring>

#include "vslide/remote/protocol.h"
#include "vslide/storage/codec.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::remote {

using nlohmann::json;

namespace {

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

// Moves a byte vector into a message without copying: the message frees it.
zmq::message_t bytes_message(std::vector<uint8_t>&& bytes) {
  auto* owned = new std::vector<uint8_t>(std::move(bytes));
  if (owned->empty()) {
    delete owned;
    return zmq::message_t();
  }
  return zmq::message_t(owned->data(), owned->size(),
                        [](void*, void* hint) { delete static_cast<std::vector<uint8_t>*>(hint); }, owned);
}

// Bytes that stay where they are (in a slide's read-only mapping) while
// ZeroMQ sends them: the message keeps the slide open until it is freed.
zmq::message_t mapped_message(std::span<const uint8_t> bytes, const std::shared_ptr<const SlideSource>& owner) {
  if (bytes.empty()) return zmq::message_t();
  auto* keep = new std::shared_ptr<const SlideSource>(owner);
  return zmq::message_t(const_cast<uint8_t*>(bytes.data()), bytes.size(),
                        [](void*, void* hint) { delete static_cast<std::shared_ptr<const SlideSource>*>(hint); },
                        keep);
}

// A request problem that becomes an error reply.
struct RequestError {
  WireError code;
  std::string message;
};

const json& field(const json& req, const char* name, json::value_t type, const char* type_name) {
  auto it = req.find(name);
  if (it == req.end()) throw RequestError{WireError::kMalformedRequest, std::string("missing field '") + name + "'"};
  bool type_ok = it->type() == type;
  // nlohmann keeps non-negative integers as number_unsigned.
  if (type == json::value_t::number_integer) type_ok = it->is_number_integer();
  if (type == json::value_t::number_unsigned) type_ok = it->is_number_unsigned();
  if (!type_ok) {
    throw RequestError{WireError::kMalformedRequest, std::string("field '") + name + "' must be " + type_name};
  }
  return *it;
}

std::string str_field(const json& req, const char* name) {
  return field(req, name, json::value_t::string, "a string").get<std::string>();
}

// Error messages name files as the server sees them ("/srv/slides/x.h5: ...");
// a client needs the file's name at most, never where the server keeps it:
// every absolute path becomes its last component.
std::string without_paths(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (size_t i = 0; i < message.size();) {
    const bool starts = message[i] == '/' && (i == 0 || std::strchr(" '\"(=[,", message[i - 1]) != nullptr);
    if (!starts) {
      out += message[i++];
      continue;
    }
    size_t end = i;
    while (end < message.size() && std::strchr(" '\":),]", message[end]) == nullptr) ++end;
    const std::string_view path = message.substr(i, end - i);
    const auto slash = path.find_last_of('/');
    out += path.substr(slash + 1);
    i = end;
  }
  return out;
}

WireError error_for(const Status& s) {
  return status_wire_error(s.code());
}

// True when the request lists `feature` in its optional "features" array of
// strings (names this server does not know are ignored).
bool lists_feature(const json& req, std::string_view feature) {
  auto it = req.find("features");
  if (it == req.end()) return false;
  if (!it->is_array()) throw RequestError{WireError::kMalformedRequest, "field 'features' must be an array of strings"};
  bool found = false;
  for (const auto& f : *it) {
    if (!f.is_string()) throw RequestError{WireError::kMalformedRequest, "field 'features' must be an array of strings"};
    found = found || f.get_ref<const std::string&>() == feature;
  }
  return found;
}

// A slide whose registration places (z, t) planes apart is drawn wrong by a
// client that ignores "planes" (every plane at the reference positions), so
// such a client gets no header or registration of it (docs/PROTOCOL.md,
// "Versioning"; the file format's version 3 does the same for old readers).
void require_plane_positions_feature(const json& req, const SlideSource& slide, const Registration* reg) {
  if (lists_feature(req, kFeaturePlanePositions)) return;
  Result<Registration> read = Status::not_found("");
  if (reg == nullptr) {
    read = slide.read_registration();
    if (!read.ok()) return;  // none stored (or unreadable: the registration op reports that)
    reg = &*read;
  }
  if (reg->plane_fields.empty()) return;
  throw RequestError{WireError::kVersionMismatch,
                     slide.describe() + ": the slide's registration places its (z, t) planes apart, and a client that "
                                        "ignores per-plane positions would draw every plane at the reference positions; "
                                        "a client that follows them sends \"features\": [\"" +
                         std::string(kFeaturePlanePositions) + "\"]"};
}

}  // namespace

struct RequestHandler::Reply {
  uint64_t id = 0;
  json body;
  std::vector<zmq::message_t> payloads;
  size_t payload_bytes = 0;
};

RequestHandler::RequestHandler(const SlideLibrary& library, const TileServerOptions& options,
                               ServerCounters& counters, std::string server_name)
    : library_(library), options_(options), counters_(counters), server_name_(std::move(server_name)),
      started_unix_ms_(now_unix_ms()) {}

json RequestHandler::status_json() const {
  json s{{"name", server_name_},
         {"protocol", kProtocolVersion},
         {"mode", options_.mode == ServeMode::kStored ? "stored" : "recompress"},
         {"workers", options_.workers},
         {"send_buffer_bytes", options_.send_buffer_bytes},
         {"uptime_s", double(now_unix_ms() - started_unix_ms_) / 1000.0},
         {"requests", counters_.requests.load()},
         {"errors", counters_.errors.load()},
         {"tiles", counters_.tiles.load()},
         {"payload_bytes", counters_.payload_bytes.load()},
         {"busy_rejections", counters_.busy_rejections.load()},
         {"malformed_messages", counters_.malformed_messages.load()},
         {"slides", library_.list().size()}};
  if (probe_) s.update(probe_());
  return s;
}

std::vector<zmq::message_t> RequestHandler::handle(std::vector<zmq::message_t>& request) const {
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  Reply reply;
  try {
    if (request.size() != 2 || request[0].size() != 0) {
      throw RequestError{WireError::kMalformedRequest,
                         "a request is 2 frames [empty, JSON]; got " + std::to_string(request.size()) +
                             " frame(s)" + (request.empty() || request[0].size() == 0 ? "" : ", first not empty")};
    }
    json req = json::parse(request[1].to_string_view(), nullptr, /*allow_exceptions=*/false);
    if (req.is_discarded()) throw RequestError{WireError::kMalformedRequest, "request frame is not valid JSON"};
    if (!req.is_object()) throw RequestError{WireError::kMalformedRequest, "request must be a JSON object"};
    if (req.contains("id")) reply.id = field(req, "id", json::value_t::number_unsigned, "an unsigned integer").get<uint64_t>();
    const auto& v = field(req, "v", json::value_t::number_integer, "an integer");
    if (!v.is_number_integer() || v.get<int64_t>() != kProtocolVersion) {
      throw RequestError{WireError::kVersionMismatch,
                         "protocol version " + v.dump() + " not supported; this server speaks " +
                             std::to_string(kProtocolVersion)};
    }
    handle_json(req, reply);
  } catch (const RequestError& e) {
    reply.body = error_reply(reply.id, e.code, without_paths(e.message));
    if (e.code == WireError::kVersionMismatch) reply.body["supported"] = json::array({kProtocolVersion});
    reply.payloads.clear();
  } catch (const std::exception& e) {
    // json type errors inside nested fields and allocation failures alike.
    reply.body = error_reply(reply.id, WireError::kMalformedRequest, without_paths(e.what()));
    reply.payloads.clear();
  }
  if (!reply.body.value("ok", false)) counters_.errors.fetch_add(1, std::memory_order_relaxed);
  counters_.payload_bytes.fetch_add(reply.payload_bytes, std::memory_order_relaxed);

  std::vector<zmq::message_t> out;
  out.reserve(2 + reply.payloads.size());
  out.emplace_back();
  out.emplace_back(reply.body.dump(-1, ' ', false, json::error_handler_t::replace));
  for (auto& p : reply.payloads) out.push_back(std::move(p));
  return out;
}

void RequestHandler::handle_json(const json& req, Reply& reply) const {
  const std::string op = str_field(req, "op");
  reply.body = json{{"v", kProtocolVersion}, {"id", reply.id}, {"ok", true}, {"op", op}};
  if (op == "status") {
    reply.body["server"] = status_json();
    return;
  }
  if (op == "list") {
    json slides = json::array();
    for (const auto& e : library_.list()) {
      json g;
      to_json(g, e.slide->geometry());
      slides.push_back(json{{"slide_id", e.slide_id}, {"name", e.slide->header().name},
                            {"state", slide_state_name(e.slide->state())}, {"geometry", g}});
    }
    reply.body["slides"] = std::move(slides);
    return;
  }
  static const char* kSlideOps[] = {"header",  "channels", "index",        "tile",     "tiles",
                                     "overview", "labels",   "objects", "registration", "flatfield"};
  if (std::find(std::begin(kSlideOps), std::end(kSlideOps), op) == std::end(kSlideOps)) {
    throw RequestError{WireError::kUnknownOp, "unknown op '" + op + "'"};
  }
  const std::string slide_id = str_field(req, "slide");
  auto found = library_.find(slide_id);
  if (!found.ok()) {
    throw RequestError{found.status().code() == StatusCode::kNotFound ? WireError::kUnknownSlide
                                                                      : error_for(found.status()),
                       found.status().message()};
  }
  const SlideSource& slide = **found;
  reply.body["slide"] = slide_id;

  if (op == "header") {
    require_plane_positions_feature(req, slide, nullptr);
    json h, g;
    to_json(h, slide.header());
    to_json(g, slide.geometry());
    reply.body["header"] = h;
    reply.body["geometry"] = g;
    reply.body["state"] = slide_state_name(slide.state());
    reply.body["codec"] = codec_to_json(slide.codec());
    reply.body["zoom_levels"] = slide.zoom_levels();
    reply.body["detection_layers"] = slide.detection_layers();
    // Tiles can be asked for in parts ("part" of a "tile" request) of up to this many.
    if (options_.mode == ServeMode::kStored) reply.body["tile_parts"] = kMaxTileParts;
  } else if (op == "channels") {
    json c = json::array();
    for (const auto& ch : slide.channels()) {
      json cj;
      to_json(cj, ch);
      c.push_back(cj);
    }
    reply.body["channels"] = c;
  } else if (op == "index") {
    reply.body["index"] = index_to_json(*slide.index());
  } else if (op == "tile") {
    auto key = key_from_json(field(req, "key", json::value_t::object, "an object"));
    if (!key.ok()) throw RequestError{WireError::kMalformedRequest, key.status().message()};
    Part part;
    if (req.contains("part")) {
      const auto& p = field(req, "part", json::value_t::array, "an array [index, count]");
      if (p.size() != 2 || !p[0].is_number_unsigned() || !p[1].is_number_unsigned() || p[1].get<uint64_t>() < 1 ||
          p[1].get<uint64_t>() > uint64_t(kMaxTileParts) || p[0].get<uint64_t>() >= p[1].get<uint64_t>()) {
        throw RequestError{WireError::kMalformedRequest,
                           "'part' must be [index, count] with 1 <= count <= " + std::to_string(kMaxTileParts) +
                               " and index < count; got " + p.dump()};
      }
      part = Part{int(p[0].get<uint64_t>()), int(p[1].get<uint64_t>())};
    }
    json meta;
    Status s = add_tile(*found, *key, &meta, reply, part);
    if (!s.ok()) throw RequestError{error_for(s), s.message()};
    reply.body["tile"] = std::move(meta);
    if (part.count > 0) reply.body["part"] = json::array({part.index, part.count});
  } else if (op == "tiles") {
    const auto& keys = field(req, "keys", json::value_t::array, "an array");
    if (keys.size() > kMaxBatchKeys) {
      throw RequestError{WireError::kMalformedRequest, "a batch holds at most " + std::to_string(kMaxBatchKeys) +
                                                           " keys; got " + std::to_string(keys.size())};
    }
    json tiles = json::array();
    for (const auto& kj : keys) {
      auto key = key_from_json(kj);
      json meta;
      Status s = key.ok() ? Status() : Status::invalid_argument(key.status().message());
      if (s.ok() && reply.payload_bytes >= kMaxBatchBytes) {
        s = Status::resource_exhausted("batch reply reached " + std::to_string(kMaxBatchBytes >> 20) +
                                       " MB; ask for this tile again");
      }
      if (s.ok()) s = add_tile(*found, *key, &meta, reply, Part{});
      if (s.ok()) {
        meta["ok"] = true;
      } else {
        meta = json{{"ok", false}, {"error", json{{"code", wire_error_name(error_for(s))}, {"message", without_paths(s.message())}}}};
        if (key.ok()) to_json(meta["key"], *key);
      }
      tiles.push_back(std::move(meta));
    }
    reply.body["tiles"] = std::move(tiles);
  } else if (op == "overview") {
    const auto& ch = field(req, "channel", json::value_t::number_integer, "an integer");
    const int64_t channel = ch.get<int64_t>();
    if (channel < 0 || channel >= slide.geometry().channels) {
      throw RequestError{WireError::kOutOfRange, slide.describe() + ": no channel " + std::to_string(channel)};
    }
    auto ov = slide.read_overview(int32_t(channel));
    if (!ov.ok()) throw RequestError{error_for(ov.status()), ov.status().message()};
    reply.body["overview"] = json{{"channel", ov->channel}, {"width", ov->image.width()},
                                  {"height", ov->image.height()}, {"origin_x_um", ov->origin_x_um},
                                  {"origin_y_um", ov->origin_y_um}, {"um_per_px", ov->um_per_px}};
    const auto* p = reinterpret_cast<const uint8_t*>(ov->image.data());
    std::vector<uint8_t> bytes(p, p + ov->image.byte_size());
    reply.payload_bytes += bytes.size();
    reply.payloads.push_back(bytes_message(std::move(bytes)));
  } else if (op == "labels") {
    const std::string layer = str_field(req, "layer");
    auto key = key_from_json(field(req, "key", json::value_t::object, "an object"));
    if (!key.ok()) throw RequestError{WireError::kMalformedRequest, key.status().message()};
    auto labels = slide.read_labels(layer, *key);
    if (!labels.ok()) throw RequestError{error_for(labels.status()), labels.status().message()};
    reply.body["labels"] = json{{"layer", layer}, {"width", labels->width}, {"height", labels->height}};
    const auto* p = reinterpret_cast<const uint8_t*>(labels->labels.data());
    std::vector<uint8_t> bytes(p, p + labels->labels.size() * sizeof(uint32_t));
    reply.payload_bytes += bytes.size();
    reply.payloads.push_back(bytes_message(std::move(bytes)));
  } else if (op == "registration") {
    // The register part's results: placements and colour offsets as JSON,
    // the report (per-pair quality, calibration) as the payload.
    auto reg = slide.read_registration();
    if (!reg.ok()) throw RequestError{error_for(reg.status()), reg.status().message()};
    require_plane_positions_feature(req, slide, &*reg);
    json fields = json::array(), offsets = json::array();
    for (const auto& f : reg->fields) fields.push_back({f.row, f.col, f.x_um, f.y_um, f.measured, f.residual_px});
    for (const auto& o : reg->channel_offsets) offsets.push_back({o.channel, o.dx_px, o.dy_px, o.scale, o.score});
    reply.body["registration"] =
        json{{"reference_channel", reg->reference_channel}, {"fields", std::move(fields)}, {"channel_offsets", std::move(offsets)}};
    if (reg->reference_z != 0 || reg->reference_t != 0 || !reg->plane_fields.empty()) {
      json planes = json::array();
      for (const auto& p : reg->plane_fields)
        planes.push_back({p.z, p.t, p.field.row, p.field.col, p.field.x_um, p.field.y_um, p.field.measured,
                          p.field.residual_px});
      reply.body["registration"]["reference_z"] = reg->reference_z;
      reply.body["registration"]["reference_t"] = reg->reference_t;
      reply.body["registration"]["planes"] = std::move(planes);
    }
    std::vector<uint8_t> bytes(reg->report_json.begin(), reg->report_json.end());
    reply.payload_bytes += bytes.size();
    reply.payloads.push_back(bytes_message(std::move(bytes)));
  } else if (op == "flatfield") {
    const int64_t channel = field(req, "channel", json::value_t::number_integer, "an integer").get<int64_t>();
    if (channel < 0 || channel >= slide.geometry().channels) {
      throw RequestError{WireError::kOutOfRange, slide.describe() + ": no channel " + std::to_string(channel)};
    }
    auto ff = slide.read_flatfield(int32_t(channel));
    if (!ff.ok()) throw RequestError{error_for(ff.status()), ff.status().message()};
    reply.body["flatfield"] = json{{"channel", ff->channel}, {"width", ff->gain_width}, {"height", ff->gain_height},
                                   {"dark", ff->dark}};
    const auto* p = reinterpret_cast<const uint8_t*>(ff->gain.data());
    std::vector<uint8_t> bytes(p, p + ff->gain.size() * sizeof(float));
    reply.payload_bytes += bytes.size();
    reply.payloads.push_back(bytes_message(std::move(bytes)));
  } else if (op == "objects") {
    const std::string layer = str_field(req, "layer");
    auto text = slide.read_objects_json(layer);
    if (!text.ok()) throw RequestError{error_for(text.status()), text.status().message()};
    reply.body["objects"] = json{{"layer", layer}, {"size", text->size()}};
    std::vector<uint8_t> bytes(text->begin(), text->end());
    reply.payload_bytes += bytes.size();
    reply.payloads.push_back(bytes_message(std::move(bytes)));
  }
}

Status RequestHandler::add_tile(const std::shared_ptr<SlideSource>& source, const TileKey& key, json* meta,
                                Reply& reply, Part part) const {
  const SlideSource& slide = *source;
  const auto& g = slide.geometry();
  if (!g.contains(key)) {
    return Status::out_of_range(slide.describe() + ": tile " + key.to_string() + " outside the " +
                                std::to_string(g.rows) + "x" + std::to_string(g.cols) + " mosaic");
  }
  auto slice = [&](uint64_t size) {
    if (part.count == 0) return std::pair<uint64_t, uint64_t>(0, size);
    return std::pair<uint64_t, uint64_t>(part_begin(size, part.index, part.count),
                                         part_end(size, part.index, part.count));
  };
  // The slide's chunks where they lie in its mapped file: checked and sent without a copy.
  const auto* file = options_.mode == ServeMode::kStored ? dynamic_cast<const Hdf5Slide*>(&slide) : nullptr;
  if (file != nullptr) {
    auto view = file->read_chunk_view(key);
    if (view.ok()) {
      StoredTile shape;
      shape.key = key;
      shape.codec = view->codec;
      shape.height = view->height;
      shape.width = view->width;
      std::vector<uint64_t> sizes;
      // Each chunk is checked against the file's index the first time this
      // server sends it from this open file (a tile sent in parts: with its
      // last part, so that the first parts leave at once), not on every send:
      // the mapping of a finished file does not change under it, and every
      // client checks every chunk it receives against the same checksum
      // (docs/PROTOCOL.md), which also catches what happens to the bytes later.
      const bool check = part.index == std::max(0, part.count - 1) && !verified_.contains(source, key);
      for (size_t b = 0; b < view->blocks.size(); ++b) {
        const auto& v = view->blocks[b];
        if (check && chunk_checksum(v.bytes) != v.checksum) {
          return Status::corruption(slide.describe() + ": tile " + key.to_string() + " block " + std::to_string(b) +
                                    ": checksum mismatch in stored chunk of " + std::to_string(v.bytes.size()) +
                                    " bytes");
        }
        shape.blocks.push_back(ChunkBlock{v.y, v.x, v.height, v.width, {}, v.checksum});
        sizes.push_back(v.bytes.size());
      }
      if (check) verified_.add(source, key);
      *meta = tile_meta_to_json(shape, sizes);
      for (const auto& v : view->blocks) {
        const auto [begin, end] = slice(v.bytes.size());
        reply.payload_bytes += end - begin;
        reply.payloads.push_back(mapped_message(v.bytes.subspan(begin, end - begin), source));
      }
      if (part.index == std::max(0, part.count - 1)) counters_.tiles.fetch_add(1, std::memory_order_relaxed);
      return Status();
    }
    if (view.status().code() != StatusCode::kUnavailable) return view.status();
    // Not mapped (a slide still being written): read_chunk below copies.
  }
  StoredTile tile;
  if (options_.mode == ServeMode::kStored) {
    VSLIDE_ASSIGN_OR_RETURN(tile, slide.read_chunk(key));
  } else {
    // The paper's path: decode, then compress again for the wire (for every
    // part again: parts are not offered in this mode).
    VSLIDE_ASSIGN_OR_RETURN(Image16 image, slide.read(key));
    tile.key = key;
    tile.codec = slide.codec();
    tile.height = image.height();
    tile.width = image.width();
    ChunkBlock block;
    block.height = image.height();
    block.width = image.width();
    VSLIDE_ASSIGN_OR_RETURN(block.bytes, encode_chunk(tile.codec, {reinterpret_cast<const uint8_t*>(image.data()),
                                                                   image.byte_size()}));
    block.checksum = chunk_checksum(block.bytes);
    tile.blocks.push_back(std::move(block));
  }
  *meta = tile_meta_to_json(tile);
  for (auto& b : tile.blocks) {
    const auto [begin, end] = slice(b.bytes.size());
    std::vector<uint8_t> bytes;
    if (part.count == 0) bytes = std::move(b.bytes);
    else bytes.assign(b.bytes.begin() + std::ptrdiff_t(begin), b.bytes.begin() + std::ptrdiff_t(end));
    reply.payload_bytes += bytes.size();
    reply.payloads.push_back(bytes_message(std::move(bytes)));
  }
  if (part.index == std::max(0, part.count - 1)) counters_.tiles.fetch_add(1, std::memory_order_relaxed);
  return Status();
}

bool VerifiedChunks::contains(const std::shared_ptr<SlideSource>& slide, const TileKey& key) const {
  std::lock_guard lock(mutex_);
  auto it = slides_.find(slide.get());
  return it != slides_.end() && it->second.slide.lock() == slide && it->second.keys.contains(key);
}

void VerifiedChunks::add(const std::shared_ptr<SlideSource>& slide, const TileKey& key) {
  std::lock_guard lock(mutex_);
  auto it = slides_.find(slide.get());
  if (it == slides_.end() || it->second.slide.lock() != slide) {
    // A slide not seen before, or a new one at a closed slide's address: start
    // afresh, and forget slides that have been closed since.
    std::erase_if(slides_, [](const auto& entry) { return entry.second.slide.expired(); });
    it = slides_.insert_or_assign(slide.get(), Slide{slide, {}}).first;
  }
  it->second.keys.insert(key);
}

}  // namespace vslide::remote
