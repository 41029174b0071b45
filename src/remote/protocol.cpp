#include "vslide/remote/protocol.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <limits>

namespace vslide::remote {

using nlohmann::json;

namespace {

struct ErrorName {
  WireError code;
  std::string_view name;
  StatusCode status;
};
constexpr ErrorName kErrors[] = {
    {WireError::kMalformedRequest, "malformed_request", StatusCode::kInvalidArgument},
    {WireError::kVersionMismatch, "version_mismatch", StatusCode::kUnimplemented},
    {WireError::kUnknownOp, "unknown_op", StatusCode::kUnimplemented},
    {WireError::kUnknownSlide, "unknown_slide", StatusCode::kNotFound},
    {WireError::kOutOfRange, "out_of_range", StatusCode::kOutOfRange},
    {WireError::kNotFound, "not_found", StatusCode::kNotFound},
    {WireError::kCorruption, "corruption", StatusCode::kCorruption},
    {WireError::kIOError, "io_error", StatusCode::kIOError},
    {WireError::kBusy, "busy", StatusCode::kResourceExhausted},
    {WireError::kUnavailable, "unavailable", StatusCode::kUnavailable},
    {WireError::kInternal, "internal", StatusCode::kInternal},
};

// Integer field in int32 range; error names the field.
Status get_int32(const json& j, const char* field, int32_t* out) {
  const json& v = j.at(field);
  if (!v.is_number_integer()) {
    return Status::invalid_argument(std::string("key field '") + field + "' must be an integer");
  }
  int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())
                  ? std::numeric_limits<int64_t>::max()
                  : v.get<int64_t>();
  if (x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max()) {
    return Status::invalid_argument(std::string("key field '") + field + "' out of int32 range");
  }
  *out = int32_t(x);
  return Status();
}

// A JSON integer in [lo, hi], else std::invalid_argument naming the field: a
// float outside the target type would be an undefined conversion (fuzz_slide_json).
int64_t json_int(const json& j, const char* field, int64_t lo, int64_t hi) {
  const json& v = j.at(field);
  if (!v.is_number_integer()) throw std::invalid_argument(std::string("'") + field + "' must be an integer");
  const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())
                        ? std::numeric_limits<int64_t>::max()
                        : v.get<int64_t>();
  if (x < lo || x > hi) throw std::invalid_argument(std::string("'") + field + "' " + v.dump() + " out of range");
  return x;
}
constexpr int64_t kI32Min = std::numeric_limits<int32_t>::min(), kI32Max = std::numeric_limits<int32_t>::max();

}  // namespace

std::string_view wire_error_name(WireError e) {
  for (const auto& x : kErrors) if (x.code == e) return x.name;
  return "internal";
}

std::optional<WireError> parse_wire_error(std::string_view name) {
  for (const auto& x : kErrors) if (x.name == name) return x.code;
  return std::nullopt;
}

StatusCode wire_error_status(WireError e) {
  for (const auto& x : kErrors) if (x.code == e) return x.status;
  return StatusCode::kInternal;
}

WireError status_wire_error(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return WireError::kMalformedRequest;
    case StatusCode::kNotFound: return WireError::kNotFound;
    case StatusCode::kOutOfRange: return WireError::kOutOfRange;
    case StatusCode::kCorruption: return WireError::kCorruption;
    case StatusCode::kIOError: return WireError::kIOError;
    case StatusCode::kUnavailable: return WireError::kUnavailable;
    case StatusCode::kResourceExhausted: return WireError::kBusy;
    default: return WireError::kInternal;
  }
}

Result<RemoteUrl> parse_remote_url(std::string_view url) {
  constexpr std::string_view kIpc = "ipc://";
  if (url.substr(0, kIpc.size()) == kIpc) {
    // A Unix socket path, then the slide id after the last slash.
    auto rest = url.substr(kIpc.size());
    auto slash = rest.rfind('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 >= rest.size()) {
      return Status::invalid_argument(std::string(url) + ": expected ipc://SOCKET_PATH/SLIDE_ID");
    }
    return RemoteUrl{"ipc://" + std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
  }
  constexpr std::string_view kScheme = "tcp://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Status::invalid_argument(std::string(url) + ": remote slide URL must start with tcp:// or ipc://");
  }
  auto rest = url.substr(kScheme.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return Status::invalid_argument(std::string(url) + ": expected tcp://HOST:PORT/SLIDE_ID");
  }
  auto hostport = rest.substr(0, slash);
  auto colon = hostport.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= hostport.size()) {
    return Status::invalid_argument(std::string(url) + ": expected tcp://HOST:PORT/SLIDE_ID (port missing)");
  }
  int port = 0;
  auto ps = hostport.substr(colon + 1);
  auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
  if (ec != std::errc() || p != ps.data() + ps.size() || port <= 0 || port > 65535) {
    return Status::invalid_argument(std::string(url) + ": bad port '" + std::string(ps) + "'");
  }
  return RemoteUrl{"tcp://" + std::string(hostport), std::string(rest.substr(slash + 1))};
}

