// A stored chunk (from a file or a peer) validated and decoded as each codec:
// an error or a full plane, never a read or write outside the buffers.
#include <cstdint>
#include <span>
#include <vector>

#include "vslide/core/codec_spec.h"
#include "vslide/storage/codec.h"

using namespace vslide;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // First byte picks the plane size (up to 64 KiB raw), the rest is the chunk.
  const size_t raw = size_t(data[0] + 1) * 256;
  std::span<const uint8_t> chunk(data + 1, size - 1);
  static const char* kCodecs[] = {"blosc-lz4-bitshuffle", "blosc-zstd-bitshuffle", "blosc-blosclz-shuffle", "gzip",
                                  "none"};
  std::vector<uint8_t> out(raw);
  for (const char* name : kCodecs) {
    auto spec = CodecSpec::parse(name);
    if (!spec.ok()) continue;
    if (validate_chunk(*spec, chunk, raw).ok()) (void)decode_chunk(*spec, chunk, out);
    (void)decode_chunk(*spec, chunk, out);
  }
  (void)chunk_checksum(chunk);
  return 0;
}
