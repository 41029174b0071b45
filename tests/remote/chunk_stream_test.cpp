// ChunkStream: a stored chunk fed in parts, in any order, decodes to exactly
// what decode_chunk gives for the whole chunk; bad parts are Corruption.
#include <blosc.h>

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "chunk_stream.h"
#include "remote_fixture.h"
#include "vslide/remote/protocol.h"
#include "vslide/storage/codec.h"

namespace vslide {
namespace {

using remote::ChunkStream;

struct Encoded {
  CodecSpec codec;
  std::vector<uint8_t> raw, stored;
  uint64_t checksum = 0;
};

Encoded encode(const std::string& codec_name, int width, int height) {
  Encoded e;
  e.codec = *CodecSpec::parse(codec_name);
  Image16 img = testing::remote_test_plane(width, height, TileKey{1, 2, 0, 0, 0, 0});
  const auto* p = reinterpret_cast<const uint8_t*>(img.data());
  e.raw.assign(p, p + img.byte_size());
  auto enc = encode_chunk(e.codec, e.raw);
  EXPECT_TRUE(enc.ok()) << enc.status().to_string();
  e.stored = std::move(enc).value();
  e.checksum = chunk_checksum(e.stored);
  return e;
}

// Feeds `parts` parts (as the protocol splits them) in `order`; returns the
// stream's final status and the decoded bytes.
Status feed(const Encoded& e, int parts, const std::vector<int>& order, std::vector<uint8_t>* out,
            size_t* early = nullptr) {
  out->assign(e.raw.size(), 0xEE);
  ChunkStream stream(e.codec, e.stored.size(), e.checksum, *out);
  for (int i : order) {
    const uint64_t b = remote::part_begin(e.stored.size(), i, parts), end = remote::part_end(e.stored.size(), i, parts);
    VSLIDE_RETURN_IF_ERROR(stream.add(b, {e.stored.data() + b, end - b}));
  }
  if (early != nullptr) *early = stream.blocks_decoded_early();
  return stream.finish();
}

std::vector<int> in_order(int n) {
  std::vector<int> v(size_t(n), 0);
  for (int i = 0; i < n; ++i) v[size_t(i)] = i;
  return v;
}

TEST(ChunkStream, EveryCodecEveryPartCountAnyOrderDecodesExactly) {
  std::mt19937 rng(7);
  for (const char* codec : {"blosc-lz4-bitshuffle", "blosc-lz4-shuffle", "blosc-zstd-bitshuffle",
                            "blosc-blosclz-shuffle", "gzip", "none"}) {
    for (auto [w, h] : {std::pair{700, 500}, std::pair{257, 3}, std::pair{5, 3}}) {
      const Encoded e = encode(codec, w, h);
      for (int parts : {1, 2, 3, 4, 8}) {
        auto order = in_order(parts);
        for (int round = 0; round < 3; ++round) {
          std::vector<uint8_t> out;
          Status s = feed(e, parts, order, &out);
          ASSERT_TRUE(s.ok()) << codec << " " << w << "x" << h << " parts " << parts << ": " << s.to_string();
          EXPECT_EQ(out, e.raw) << codec << " " << w << "x" << h << " parts " << parts << " round " << round;
          std::shuffle(order.begin(), order.end(), rng);
        }
      }
    }
  }
}

TEST(ChunkStream, BloscBlocksDecodeBeforeTheLastPartArrives) {
  const Encoded e = encode("blosc-lz4-bitshuffle", 1024, 1024);  // 2 MB raw: many Blosc blocks
  std::vector<uint8_t> out;
  size_t early = 0;
  ASSERT_TRUE(feed(e, 4, in_order(4), &out, &early).ok());
  EXPECT_EQ(out, e.raw);
  EXPECT_GT(early, 0u);
}

TEST(ChunkStream, BlocksOutOfOrderFallBackToAWholeDecode) {
  // Blosc with several threads may store blocks in the order they finished.
  const Encoded base = encode("blosc-lz4-bitshuffle", 1024, 1024);
  Encoded e = base;
  e.stored.resize(e.raw.size() + BLOSC_MAX_OVERHEAD);
  const int n = blosc_compress_ctx(5, BLOSC_BITSHUFFLE, 2, e.raw.size(), e.raw.data(), e.stored.data(),
                                   e.stored.size(), "lz4", 16384, 4);
  ASSERT_GT(n, 0);
  e.stored.resize(size_t(n));
  e.checksum = chunk_checksum(e.stored);
  for (int parts : {1, 3, 8}) {
    std::vector<uint8_t> out;
    ASSERT_TRUE(feed(e, parts, in_order(parts), &out).ok()) << parts;
    EXPECT_EQ(out, e.raw) << parts;
  }
}

TEST(ChunkStream, FlippedBitIsCorruptionNeverACrash) {
  const Encoded clean = encode("blosc-lz4-bitshuffle", 700, 500);
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    Encoded e = clean;
    const size_t at = rng() % e.stored.size();
    e.stored[at] ^= uint8_t(1u << (rng() % 8));
    std::vector<uint8_t> out;
    const int parts = 1 + int(rng() % 8);
    Status s = feed(e, parts, in_order(parts), &out);
    EXPECT_FALSE(s.ok()) << "flip at byte " << at;
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
  }
  // A checksum that was never recorded: a flip in the data is then the codec's to find, or not.
  Encoded e = clean;
  e.checksum = 0;
  e.stored[12] ^= 0x40;  // the header's compressed size
  std::vector<uint8_t> out;
  Status s = feed(e, 4, in_order(4), &out);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
}

TEST(ChunkStream, BadRangesAreCorruption) {
  const Encoded e = encode("blosc-lz4-bitshuffle", 300, 200);
  std::vector<uint8_t> out(e.raw.size());
  {
    ChunkStream s(e.codec, e.stored.size(), e.checksum, out);
    EXPECT_EQ(s.add(e.stored.size() - 4, {e.stored.data(), 8}).code(), StatusCode::kCorruption);  // past the end
    EXPECT_EQ(s.add(e.stored.size() + 1, {}).code(), StatusCode::kCorruption);
    ASSERT_TRUE(s.add(10, {e.stored.data() + 10, 20}).ok());
    EXPECT_EQ(s.add(25, {e.stored.data() + 25, 10}).code(), StatusCode::kCorruption);  // overlaps
    EXPECT_FALSE(s.complete());
    Status f = s.finish();
    EXPECT_EQ(f.code(), StatusCode::kCorruption);
    EXPECT_NE(f.message().find("incomplete"), std::string::npos) << f.message();
  }
  {
    ChunkStream s(e.codec, e.stored.size(), e.checksum, out);
    ASSERT_TRUE(s.add(0, {e.stored.data(), 100}).ok());
    EXPECT_EQ(s.add(50, {e.stored.data() + 50, 10}).code(), StatusCode::kCorruption);  // already in the prefix
  }
  {
    // A header that disagrees with the metadata's size.
    ChunkStream s(e.codec, e.stored.size() + 1, 0, out);
    EXPECT_EQ(s.add(0, {e.stored.data(), e.stored.size()}).code(), StatusCode::kCorruption);
  }
}

}  // namespace
}  // namespace vslide