namespace {
// The checks both address kinds share; `any_port` admits 0 and "*" (bind only).
Status check_address(std::string_view address, bool any_port) {
  const std::string a(address);
  if (a.rfind("ipc://", 0) == 0 || a.rfind("inproc://", 0) == 0) {
    if (a.size() > a.find("://") + 3) return Status();
    return Status::invalid_argument("'" + a + "': empty path");
  }
  if (a.rfind("tcp://", 0) != 0) {
    return Status::invalid_argument("'" + a + "': expected tcp://HOST:PORT, ipc://PATH or inproc://NAME");
  }
  const auto colon = a.rfind(':');
  if (colon < 6 || colon + 1 >= a.size()) return Status::invalid_argument("'" + a + "': no port (tcp://HOST:PORT)");
  const std::string_view port = std::string_view(a).substr(colon + 1);
  if (port == "*" && any_port) return Status();
  int value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || p != port.data() + port.size() || value < (any_port ? 0 : 1) || value > 65535) {
    return Status::invalid_argument("'" + a + "': port '" + std::string(port) + "' is not " +
                                    (any_port ? "0..65535 or *" : "1..65535"));
  }
  return Status();
}
}  // namespace

Status check_bind_address(std::string_view address) { return check_address(address, /*any_port=*/true); }
Status check_connect_address(std::string_view address) { return check_address(address, /*any_port=*/false); }

json codec_to_json(const CodecSpec& c) {
  const char* family = c.family == CodecFamily::kBlosc ? "blosc" : c.family == CodecFamily::kGzip ? "gzip" : "none";
  return json{{"name", c.name()},          {"family", family},  {"compressor", c.compressor},
              {"shuffle", int(c.shuffle)}, {"level", c.level}, {"blocksize", c.blocksize}};
}

Result<CodecSpec> codec_from_json(const json& j) {
  try {
    CodecSpec c;
    const auto family = j.at("family").get<std::string>();
    if (family == "blosc") c.family = CodecFamily::kBlosc;
    else if (family == "gzip") c.family = CodecFamily::kGzip;
    else if (family == "none") c.family = CodecFamily::kNone;
    else return Status::invalid_argument("codec family '" + family + "' unknown");
    c.compressor = j.at("compressor").get<std::string>();
    int shuffle = int(json_int(j, "shuffle", kI32Min, kI32Max));
    if (shuffle < 0 || shuffle > 2) return Status::invalid_argument("codec shuffle must be 0, 1 or 2");
    c.shuffle = Shuffle(shuffle);
    c.level = int(json_int(j, "level", kI32Min, kI32Max));
    c.blocksize = int(json_int(j, "blocksize", kI32Min, kI32Max));
    return c;
  } catch (const std::exception& e) {
    return Status::invalid_argument(std::string("codec: ") + e.what());
  }
}

Result<TileKey> key_from_json(const json& j) {
  if (!j.is_object()) return Status::invalid_argument("'key' must be an object");
  TileKey k;
  for (const auto& [name, value] : j.items()) {
    int32_t* field = name == "row" ? &k.row : name == "col" ? &k.col : name == "channel" ? &k.channel
                   : name == "z" ? &k.z : name == "t" ? &k.t : name == "level" ? &k.level : nullptr;
    if (field == nullptr) return Status::invalid_argument("key field '" + name + "' unknown");
    (void)value;
    VSLIDE_RETURN_IF_ERROR(get_int32(j, name.c_str(), field));
  }
  if (!j.contains("row") || !j.contains("col")) return Status::invalid_argument("key needs 'row' and 'col'");
  return k;
}

std::string checksum_to_hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::optional<uint64_t> checksum_from_hex(std::string_view hex) {
  if (hex.size() != 16) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
  if (ec != std::errc() || p != hex.data() + hex.size()) return std::nullopt;
  return v;
}

