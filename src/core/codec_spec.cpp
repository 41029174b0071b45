#include "vslide/core/codec_spec.h"

#include <charconv>

namespace vslide {

std::string CodecSpec::name() const {
  switch (family) {
    case CodecFamily::kNone: return "none";
    case CodecFamily::kGzip: return "gzip";
    case CodecFamily::kBlosc: {
      std::string s = "blosc-" + compressor;
      s += shuffle == Shuffle::kBit ? "-bitshuffle" : shuffle == Shuffle::kByte ? "-shuffle" : "-noshuffle";
      return s;
    }
  }
  return "unknown";
}

Result<CodecSpec> CodecSpec::parse(std::string_view text) {
  std::string_view name = text;
  int level = -1;
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    name = text.substr(0, colon);
    auto lv = text.substr(colon + 1);
    auto [p, ec] = std::from_chars(lv.data(), lv.data() + lv.size(), level);
    if (ec != std::errc() || p != lv.data() + lv.size() || level < 0 || level > 9) {
      return Status::invalid_argument("codec '" + std::string(text) + "': level must be 0-9");
    }
  }
  CodecSpec spec;
  if (name == "none") {
    spec = none();
  } else if (name == "gzip") {
    spec = CodecSpec{CodecFamily::kGzip, "deflate", Shuffle::kByte, 1, 0};
  } else if (name.rfind("blosc-", 0) == 0) {
    auto rest = name.substr(6);
    auto dash = rest.find('-');
    if (dash == std::string_view::npos) {
      return Status::invalid_argument("codec '" + std::string(text) + "': expected blosc-COMPRESSOR-SHUFFLE");
    }
    spec.family = CodecFamily::kBlosc;
    spec.compressor = std::string(rest.substr(0, dash));
    auto sh = rest.substr(dash + 1);
    if (spec.compressor != "lz4" && spec.compressor != "zstd" && spec.compressor != "blosclz" &&
        spec.compressor != "zlib") {
      return Status::invalid_argument("codec '" + std::string(text) + "': unknown Blosc compressor '" +
                                      spec.compressor + "' (lz4, zstd, blosclz, zlib)");
    }
    if (sh == "bitshuffle") spec.shuffle = Shuffle::kBit;
    else if (sh == "shuffle") spec.shuffle = Shuffle::kByte;
    else if (sh == "noshuffle") spec.shuffle = Shuffle::kNone;
    else return Status::invalid_argument("codec '" + std::string(text) + "': shuffle must be bitshuffle, shuffle or noshuffle");
    if (spec.compressor == "zstd") {
      spec.level = 1;
      spec.blocksize = 1 << 20;  // measured: ~1 MB blocks help zstd in ratio and speed
    }
  } else {
    return Status::invalid_argument("unknown codec '" + std::string(text) +
                                    "' (blosc-lz4-bitshuffle, blosc-lz4-shuffle, "
                                    "blosc-zstd-bitshuffle, gzip, none)");
  }
  if (level >= 0) spec.level = level;
  return spec;
}

}  // namespace vslide
