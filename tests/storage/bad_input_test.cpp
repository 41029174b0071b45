// Bad files and bad requests: each a clear error naming the file and tile.
#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/testing.h"
#include "slide_fixture.h"
#include "vslide/storage/codec.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide {
namespace {

using testing::TempDir;

std::string make_slide(const TempDir& dir, const std::string& name, const char* codec = "blosc-lz4-bitshuffle",
                       Layout layout = Layout::kLinear) {
  auto g = testing::test_geometry(2, 3, 2, 1, 1, 32, 48);
  CreateOptions opt;
  opt.codec = *CodecSpec::parse(codec);
  opt.layout = layout;
  const std::string path = dir.file(name);
  auto s = Hdf5Slide::create(path, testing::test_header(), g, default_channels(2), opt);
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(testing::fill_slide(**s, g, [](int, int) { return false; }).ok());
  EXPECT_TRUE((*s)->finish().ok());
  return path;
}

// File offset and size of the chunk holding plane `plane` of slot `slot` (linear, whole-plane chunks).
std::pair<haddr_t, hsize_t> locate_chunk(const std::string& path, int64_t slot, int plane, int planes, int h) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, "mosaic/level0", H5P_DEFAULT);
  hsize_t off[2] = {hsize_t((slot * planes + plane) * h), 0};
  unsigned mask = 0;
  haddr_t addr = 0;
  hsize_t size = 0;
  EXPECT_GE(H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size), 0);
  H5Dclose(d);
  H5Fclose(f);
  return {addr, size};
}

void poke(const std::string& path, uint64_t offset, uint8_t xor_mask) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  uint8_t b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, off_t(offset)), 1);
  b ^= xor_mask;
  ASSERT_EQ(::pwrite(fd, &b, 1, off_t(offset)), 1);
  ::close(fd);
}

TEST(BadInput, MissingFile) {
  auto s = Hdf5Slide::open("/nonexistent/slide.h5");
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("/nonexistent/slide.h5"), std::string::npos);
}

TEST(BadInput, NotHdf5) {
  TempDir dir;
  std::ofstream(dir.file("text.h5")) << "this is not HDF5\n";
  auto s = Hdf5Slide::open(dir.file("text.h5"));
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("not an HDF5 file"), std::string::npos) << s.status().to_string();
}

TEST(BadInput, Hdf5ButNotVslide) {
  TempDir dir;
  const std::string path = dir.file("plain.h5");
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  auto s = Hdf5Slide::open(path);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("not a vslide slide"), std::string::npos) << s.status().to_string();
}

TEST(BadInput, NewerFormatVersion) {
  TempDir dir;
  const std::string path = make_slide(dir, "v.h5");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t a = H5Aopen(f, "vslide_format_version", H5P_DEFAULT);
  int64_t v = 99;
  H5Awrite(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  H5Fclose(f);
  auto s = Hdf5Slide::open(path);
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.status().message().find("format version 99"), std::string::npos) << s.status().to_string();
}

TEST(BadInput, BitFlippedChunkSpoilsOnlyThatTile) {
  for (const char* codec : {"blosc-lz4-bitshuffle", "gzip", "none"}) {
    TempDir dir;
    const std::string path = make_slide(dir, "flip.h5", codec);
    // Field (1,1) is the 5th written: slot 4. Plane 1 = channel 1.
    auto [addr, size] = locate_chunk(path, 4, 1, 2, 32);
    poke(path, addr + size / 2, 0x10);
    auto s = Hdf5Slide::open(path);
    ASSERT_TRUE(s.ok());
    auto bad = (*s)->read(TileKey{1, 1, 1});
    EXPECT_EQ(bad.status().code(), StatusCode::kCorruption) << codec;
    EXPECT_NE(bad.status().message().find("flip.h5: tile (1,1) channel 1"), std::string::npos)
        << bad.status().to_string();
    EXPECT_NE(bad.status().message().find("checksum mismatch"), std::string::npos);
    EXPECT_EQ((*s)->verify_plane(TileKey{1, 1, 1}).code(), StatusCode::kCorruption);
    // Everything else still reads.
    auto g = (*s)->geometry();
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c)
        for (int ch = 0; ch < 2; ++ch) {
          if (r == 1 && c == 1 && ch == 1) continue;
          auto img = (*s)->read(TileKey{r, c, ch});
          ASSERT_TRUE(img.ok()) << img.status().to_string();
          EXPECT_TRUE(*img == testing::test_plane(g, TileKey{r, c, ch}));
        }
  }
}

