#include "chunk_stream.h"

#include <blosc.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "vslide/storage/codec.h"

namespace vslide::remote {

namespace {

constexpr size_t kHeader = 16;  // Blosc 1 header; the block-start table follows

uint32_t load_le32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
void store_le32(uint8_t* p, size_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}

}  // namespace

ChunkStream::ChunkStream(const CodecSpec& codec, size_t stored_bytes, uint64_t checksum, std::span<uint8_t> out)
    : codec_(codec), size_(stored_bytes), checksum_(checksum), out_(out),
      buf_(std::make_unique_for_overwrite<uint8_t[]>(std::max<size_t>(1, stored_bytes))) {
  if (checksum_ != 0) {
    hash_ = XXH3_createState();
    if (hash_ != nullptr) XXH3_64bits_reset(hash_);
  }
  // Without a streaming hash the checksum is taken at the end, over bytes that
  // block decoding would have rewritten: decode whole then.
  if (codec_.family != CodecFamily::kBlosc || (checksum_ != 0 && hash_ == nullptr)) mode_ = Mode::kWhole;
}

ChunkStream::~ChunkStream() {
  if (hash_ != nullptr) XXH3_freeState(hash_);
}

Status ChunkStream::add(size_t offset, std::span<const uint8_t> bytes) {
  if (offset > size_ || bytes.size() > size_ - offset) {
    return Status::corruption("bytes [" + std::to_string(offset) + ", +" + std::to_string(bytes.size()) +
                              ") lie outside a chunk of " + std::to_string(size_) + " bytes");
  }
  if (bytes.empty()) return Status();
  const size_t end = offset + bytes.size();
  if (offset < prefix_) return Status::corruption("bytes at " + std::to_string(offset) + " arrived twice");
  for (const auto& [b, e] : pending_) {
    if (offset < e && b < end) return Status::corruption("bytes at " + std::to_string(offset) + " arrived twice");
  }
  std::memcpy(buf_.get() + offset, bytes.data(), bytes.size());
  pending_.emplace_back(offset, end);
  return advance();
}

Status ChunkStream::advance() {
  const size_t before = prefix_;
  for (bool grown = true; grown;) {
    grown = false;
    for (size_t i = 0; i < pending_.size(); ++i) {
      if (pending_[i].first == prefix_) {
        prefix_ = pending_[i].second;
        pending_.erase(pending_.begin() + std::ptrdiff_t(i));
        grown = true;
        break;
      }
    }
  }
  if (prefix_ == before) return Status();
  // Hash before any decoding below rewrites bytes of this range.
  if (hash_ != nullptr) XXH3_64bits_update(hash_, buf_.get() + before, prefix_ - before);
  if (mode_ == Mode::kUndecided) VSLIDE_RETURN_IF_ERROR(parse_blosc_header());
  if (mode_ != Mode::kBlocks) return Status();
  size_t ready = decoded_;
  while (ready < starts_.size() && block_end(ready) <= prefix_) ++ready;
  // Leave the last full block for the call that decodes the short last one:
  // a Blosc buffer of only a partial block is not one Blosc writes.
  if (raw_ % blocksize_ != 0 && starts_.size() >= 2 && ready == starts_.size() - 1) --ready;
  if (ready > decoded_ && !complete()) {
    const size_t n = ready - decoded_;
    VSLIDE_RETURN_IF_ERROR(decode_blocks(decoded_, ready));
    early_blocks_ += n;
  }
  return Status();
}

Status ChunkStream::parse_blosc_header() {
  if (prefix_ < kHeader) return Status();
  const uint8_t* h = buf_.get();
  const size_t raw = load_le32(h + 4), blocksize = load_le32(h + 8), cbytes = load_le32(h + 12);
  if (cbytes != size_) {
    return Status::corruption("Blosc header says " + std::to_string(cbytes) + " compressed bytes, chunk holds " +
                              std::to_string(size_));
  }
  if (raw != out_.size()) {
    return Status::corruption("Blosc header says " + std::to_string(raw) + " raw bytes, expected " +
                              std::to_string(out_.size()));
  }
  // Only the plain Blosc 1 layout is decoded block by block; anything else
  // (memcpy'ed, newer format versions, blocks out of order) waits for finish().
  if (h[0] == 0 || h[0] > BLOSC_VERSION_FORMAT || (h[2] & BLOSC_MEMCPYED) != 0 || blocksize == 0 || raw == 0) {
    mode_ = Mode::kWhole;
    return Status();
  }
  const size_t nblocks = raw / blocksize + (raw % blocksize != 0 ? 1 : 0);
  const size_t table_end = kHeader + 4 * nblocks;
  if (table_end >= size_) {
    mode_ = Mode::kWhole;
    return Status();
  }
  if (prefix_ < table_end) return Status();
  std::vector<size_t> starts(nblocks);
  for (size_t j = 0; j < nblocks; ++j) {
    starts[j] = load_le32(h + kHeader + 4 * j);
    const size_t lower = j == 0 ? table_end : starts[j - 1] + 1;
    if (starts[j] < lower || starts[j] >= size_ || (j == 0 && starts[j] != table_end)) {
      mode_ = Mode::kWhole;
      return Status();
    }
  }
  std::memcpy(head_, h, sizeof head_);
  raw_ = raw;
  blocksize_ = blocksize;
  starts_ = std::move(starts);
  mode_ = Mode::kBlocks;
  return Status();
}

Status ChunkStream::decode_blocks(size_t a, size_t b) {
  const size_t k = b - a;
  const size_t head = kHeader + 4 * k;
  // starts_[a] >= 16 + 4 * nblocks >= head: the new header fits in front.
  uint8_t* base = buf_.get() + starts_[a] - head;
  const size_t raw_end = b == starts_.size() ? raw_ : b * blocksize_;
  const size_t nbytes = raw_end - a * blocksize_;
  std::memcpy(base, head_, sizeof head_);
  store_le32(base + 4, nbytes);
  store_le32(base + 8, blocksize_);
  store_le32(base + 12, head + block_end(b - 1) - starts_[a]);
  for (size_t j = 0; j < k; ++j) store_le32(base + kHeader + 4 * j, starts_[a + j] - starts_[a] + head);
  const int n = blosc_decompress_ctx(base, out_.data() + a * blocksize_, nbytes, 1);
  if (n < 0 || size_t(n) != nbytes) {
    return Status::corruption("Blosc blocks " + std::to_string(a) + ".." + std::to_string(b - 1) +
                              " do not decode (code " + std::to_string(n) + ")");
  }
  decoded_ = b;
  return Status();
}

Status ChunkStream::finish() {
  if (!complete()) {
    return Status::corruption("chunk incomplete: " + std::to_string(prefix_) + " of " + std::to_string(size_) +
                              " bytes contiguous");
  }
  if (checksum_ != 0) {
    const uint64_t got = hash_ != nullptr ? XXH3_64bits_digest(hash_) : chunk_checksum({buf_.get(), size_});
    if (got != checksum_) {
      return Status::corruption("chunk of " + std::to_string(size_) + " bytes fails its checksum");
    }
  }
  if (mode_ == Mode::kBlocks) {
    if (decoded_ < starts_.size()) VSLIDE_RETURN_IF_ERROR(decode_blocks(decoded_, starts_.size()));
    return Status();
  }
  // Nothing was rewritten in this mode: the buffer is the stored chunk.
  return decode_chunk(codec_, {buf_.get(), size_}, out_);
}

}  // namespace vslide::remote
