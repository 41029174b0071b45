// The acquisition wire protocol (docs/ACQUISITION.md describes it for driver
// writers): what a scanner says to the slide manager and to a scan's slide
// proxy, and what they answer. Every message is a ZeroMQ multipart message
// whose first frame is one JSON object with a "type"; a field carries its
// pixels as a second frame, Blosc-compressed.
//
//   scanner (DEALER) --> manager (ROUTER):   begin_scan, resume_scan, status, shutdown
//   scanner (DEALER) --> slide proxy (ROUTER): hello, field (+ pixels), end, abort
//
// Thread-safety: plain functions on values. Failure modes: the parse_*
// functions return InvalidArgument naming the message and the bad member.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vslide/core/codec_spec.h"
#include "vslide/core/slide_header.h"
#include "vslide/core/status.h"
#include "vslide/core/tile.h"

namespace vslide::acquire {

constexpr int kProtocolVersion = 1;

// What a scan is: sent in begin_scan, stored in the scan folder, used to
// create the slide file.
struct ScanSpec {
  SlideHeader header;
  MosaicGeometry geometry;
  std::vector<ChannelInfo> channels;
  CodecSpec codec;  // the codec of the pixels the scanner will send
};
nlohmann::json scan_spec_to_json(const ScanSpec& spec);
// Checks every member: geometry valid (positive sizes), one channel entry per
// geometry channel, a known codec. InvalidArgument names the bad member.
Result<ScanSpec> scan_spec_from_json(const nlohmann::json& j);

// One colour plane of one field of view on the wire (and in the spool).
struct FieldMeta {
  uint64_t seq = 0;        // the scanner's message number, echoed in the ack
  TileKey key;             // level must be 0
  FieldOfView field;       // stage position of the field (row, col must match key)
  CodecSpec codec;         // codec of the pixel frame
  int32_t width = 0, height = 0;
  uint64_t checksum = 0;   // XXH3-64 of the pixel frame exactly as sent
};
nlohmann::json field_meta_to_json(const FieldMeta& m);
Result<FieldMeta> field_meta_from_json(const nlohmann::json& j);

// Parses a frame of JSON text into an object; InvalidArgument when it is not
// a JSON object with a string "type".
Result<nlohmann::json> parse_message(std::span<const uint8_t> frame, std::string_view from);

// {"type":"error","code":"InvalidArgument","error":"...", ...extra}
nlohmann::json error_reply(const Status& status);
// The Status an error reply carries (OK when it is not an error reply).
Status status_from_reply(const nlohmann::json& reply);

// TileKey as [row, col, channel, z, t] (the compact form in hello replies).
nlohmann::json key_to_array(const TileKey& k);
Result<TileKey> key_from_array(const nlohmann::json& j);

// Host part of "tcp://HOST:PORT" ("127.0.0.1" when absent or "*").
std::string endpoint_host(const std::string& endpoint);

}  // namespace vslide::acquire