TEST(BadInput, CorruptBloscBytesGiveCorruptionNotCrash) {
  auto g = testing::test_geometry(1, 1, 1, 1, 1, 64, 64);
  Image16 img = testing::test_plane(g, TileKey{});
  const CodecSpec spec = *CodecSpec::parse("blosc-lz4-bitshuffle");
  auto enc = encode_chunk(spec, {reinterpret_cast<const uint8_t*>(img.data()), img.byte_size()});
  ASSERT_TRUE(enc.ok());
  std::vector<uint8_t> out(img.byte_size());
  // Truncated.
  std::vector<uint8_t> cut(enc->begin(), enc->begin() + long(enc->size() / 2));
  Status s = decode_chunk(spec, cut, out);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("Blosc header says"), std::string::npos) << s.to_string();
  // Header claims an absurd size.
  std::vector<uint8_t> absurd = *enc;
  absurd[4] = 0xff, absurd[5] = 0xff, absurd[6] = 0xff, absurd[7] = 0x7f;
  EXPECT_EQ(decode_chunk(spec, absurd, out).code(), StatusCode::kCorruption);
  // Too short to hold a header.
  EXPECT_EQ(decode_chunk(spec, std::vector<uint8_t>(5, 0), out).code(), StatusCode::kCorruption);
  // Garbage deflate stream.
  EXPECT_EQ(decode_chunk(*CodecSpec::parse("gzip"), std::vector<uint8_t>(100, 0x5a), out).code(),
            StatusCode::kCorruption);
}

TEST(BadInput, TruncatedFile) {
  TempDir dir;
  const std::string path = make_slide(dir, "trunc.h5", "blosc-lz4-bitshuffle", Layout::kGrid);
  auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size / 3);
  auto s = Hdf5Slide::open(path);
  if (!s.ok()) {
    EXPECT_NE(s.status().message().find("trunc.h5"), std::string::npos) << s.status().to_string();
    return;
  }
  // If the metadata survived, the lost chunks fail one by one.
  int failures = 0;
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) failures += !(*s)->read(TileKey{r, c, 0}).ok();
  EXPECT_GT(failures, 0);
}

TEST(BadInput, KeysOutOfRange) {
  TempDir dir;
  const std::string path = make_slide(dir, "keys.h5");
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok());
  for (TileKey k : {TileKey{2, 0, 0}, TileKey{0, 3, 0}, TileKey{0, 0, 2}, TileKey{-1, 0, 0}, TileKey{0, 0, 0, 1},
                    TileKey{0, 0, 0, 0, 1}}) {
    auto r = (*s)->read(k);
    EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange) << k.to_string();
    EXPECT_NE(r.status().message().find("keys.h5: tile " + k.to_string()), std::string::npos)
        << r.status().to_string();
  }
  EXPECT_EQ((*s)->read(TileKey{0, 0, 0, 0, 0, 4}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*s)->write_plane(TileKey{0, 0, 0}, Image16(48, 32)).code(), StatusCode::kFailedPrecondition);
}

TEST(BadInput, WrongPlaneSizeAndMissingField) {
  TempDir dir;
  auto g = testing::test_geometry(2, 2, 1, 1, 1, 16, 16);
  auto s = Hdf5Slide::create(dir.file("w.h5"), testing::test_header(), g, default_channels(1), CreateOptions{});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->write_plane(TileKey{0, 0, 0}, Image16(16, 16)).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*s)->write_field(FieldOfView{0, 0}).ok());
  Status st = (*s)->write_plane(TileKey{0, 0, 0}, Image16(15, 16));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("15x16"), std::string::npos);
  EXPECT_EQ((*s)->write_field(FieldOfView{5, 0}).code(), StatusCode::kOutOfRange);
  CreateOptions bad_chunk;
  bad_chunk.chunk_height = 5;
  bad_chunk.chunk_width = 16;
  EXPECT_EQ(Hdf5Slide::create(dir.file("c.h5"), testing::test_header(), g, default_channels(1), bad_chunk)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vslide

namespace vslide {
namespace {

TEST(BadInput, WriteStoredChecksFramingAndCodec) {
  testing::TempDir dir;
  auto g = testing::test_geometry(1, 1, 1, 1, 1, 16, 16);
  auto s = Hdf5Slide::create(dir.file("ws.h5"), testing::test_header(), g, default_channels(1), CreateOptions{});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->write_field(FieldOfView{0, 0}).ok());
  const CodecSpec spec = *CodecSpec::parse("blosc-lz4-bitshuffle");
  auto make = [&](int w, int h) {
    Image16 img = testing::test_plane(testing::test_geometry(1, 1, 1, 1, 1, h, w), TileKey{});
    StoredTile t;
    t.key = TileKey{0, 0, 0};
    t.codec = spec;
    t.width = 16;
    t.height = 16;
    ChunkBlock b;
    b.height = 16;
    b.width = 16;
    b.bytes = *encode_chunk(spec, {reinterpret_cast<const uint8_t*>(img.data()), img.byte_size()});
    t.blocks.push_back(b);
    return t;
  };
  Status wrong = (*s)->write_stored(make(16, 15));
  EXPECT_EQ(wrong.code(), StatusCode::kCorruption);
  EXPECT_NE(wrong.message().find("raw bytes, expected 512"), std::string::npos) << wrong.to_string();
  StoredTile other = make(16, 16);
  other.codec = *CodecSpec::parse("gzip");
  EXPECT_EQ((*s)->write_stored(other).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE((*s)->write_stored(make(16, 16)).ok());
  auto img = (*s)->read(TileKey{0, 0, 0});
  ASSERT_TRUE(img.ok());
  EXPECT_TRUE(*img == testing::test_plane(g, TileKey{}));
}

}  // namespace
}  // namespace vslide
