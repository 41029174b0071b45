// The tile dealer's wire protocol (docs/PROTOCOL.md is the normative text).
//
// A request is a ZeroMQ multipart message ["" , JSON]; a reply is
// ["", JSON, payload 0, payload 1, ...]. JSON carries the operation, the
// slide, the key and, in replies, the metadata of every payload frame; the
// payload frames carry the stored chunks exactly as they lie in the file.
// This header holds the names, limits and JSON mappings that both the server
// and RemoteSlide use, so the two cannot drift apart.
// Thread-safety: pure functions on values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vslide/core/slide_source.h"

namespace vslide::remote {

constexpr int kProtocolVersion = 1;
// Features a client lists in a request's "features" array (docs/PROTOCOL.md,
// "Versioning"): meanings a client that ignores them would get wrong. A slide
// that needs one is refused (version_mismatch) to a client that does not list
// it, as a file of a newer format version is refused by an older reader.
//   plane_positions: the client places each (z, t) plane's fields at the
//   registration's per-plane positions ("planes" of the registration reply).
constexpr const char* kFeaturePlanePositions = "plane_positions";
// Largest request frame the server accepts; a bigger frame drops the peer's
// connection (ZMQ_MAXMSGSIZE) before a byte of it is buffered.
constexpr int64_t kMaxRequestBytes = 64 * 1024;
// Most keys in one "tiles" request, and most payload bytes in one reply.
constexpr size_t kMaxBatchKeys = 64;
constexpr size_t kMaxBatchBytes = 128u << 20;
// Most requests a client may keep in flight on one connection
// (docs/PROTOCOL.md): half the 8 replies a server queues per client, because
// ZeroMQ learns that queued replies were sent only every few messages, so n
// requests in flight can look like up to n + 3 queued ones, and a full queue
// drops replies (8 in flight lost one in a helper's run).
constexpr int kMaxRequestsInFlight = 4;
// Most parts a "tile" request may ask one tile to be split into ("part": [i, n]):
// all parts are in flight at once.
constexpr int kMaxTileParts = kMaxRequestsInFlight;
// Bytes [begin, end) of a stored chunk of `size` bytes that part i of n carries.
constexpr uint64_t part_begin(uint64_t size, int i, int n) { return size * uint64_t(i) / uint64_t(n); }
constexpr uint64_t part_end(uint64_t size, int i, int n) { return part_begin(size, i + 1, n); }

// Error codes as they travel ("code" of an error reply).
enum class WireError {
  kMalformedRequest,  // not [empty, JSON object] or a field of the wrong type
  kVersionMismatch,   // "v" is not kProtocolVersion
  kUnknownOp,
  kUnknownSlide,
  kOutOfRange,        // key outside the geometry or zoom levels
  kNotFound,          // tile, layer or overview absent from the slide
  kCorruption,
  kIOError,
  kBusy,              // server queue full: retry later
  kUnavailable,
  kInternal,
};
std::string_view wire_error_name(WireError e);
std::optional<WireError> parse_wire_error(std::string_view name);
// The Status code a client reports for a wire error, and back.
StatusCode wire_error_status(WireError e);
WireError status_wire_error(StatusCode code);

// "tcp://host:port/SLIDE_ID" (or, for a client on the server's host,
// "ipc://SOCKET_PATH/SLIDE_ID": a Unix socket) split into its endpoint and slide id.
struct RemoteUrl {
  std::string endpoint;  // "tcp://host:port" or "ipc://SOCKET_PATH"
  std::string slide_id;
};
Result<RemoteUrl> parse_remote_url(std::string_view url);

// An address to bind: "tcp://HOST:PORT" with PORT 0..65535 or "*" (0 and * mean any free port), or
// "ipc://PATH" / "inproc://NAME". InvalidArgument otherwise (ZeroMQ itself
// would bind "tcp://127.0.0.1:99999" to a random port, silently).
Status check_bind_address(std::string_view address);

// An address to connect to: "tcp://HOST:PORT" with PORT 1..65535, or "ipc://PATH" /
// "inproc://NAME". InvalidArgument otherwise (ZeroMQ would retry a connection to
// port 99999 or 0 forever, without an error).
Status check_connect_address(std::string_view address);

// JSON for the codec of a stored tile:
// {"name","family":"blosc"|"gzip"|"none","compressor","shuffle":0|1|2,"level","blocksize"}.
nlohmann::json codec_to_json(const CodecSpec& c);
Result<CodecSpec> codec_from_json(const nlohmann::json& j);

// Strict key parsing: every field an integer in int32 range, "row" and "col"
// required, unknown fields rejected. The message says which field was wrong.
Result<TileKey> key_from_json(const nlohmann::json& j);

// A tile's metadata as it precedes its payload frames: key, codec, plane
// size and, per block, position, size, byte count and XXH3-64 checksum (as 16
// lowercase hex digits, since JSON numbers lose precision above 2^53).
nlohmann::json tile_meta_to_json(const StoredTile& t);
// The same for a tile whose blocks carry no bytes: their byte counts in `sizes`.
nlohmann::json tile_meta_to_json(const StoredTile& t, const std::vector<uint64_t>& sizes);
// Parses the metadata; `blocks` get their geometry and checksum, the byte
// counts land in `sizes` (bytes themselves come from the payload frames).
Result<StoredTile> tile_meta_from_json(const nlohmann::json& j, std::vector<uint64_t>* sizes);

// Bounds a tile's metadata received from a peer by the slide's geometry
// before anything is allocated from it: key inside the geometry, plane size
// equal to the level's, 1..kMaxTileBlocks blocks each inside the plane, each
// block's byte count at most its raw size plus codec overhead. The message
// says which bound was broken.
constexpr size_t kMaxTileBlocks = 65536;
Status check_tile_meta(const StoredTile& t, const std::vector<uint64_t>& sizes, const MosaicGeometry& g);
// Largest stored chunk of `raw_bytes` pixels a peer may announce (raw plus
// the worst Blosc/deflate overhead).
constexpr uint64_t max_stored_bytes(uint64_t raw_bytes) { return raw_bytes + raw_bytes / 64 + 4096; }
// ZMQ_MAXMSGSIZE of a client's socket: one reply frame of a slide with this
// geometry (a label tile, 4 bytes a pixel, is the largest per-tile frame)
// but never under kMaxReplyFrameFloor (header, index and object tables).
constexpr int64_t kMaxReplyFrameFloor = int64_t(256) << 20;
int64_t max_reply_frame_bytes(const MosaicGeometry& g);

// {"planes_per_field":P,"fields":[{"row","col","stage_x_um","stage_y_um",
// "stage_z_um","acquired_unix_s","slot","planes":"1101"}]}
nlohmann::json index_to_json(const TileIndex& index);
// With `geometry`, the index must fit it: planes_per_field equal to the
// geometry's, every field inside the mosaic, at most rows x cols fields, a
// plane string of exactly planes_per_field characters.
Result<TileIndex> index_from_json(const nlohmann::json& j, const MosaicGeometry* geometry = nullptr);

std::string checksum_to_hex(uint64_t v);
std::optional<uint64_t> checksum_from_hex(std::string_view hex);

// Builds an error reply JSON: {"v":1,"id":ID,"ok":false,"error":{"code","message"}}.
nlohmann::json error_reply(uint64_t id, WireError code, std::string_view message);

// The status carried by an error reply ("code" unknown -> kInternal).
Status status_from_error_reply(const nlohmann::json& reply, std::string_view context);

}  // namespace vslide::remote
