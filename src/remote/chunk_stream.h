// ChunkStream: one stored chunk that arrives in byte ranges (the parts of a
// streamed "tile" reply, docs/PROTOCOL.md), checked and decoded while the
// rest is still on the wire.
//
// Each range is copied into place; the bytes that became contiguous from the
// start are hashed (XXH3-64, streaming) and, for a Blosc 1 chunk whose blocks
// lie in order, every Blosc block now wholly present is decoded straight into
// the caller's output, in the calling thread, one Blosc thread (as local
// reads decode). Other codecs, and Blosc chunks laid out otherwise, are
// decoded whole by finish().
//
// How a run of blocks is decoded: Blosc 1 blocks are independent and found
// through the block-start table after the 16-byte header, so blocks [a, b)
// form a valid Blosc buffer of their own once a header and a table for just
// them are written in front of block a's bytes. Those 16 + 4(b-a) bytes
// belong to blocks already decoded (or to the original header and table,
// kept aside), and they have been hashed already: the stored bytes are
// spoiled in place, which is why the stream owns its copy.
//
// Bytes are decoded before the whole chunk is checked: finish() reports a
// checksum mismatch and the output must then be discarded. (The checksum
// guards against corruption, not against a hostile server, which could send
// any bytes with a matching checksum; Blosc bounds-checks its input.)
//
// Thread-safety: none; one stream per chunk, used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "vslide/core/codec_spec.h"
#include "vslide/core/status.h"

struct XXH3_state_s;

namespace vslide::remote {

class ChunkStream {
 public:
  // `out` receives the decoded chunk (its size is the raw size) and must
  // outlive the stream. `checksum` 0 means not recorded (nothing to check).
  ChunkStream(const CodecSpec& codec, size_t stored_bytes, uint64_t checksum, std::span<uint8_t> out);
  ~ChunkStream();
  ChunkStream(const ChunkStream&) = delete;
  ChunkStream& operator=(const ChunkStream&) = delete;

  // Copies `bytes`, which sit at `offset` in the stored chunk, then hashes
  // and decodes what became available. Corruption when the range lies
  // outside the chunk or overlaps one already added, or a decoded block is bad.
  Status add(size_t offset, std::span<const uint8_t> bytes);
  bool complete() const { return prefix_ == size_; }
  // Once complete: checks the checksum and decodes whatever is left.
  // Corruption ("fails its checksum", or the codec's complaint) otherwise.
  Status finish();

  // Blocks decoded before finish(): how much of the work overlapped the transfer.
  size_t blocks_decoded_early() const { return early_blocks_; }

 private:
  Status advance();
  Status parse_blosc_header();
  Status decode_blocks(size_t a, size_t b);
  size_t block_end(size_t j) const { return j + 1 < starts_.size() ? starts_[j + 1] : size_; }

  CodecSpec codec_;
  size_t size_;
  uint64_t checksum_;
  std::span<uint8_t> out_;
  std::unique_ptr<uint8_t[]> buf_;
  std::vector<std::pair<size_t, size_t>> pending_;  // [begin, end) received beyond the prefix
  size_t prefix_ = 0;                               // bytes [0, prefix_) are present and hashed
  XXH3_state_s* hash_ = nullptr;

  // Blosc progressive decoding.
  enum class Mode { kUndecided, kBlocks, kWhole } mode_ = Mode::kUndecided;
  uint8_t head_[4] = {};        // version, versionlz, flags, typesize of the original header
  size_t raw_ = 0, blocksize_ = 0;
  std::vector<size_t> starts_;  // block start offsets, kept aside before the table is overwritten
  size_t decoded_ = 0;          // blocks [0, decoded_) are in out_
  size_t early_blocks_ = 0;
};

}  // namespace vslide::remote
