#include "vslide/acquire/protocol.h"

#include <climits>

namespace vslide::acquire {

using nlohmann::json;

namespace {

std::string codec_text(const CodecSpec& c) {
  if (c.family == CodecFamily::kNone) return "none";
  return c.name() + ":" + std::to_string(c.level);
}

// Runs `fn` turning nlohmann's type and key errors into InvalidArgument.
template <typename Fn>
auto guarded(std::string_view what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Status::invalid_argument(std::string(what) + ": " + e.what());
  }
}

}  // namespace

json scan_spec_to_json(const ScanSpec& spec) {
  return json{{"header", spec.header},
              {"geometry", spec.geometry},
              {"channels", spec.channels},
              {"codec", codec_text(spec.codec)}};
}

Result<ScanSpec> scan_spec_from_json(const json& j) {
  return guarded("scan spec", [&]() -> Result<ScanSpec> {
    if (!j.is_object()) return Status::invalid_argument("scan spec: not a JSON object");
    for (const char* member : {"header", "geometry", "channels", "codec"}) {
      if (!j.contains(member)) return Status::invalid_argument(std::string("scan spec: no \"") + member + "\"");
    }
    ScanSpec s;
    s.header = j.at("header").get<SlideHeader>();
    s.geometry = j.at("geometry").get<MosaicGeometry>();
    s.channels = j.at("channels").get<std::vector<ChannelInfo>>();
    if (!s.geometry.valid()) {
      return Status::invalid_argument("scan spec: geometry " + j.at("geometry").dump() +
                                      " is not valid (sizes must be positive and within limits)");
    }
    if (int(s.channels.size()) != s.geometry.channels) {
      return Status::invalid_argument("scan spec: " + std::to_string(s.channels.size()) +
                                      " channel entries for a geometry of " +
                                      std::to_string(s.geometry.channels) + " channels");
    }
    auto codec = CodecSpec::parse(j.at("codec").get<std::string>());
    if (!codec.ok()) return codec.status().with_context("scan spec");
    if (codec->family == CodecFamily::kGzip) {
      return Status::invalid_argument("scan spec: codec gzip is not accepted on the wire (use blosc-* or none)");
    }
    s.codec = *codec;
    return s;
  });
}

json field_meta_to_json(const FieldMeta& m) {
  return json{{"type", "field"},
              {"seq", m.seq},
              {"key", m.key},
              {"field", m.field},
              {"codec", codec_text(m.codec)},
              {"width", m.width},
              {"height", m.height},
              {"checksum", m.checksum}};
}

namespace {
// nlohmann's get<int32_t>() wraps a larger number (row 2^32+1 became row 1):
// every integer from a peer is checked to be one, in range, first.
Status check_int32(const json& obj, std::initializer_list<const char*> members, const std::string& where) {
  for (const char* m : members) {
    if (!obj.is_object() || !obj.contains(m)) continue;
    const json& v = obj.at(m);
    const bool ok = (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() >= INT32_MIN &&
                     v.get<int64_t>() <= INT32_MAX) ||
                    (v.is_number_unsigned() && v.get<uint64_t>() <= uint64_t(INT32_MAX));
    if (!ok) return Status::invalid_argument(where + "." + m + ": " + v.dump() + " is not a 32-bit integer");
  }
  return Status();
}
}  // namespace

Result<FieldMeta> field_meta_from_json(const json& j) {
  return guarded("field", [&]() -> Result<FieldMeta> {
    for (const char* member : {"seq", "key", "field", "codec", "width", "height", "checksum"}) {
      if (!j.contains(member)) return Status::invalid_argument(std::string("field: no \"") + member + "\"");
    }
    VSLIDE_RETURN_IF_ERROR(check_int32(j.at("key"), {"row", "col", "channel", "z", "t", "level"}, "field: key"));
    VSLIDE_RETURN_IF_ERROR(check_int32(j.at("field"), {"row", "col"}, "field: field"));
    VSLIDE_RETURN_IF_ERROR(check_int32(j, {"width", "height"}, "field"));
    FieldMeta m;
    m.seq = j.at("seq").get<uint64_t>();
    m.key = j.at("key").get<TileKey>();
    m.field = j.at("field").get<FieldOfView>();
    auto codec = CodecSpec::parse(j.at("codec").get<std::string>());
    if (!codec.ok()) return codec.status().with_context("field " + m.key.to_string());
    m.codec = *codec;
    m.width = j.at("width").get<int32_t>();
    m.height = j.at("height").get<int32_t>();
    m.checksum = j.at("checksum").get<uint64_t>();
    if (m.key.level != 0) return Status::invalid_argument("field " + m.key.to_string() + ": level must be 0");
    if (m.field.row != m.key.row || m.field.col != m.key.col) {
      return Status::invalid_argument("field " + m.key.to_string() + ": stage field is (" +
                                      std::to_string(m.field.row) + "," + std::to_string(m.field.col) + ")");
    }
    return m;
  });
}

Result<json> parse_message(std::span<const uint8_t> frame, std::string_view from) {
  json j = json::parse(frame.begin(), frame.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::invalid_argument(std::string(from) + ": message is not a JSON object");
  }
  if (!j.contains("type") || !j["type"].is_string()) {
    return Status::invalid_argument(std::string(from) + ": message has no string \"type\"");
  }
  return j;
}

json error_reply(const Status& status) {
  return json{{"type", "error"},
              {"code", std::string(status_code_name(status.code()))},
              {"error", status.message()}};
}

Status status_from_reply(const json& reply) {
  // A peer's reply: a member of the wrong type is read as absent, never thrown
  // (json::value throws type_error for a non-string; found by fuzz_acquire_protocol).
  auto text = [&](const char* name, const char* fallback) {
    auto it = reply.find(name);
    return it != reply.end() && it->is_string() ? it->get<std::string>() : std::string(fallback);
  };
  if (!reply.is_object() || text("type", "") != "error") return Status();
  std::string code = text("code", "Internal");
  std::string msg = text("error", "unknown error");
  for (int c = int(StatusCode::kInvalidArgument); c <= int(StatusCode::kInternal); ++c) {
    if (status_code_name(StatusCode(c)) == code) return Status(StatusCode(c), msg);
  }
  return Status::internal(msg);
}

json key_to_array(const TileKey& k) { return json::array({k.row, k.col, k.channel, k.z, k.t}); }

Result<TileKey> key_from_array(const json& j) {
  if (!j.is_array() || j.size() != 5) return Status::invalid_argument("key: expected [row,col,channel,z,t]");
  for (const auto& v : j) {
    if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX ||
        (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT32_MAX))) {
      return Status::invalid_argument("key: " + v.dump() + " is not a 32-bit integer");
    }
  }
  return guarded("key", [&]() -> Result<TileKey> {
    TileKey k;
    k.row = j[0].get<int32_t>();
    k.col = j[1].get<int32_t>();
    k.channel = j[2].get<int32_t>();
    k.z = j[3].get<int32_t>();
    k.t = j[4].get<int32_t>();
    return k;
  });
}

std::string endpoint_host(const std::string& endpoint) {
  auto scheme = endpoint.find("://");
  std::string rest = scheme == std::string::npos ? endpoint : endpoint.substr(scheme + 3);
  auto colon = rest.rfind(':');
  std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  if (host.empty() || host == "*" || host == "0.0.0.0") return "127.0.0.1";
  return host;
}

}  // namespace vslide::acquire
