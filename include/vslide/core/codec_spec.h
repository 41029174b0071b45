// Names and parameters of the lossless codecs a stored chunk may use.
// The codecs themselves live in storage (vslide/storage/codec.h); the core
// only describes them so that a SlideSource can say how its bytes are packed.
#pragma once

#include <cstdint>
#include <string>

#include "vslide/core/status.h"

namespace vslide {

enum class CodecFamily { kNone, kBlosc, kGzip };
enum class Shuffle { kNone = 0, kByte = 1, kBit = 2 };  // Blosc's own numbering

struct CodecSpec {
  CodecFamily family = CodecFamily::kBlosc;
  std::string compressor = "lz4";  // Blosc: lz4, zstd, blosclz, zlib; gzip: "deflate"
  Shuffle shuffle = Shuffle::kBit;
  int level = 5;                   // Blosc clevel 1-9; gzip 1-9
  int blocksize = 0;               // Blosc block size in bytes; 0 = Blosc's choice

  // Canonical names: "blosc-lz4-bitshuffle", "blosc-lz4-shuffle",
  // "blosc-zstd-bitshuffle", "blosc-blosclz-shuffle", "gzip", "none".
  std::string name() const;
  // Accepts the canonical names, optionally followed by ":LEVEL" (e.g. "gzip:6").
  static Result<CodecSpec> parse(std::string_view name);
  static CodecSpec none() { return CodecSpec{CodecFamily::kNone, "", Shuffle::kNone, 0, 0}; }
  static CodecSpec fast_default() { return CodecSpec{}; }

  bool operator==(const CodecSpec&) const = default;
};

}  // namespace vslide