json tile_meta_to_json(const StoredTile& t) {
  std::vector<uint64_t> sizes;
  for (const auto& b : t.blocks) sizes.push_back(b.bytes.size());
  return tile_meta_to_json(t, sizes);
}

json tile_meta_to_json(const StoredTile& t, const std::vector<uint64_t>& sizes) {
  json blocks = json::array();
  for (size_t i = 0; i < t.blocks.size(); ++i) {
    const auto& b = t.blocks[i];
    blocks.push_back(json{{"y", b.y}, {"x", b.x}, {"height", b.height}, {"width", b.width},
                          {"size", i < sizes.size() ? sizes[i] : 0}, {"checksum", checksum_to_hex(b.checksum)}});
  }
  json key;
  to_json(key, t.key);
  return json{{"key", key}, {"codec", codec_to_json(t.codec)}, {"height", t.height},
              {"width", t.width}, {"blocks", blocks}};
}

Result<StoredTile> tile_meta_from_json(const json& j, std::vector<uint64_t>* sizes) {
  try {
    StoredTile t;
    VSLIDE_ASSIGN_OR_RETURN(t.key, key_from_json(j.at("key")));
    VSLIDE_ASSIGN_OR_RETURN(t.codec, codec_from_json(j.at("codec")));
    t.height = int32_t(json_int(j, "height", kI32Min, kI32Max));
    t.width = int32_t(json_int(j, "width", kI32Min, kI32Max));
    sizes->clear();
    for (const auto& b : j.at("blocks")) {
      ChunkBlock cb;
      cb.y = int32_t(json_int(b, "y", kI32Min, kI32Max));
      cb.x = int32_t(json_int(b, "x", kI32Min, kI32Max));
      cb.height = int32_t(json_int(b, "height", kI32Min, kI32Max));
      cb.width = int32_t(json_int(b, "width", kI32Min, kI32Max));
      auto sum = checksum_from_hex(b.at("checksum").get<std::string>());
      if (!sum) return Status::invalid_argument("tile block checksum is not 16 hex digits");
      cb.checksum = *sum;
      sizes->push_back(uint64_t(json_int(b, "size", 0, std::numeric_limits<int64_t>::max())));
      t.blocks.push_back(std::move(cb));
    }
    return t;
  } catch (const std::exception& e) {
    return Status::invalid_argument(std::string("tile metadata: ") + e.what());
  }
}

json index_to_json(const TileIndex& index) {
  json fields = json::array();
  for (const auto& e : index.entries()) {
    json f;
    to_json(f, e.field);
    f["slot"] = e.slot;
    std::string planes(e.planes.size(), '0');
    for (size_t i = 0; i < e.planes.size(); ++i) if (e.planes[i]) planes[i] = '1';
    f["planes"] = planes;
    fields.push_back(std::move(f));
  }
  return json{{"planes_per_field", index.planes_per_field()}, {"fields", std::move(fields)}};
}

Status check_tile_meta(const StoredTile& t, const std::vector<uint64_t>& sizes, const MosaicGeometry& g) {
  auto bad = [&](const std::string& what) {
    return Status::corruption("tile " + t.key.to_string() + " metadata: " + what);
  };
  if (!g.contains(t.key)) return bad("key outside the slide's geometry");
  if (t.height != g.level_height(t.key.level) || t.width != g.level_width(t.key.level)) {
    return bad("plane " + std::to_string(t.width) + "x" + std::to_string(t.height) + " is not the level's " +
               std::to_string(g.level_width(t.key.level)) + "x" + std::to_string(g.level_height(t.key.level)));
  }
  if (t.blocks.empty() || t.blocks.size() > kMaxTileBlocks || sizes.size() != t.blocks.size()) {
    return bad(std::to_string(t.blocks.size()) + " blocks (1.." + std::to_string(kMaxTileBlocks) + " allowed)");
  }
  // Chunks tile the plane, overhanging its far edges at most: their areas add up to
  // less than 4 planes, however hostile the list (decoders allocate per block).
  uint64_t area = 0;
  const uint64_t plane = uint64_t(t.height) * uint64_t(t.width);
  for (size_t i = 0; i < t.blocks.size(); ++i) {
    const auto& b = t.blocks[i];
    area += uint64_t(std::max(b.height, 0)) * uint64_t(std::max(b.width, 0));
    if (area > 4 * plane) return bad("blocks cover more than 4 planes");
    if (b.y < 0 || b.x < 0 || b.y >= t.height || b.x >= t.width || b.height <= 0 || b.width <= 0 ||
        b.height > g.tile_height || b.width > g.tile_width) {
      return bad("block " + std::to_string(i) + " lies outside the plane");
    }
    const uint64_t raw = uint64_t(b.height) * uint64_t(b.width) * 2;
    if (sizes[i] > max_stored_bytes(raw)) {
      return bad("block " + std::to_string(i) + " announces " + std::to_string(sizes[i]) + " bytes for " +
                 std::to_string(raw) + " raw");
    }
  }
  return Status();
}

