// Lossless codecs for uint16 planes, run in the caller's thread.
//
// Blosc output is a plain Blosc buffer, byte-for-byte what HDF5's Blosc
// filter (id 32001) stores, so files written through encode() and
// H5Dwrite_chunk read back through the standard plugin (h5dump, h5py).
// gzip output is what HDF5's shuffle + deflate pipeline stores.
// Thread-safety: all functions are reentrant (Blosc's _ctx API, nthreads 1).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vslide/core/codec_spec.h"
#include "vslide/core/status.h"

namespace vslide {

// Encodes `raw` (pixels of `typesize` bytes: 2 for uint16 planes, 4 for
// uint32 label tiles). Fails only on an invalid spec.
Result<std::vector<uint8_t>> encode_chunk(const CodecSpec& spec, std::span<const uint8_t> raw,
                                          size_t typesize = 2);

// Decodes into `out`, whose size is the expected raw size. Corruption when
// the bytes are not a valid stream of this codec or decode to another size;
// the message says what was wrong, the caller adds file and tile.
Status decode_chunk(const CodecSpec& spec, std::span<const uint8_t> encoded, std::span<uint8_t> out,
                    size_t typesize = 2);

// Checks that `encoded` is a well-formed stream of this codec holding exactly
// `raw_bytes` bytes, without decoding it where the format allows (Blosc:
// header sizes and block table; none: the size); gzip is decoded. Corruption
// otherwise. Content integrity is the checksum's job, not this check's.
Status validate_chunk(const CodecSpec& spec, std::span<const uint8_t> encoded, size_t raw_bytes);

// XXH3-64 of the stored bytes: the per-chunk checksum.
uint64_t chunk_checksum(std::span<const uint8_t> bytes);

// HDF5 filter parameters for a spec: Blosc's cd_values (filter 32001) as the
// standard plugin defines them; for gzip the deflate level.
std::vector<unsigned> blosc_cd_values(const CodecSpec& spec, size_t chunk_bytes, size_t typesize = 2);
// Blosc compressor code as the filter stores it (0 blosclz, 1 lz4, 4 zlib, 5 zstd).
int blosc_compressor_code(const std::string& compressor);

constexpr int kBloscFilterId = 32001;

}  // namespace vslide
