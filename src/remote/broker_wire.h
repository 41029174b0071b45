// Frames exchanged between `vslide broker` (ROUTER backend) and the dealers
// behind it (`vslide serve --connect`). See docs/PROTOCOL.md, "Broker".
//
//   dealer -> broker: [kTag, "READY", capacity]   once per (re)connection
//                     [kTag, "HEARTBEAT"]
//                     [kTag, "REPLY", seq, client identity, "", JSON, payload...]
//   broker -> dealer: [kTag, "HEARTBEAT"]
//                     [kTag, "REQUEST", seq, client identity, request frames...]
//                     [kTag, "DISCONNECT"]    (unknown dealer: send READY again)
#pragma once

#include <string_view>

namespace vslide::remote::broker_wire {

constexpr std::string_view kTag = "VSW1";
constexpr std::string_view kReady = "READY";
constexpr std::string_view kHeartbeat = "HEARTBEAT";
constexpr std::string_view kRequest = "REQUEST";
constexpr std::string_view kReply = "REPLY";
constexpr std::string_view kDisconnect = "DISCONNECT";

}  // namespace vslide::remote::broker_wire
