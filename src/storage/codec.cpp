#include "vslide/storage/codec.h"

#include <blosc.h>
#include <xxhash.h>
#include <zlib.h>

#include <cstring>

namespace vslide {

namespace {

// HDF5's shuffle filter layout: all first bytes of each element, then all
// second bytes, ...; a tail that is not a whole element is copied as is.
void byte_shuffle(std::span<const uint8_t> in, uint8_t* out, size_t typesize) {
  const size_t n = in.size() / typesize;
  for (size_t b = 0; b < typesize; ++b) {
    uint8_t* dst = out + b * n;
    for (size_t i = 0; i < n; ++i) dst[i] = in[i * typesize + b];
  }
  std::memcpy(out + n * typesize, in.data() + n * typesize, in.size() - n * typesize);
}

void byte_unshuffle(const uint8_t* in, std::span<uint8_t> out, size_t typesize) {
  const size_t n = out.size() / typesize;
  for (size_t b = 0; b < typesize; ++b) {
    const uint8_t* src = in + b * n;
    for (size_t i = 0; i < n; ++i) out[i * typesize + b] = src[i];
  }
  std::memcpy(out.data() + n * typesize, in + n * typesize, out.size() - n * typesize);
}

}  // namespace

int blosc_compressor_code(const std::string& compressor) {
  if (compressor == "blosclz") return BLOSC_BLOSCLZ;
  if (compressor == "lz4") return BLOSC_LZ4;
  if (compressor == "lz4hc") return BLOSC_LZ4HC;
  if (compressor == "zlib") return BLOSC_ZLIB;
  if (compressor == "zstd") return BLOSC_ZSTD;
  return -1;
}

std::vector<unsigned> blosc_cd_values(const CodecSpec& spec, size_t chunk_bytes, size_t typesize) {
  // {filter revision, Blosc format version, typesize, chunk bytes, clevel,
  //  shuffle, compressor code}: the layout of the standard filter 32001.
  return {2u, unsigned(BLOSC_VERSION_FORMAT), unsigned(typesize), unsigned(chunk_bytes), unsigned(spec.level),
          unsigned(spec.shuffle), unsigned(blosc_compressor_code(spec.compressor))};
}

Result<std::vector<uint8_t>> encode_chunk(const CodecSpec& spec, std::span<const uint8_t> raw, size_t typesize) {
  std::vector<uint8_t> out;
  switch (spec.family) {
    case CodecFamily::kNone:
      out.assign(raw.begin(), raw.end());
      return out;
    case CodecFamily::kBlosc: {
      const char* comp = spec.compressor.c_str();
      if (blosc_compressor_code(spec.compressor) < 0) {
        return Status::invalid_argument("unknown Blosc compressor '" + spec.compressor + "'");
      }
      // Compress into this thread's scratch buffer, then copy out exactly
      // the bytes made: sizing `out` for the worst case would zero (and, for
      // fresh memory, fault in) the whole raw size for a stream of half of it.
      thread_local std::vector<uint8_t> scratch;
      if (scratch.size() < raw.size() + BLOSC_MAX_OVERHEAD) scratch.resize(raw.size() + BLOSC_MAX_OVERHEAD);
      int n = blosc_compress_ctx(spec.level, int(spec.shuffle), typesize, raw.size(), raw.data(), scratch.data(),
                                 raw.size() + BLOSC_MAX_OVERHEAD, comp, size_t(spec.blocksize), 1);
      if (n <= 0) return Status::internal("Blosc compression failed (code " + std::to_string(n) + ")");
      out.assign(scratch.begin(), scratch.begin() + n);
      return out;
    }
    case CodecFamily::kGzip: {
      std::vector<uint8_t> shuffled(raw.size());
      byte_shuffle(raw, shuffled.data(), typesize);
      uLongf dest_len = compressBound(uLong(raw.size()));
      out.resize(dest_len);
      int rc = compress2(out.data(), &dest_len, shuffled.data(), uLong(raw.size()), spec.level);
      if (rc != Z_OK) return Status::internal("zlib compress2 failed (code " + std::to_string(rc) + ")");
      out.resize(dest_len);
      return out;
    }
  }
  return Status::invalid_argument("unknown codec family");
}

Status decode_chunk(const CodecSpec& spec, std::span<const uint8_t> encoded, std::span<uint8_t> out,
                    size_t typesize) {
  switch (spec.family) {
    case CodecFamily::kNone:
      VSLIDE_RETURN_IF_ERROR(validate_chunk(spec, encoded, out.size()));
      std::memcpy(out.data(), encoded.data(), out.size());
      return Status();
    case CodecFamily::kBlosc: {
      // Blosc 1.x trusts its header: check it against the buffer before decoding.
      VSLIDE_RETURN_IF_ERROR(validate_chunk(spec, encoded, out.size()));
      int n = blosc_decompress_ctx(encoded.data(), out.data(), out.size(), 1);
      if (n < 0 || size_t(n) != out.size()) {
        return Status::corruption("Blosc decompression failed (code " + std::to_string(n) + ")");
      }
      return Status();
    }
    case CodecFamily::kGzip: {
      std::vector<uint8_t> shuffled(out.size());
      uLongf dest_len = uLongf(out.size());
      int rc = uncompress(shuffled.data(), &dest_len, encoded.data(), uLong(encoded.size()));
      if (rc != Z_OK) {
        return Status::corruption(std::string("deflate stream is invalid (zlib: ") +
                                  (rc == Z_DATA_ERROR ? "data error" : rc == Z_BUF_ERROR ? "too large" : "error") + ")");
      }
      if (dest_len != out.size()) {
        return Status::corruption("deflate stream holds " + std::to_string(dest_len) + " bytes, expected " +
                                  std::to_string(out.size()));
      }
      byte_unshuffle(shuffled.data(), out, typesize);
      return Status();
    }
  }
  return Status::invalid_argument("unknown codec family");
}

Status validate_chunk(const CodecSpec& spec, std::span<const uint8_t> encoded, size_t raw_bytes) {
  switch (spec.family) {
    case CodecFamily::kNone:
      if (encoded.size() != raw_bytes) {
        return Status::corruption("uncompressed chunk holds " + std::to_string(encoded.size()) + " bytes, expected " +
                                  std::to_string(raw_bytes));
      }
      return Status();
    case CodecFamily::kBlosc: {
      if (encoded.size() < BLOSC_MIN_HEADER_LENGTH) {
        return Status::corruption("Blosc chunk of " + std::to_string(encoded.size()) +
                                  " bytes is shorter than a Blosc header");
      }
      size_t nbytes = 0, cbytes = 0, blocksize = 0;
      blosc_cbuffer_sizes(encoded.data(), &nbytes, &cbytes, &blocksize);
      if (cbytes != encoded.size()) {
        return Status::corruption("Blosc header says " + std::to_string(cbytes) + " compressed bytes, chunk holds " +
                                  std::to_string(encoded.size()));
      }
      if (nbytes != raw_bytes) {
        return Status::corruption("Blosc header says " + std::to_string(nbytes) + " raw bytes, expected " +
                                  std::to_string(raw_bytes));
      }
      size_t validated = 0;
      if (blosc_cbuffer_validate(encoded.data(), encoded.size(), &validated) != 0) {
        return Status::corruption("Blosc header is invalid");
      }
      return Status();
    }
    case CodecFamily::kGzip: {
      std::vector<uint8_t> out(raw_bytes);
      return decode_chunk(spec, encoded, out);
    }
  }
  return Status::invalid_argument("unknown codec family");
}

uint64_t chunk_checksum(std::span<const uint8_t> bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

}  // namespace vslide