int64_t max_reply_frame_bytes(const MosaicGeometry& g) {
  const int64_t labels = int64_t(g.tile_height) * g.tile_width * 4 + (int64_t(1) << 20);
  return std::max(kMaxReplyFrameFloor, labels);
}

Result<TileIndex> index_from_json(const json& j, const MosaicGeometry* geometry) {
  try {
    // Integers only: a float outside int32 would be an undefined conversion (fuzz_slide_json).
    const json& ppf_json = j.at("planes_per_field");
    if (!ppf_json.is_number_integer() || ppf_json.get<int64_t>() < 1 ||
        ppf_json.get<int64_t>() > MosaicGeometry::kMaxPlanesPerField) {
      return Status::invalid_argument("tile index: planes_per_field " + ppf_json.dump() + " out of range");
    }
    const int32_t ppf = ppf_json.get<int32_t>();
    const json& fields = j.at("fields");
    if (geometry != nullptr) {
      if (ppf != geometry->planes_per_field()) {
        return Status::invalid_argument("tile index: planes_per_field " + std::to_string(ppf) +
                                        " differs from the geometry's " +
                                        std::to_string(geometry->planes_per_field()));
      }
      if (!fields.is_array() || fields.size() > uint64_t(geometry->rows) * uint64_t(geometry->cols)) {
        return Status::invalid_argument("tile index: more fields than the mosaic has");
      }
    } else if (ppf < 1 || ppf > MosaicGeometry::kMaxPlanesPerField) {
      return Status::invalid_argument("tile index: planes_per_field " + std::to_string(ppf) + " out of range");
    }
    TileIndex index(ppf);
    for (const auto& f : fields) {
      FieldOfView fov;
      from_json(f, fov);
      if (geometry != nullptr && (fov.row < 0 || fov.row >= geometry->rows || fov.col < 0 || fov.col >= geometry->cols)) {
        return Status::invalid_argument("tile index: field (" + std::to_string(fov.row) + "," +
                                        std::to_string(fov.col) + ") outside the mosaic");
      }
      const auto planes = f.at("planes").get<std::string>();
      if (planes.size() != size_t(ppf)) {
        return Status::invalid_argument("tile index: field (" + std::to_string(fov.row) + "," +
                                        std::to_string(fov.col) + ") has " + std::to_string(planes.size()) +
                                        " plane flags, not " + std::to_string(ppf));
      }
      if (!f.at("slot").is_number_integer()) {
        return Status::invalid_argument("tile index: slot " + f.at("slot").dump() + " is not an integer");
      }
      index.upsert(fov, f.at("slot").get<int64_t>());
      for (size_t p = 0; p < planes.size(); ++p) {
        if (planes[p] == '1') index.mark_plane(fov.row, fov.col, int32_t(p));
      }
    }
    return index;
  } catch (const std::exception& e) {
    return Status::invalid_argument(std::string("tile index: ") + e.what());
  }
}

json error_reply(uint64_t id, WireError code, std::string_view message) {
  return json{{"v", kProtocolVersion}, {"id", id}, {"ok", false},
              {"error", json{{"code", wire_error_name(code)}, {"message", message}}}};
}

Status status_from_error_reply(const json& reply, std::string_view context) {
  std::string code_name = "internal", message = "error reply without a message";
  if (reply.contains("error") && reply["error"].is_object()) {
    const auto& e = reply["error"];
    if (e.contains("code") && e["code"].is_string()) code_name = e["code"].get<std::string>();
    if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
  }
  auto code = parse_wire_error(code_name).value_or(WireError::kInternal);
  return Status(wire_error_status(code), std::string(context) + ": " + code_name + ": " + message);
}

}  // namespace vslide::remote
