// The index tables (/index/fields, /index/chunks, a detection layer's chunks)
// are read chunk by chunk with every size and place checked before libhdf5
// touches the bytes: a chunk size damaged in the table's v1 B-tree (which has
// no checksum) made H5Dread copy records out of a buffer of that size, a
// heap-buffer-overflow in H5D__select_read (fuzz_hdf5_open, input kept as
// fuzz/corpus/hdf5_open/regress-index-chunk-size-overflow).
#include <hdf5.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "common/testing.h"
#include "slide_fixture.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide {
namespace {

using testing::TempDir;

std::string make_index_slide(const TempDir& dir, const std::string& name, int rows = 2, int cols = 3,
                       int32_t chunk_height = 0) {
  auto g = testing::test_geometry(rows, cols, 2, 1, 1, 32, 48);
  CreateOptions opt;
  if (chunk_height > 0) opt.chunk_height = chunk_height;
  const std::string path = dir.file(name);
  auto s = Hdf5Slide::create(path, testing::test_header(), g, default_channels(2), opt);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_TRUE(testing::fill_slide(**s, g, [](int, int) { return false; }).ok());
  EXPECT_TRUE((*s)->finish().ok());
  return path;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

struct ChunkPlace {
  uint64_t address = 0;
  uint64_t size = 0;
};

// Where the first chunk of table `table` lies, as libhdf5 reports it.
ChunkPlace first_chunk(const std::string& path, const char* table) {
  ChunkPlace p;
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(f, 0);
  hid_t d = H5Dopen2(f, table, H5P_DEFAULT);
  EXPECT_GE(d, 0) << table;
  hsize_t offset = 0, size = 0;
  unsigned mask = 0;
  haddr_t addr = HADDR_UNDEF;
  EXPECT_GE(H5Dget_chunk_info_by_coord(d, &offset, &mask, &addr, &size), 0);
  p.address = addr;
  p.size = size;
  H5Dclose(d);
  H5Fclose(f);
  return p;
}

// The byte offset of the first chunk's key in the table's v1 B-tree leaf: a
// key is the chunk's size (4 bytes), its filter mask (4), its offset in the
// table and in the record (8 + 8), then the chunk's address (8).
size_t chunk_key_offset(const std::vector<uint8_t>& bytes, const ChunkPlace& chunk) {
  uint8_t key[32] = {};
  const uint32_t size = uint32_t(chunk.size);
  std::memcpy(key, &size, 4);  // little-endian host, little-endian file
  std::memcpy(key + 24, &chunk.address, 8);
  size_t found = 0, count = 0;
  for (size_t i = 0; i + sizeof key <= bytes.size(); ++i) {
    if (std::memcmp(bytes.data() + i, key, sizeof key) == 0) {
      found = i;
      ++count;
    }
  }
  EXPECT_EQ(count, 1u) << "the chunk's B-tree key is not unique in the file";
  return found;
}

// Overwrites the first chunk's size (and, if given, its address) in the B-tree.
void damage_chunk_key(const std::string& path, const char* table, uint32_t size, uint64_t address = 0) {
  const ChunkPlace chunk = first_chunk(path, table);
  auto bytes = read_bytes(path);
  const size_t at = chunk_key_offset(bytes, chunk);
  ASSERT_GT(at, 0u);
  std::memcpy(bytes.data() + at, &size, 4);
  if (address != 0) std::memcpy(bytes.data() + at + 24, &address, 8);
  write_bytes(path, bytes);
}

void expect_corruption(const Status& st, const std::string& text) {
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.to_string();
  EXPECT_NE(st.message().find(text), std::string::npos) << st.to_string();
}

TEST(IndexTable, AChunkSizeOfZeroInTheFieldTablesBTreeIsRefusedBeforeReading) {
  // The fuzz finding: one zero byte turned the 12288-byte chunk of
  // /index/fields into a 0-byte one; H5Dread then copied the six records out
  // of an 8-byte buffer (ASan: heap-buffer-overflow in H5D__select_read).
  TempDir dir;
  const std::string path = make_index_slide(dir, "s.h5");
  ASSERT_EQ(first_chunk(path, "index/fields").size, 256u * 48u);
  damage_chunk_key(path, "index/fields", 0);
  auto s = Hdf5Slide::open(path);
  ASSERT_FALSE(s.ok());
  expect_corruption(s.status(), path + ": /index/fields records 0..5: the chunk index says the chunk holds 0 bytes, "
                                       "a chunk of 256 records of 48 bytes holds 12288");
}

TEST(IndexTable, AChunkSizeLargerThanTheChunkIsRefused) {
  TempDir dir;
  const std::string path = make_index_slide(dir, "s.h5");
  damage_chunk_key(path, "index/chunks", 65536);
  auto s = Hdf5Slide::open(path);
  ASSERT_FALSE(s.ok());
  expect_corruption(s.status(), path + ": /index/chunks records 0..11: the chunk index says the chunk holds 65536 "
                                       "bytes, a chunk of 1024 records of 32 bytes holds 32768");
}

TEST(IndexTable, AChunkBeyondTheEndOfTheFileIsRefused) {
  TempDir dir;
  const std::string path = make_index_slide(dir, "s.h5");
  const ChunkPlace chunk = first_chunk(path, "index/fields");
  const uint64_t file_size = std::filesystem::file_size(path);
  damage_chunk_key(path, "index/fields", uint32_t(chunk.size), file_size - 100);
  auto s = Hdf5Slide::open(path);
  ASSERT_FALSE(s.ok());
  expect_corruption(s.status(), path + ": /index/fields records 0..5: the chunk at byte " +
                                    std::to_string(file_size - 100) +
                                    " (12288 bytes) lies beyond the end of the file (" + std::to_string(file_size) +
                                    " bytes)");
}

TEST(IndexTable, RecordsWithoutAStoredChunkAreCorruptionNotZeros) {
  // An extent past the stored chunks used to read as zero records: field
  // (0,0) in slot 0 at stage (0,0), over and over.
  TempDir dir;
  const std::string path = make_index_slide(dir, "s.h5");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t d = H5Dopen2(f, "index/fields", H5P_DEFAULT);
  hsize_t n = 300;
  ASSERT_GE(H5Dset_extent(d, &n), 0);
  H5Dclose(d);
  H5Fclose(f);
  auto s = Hdf5Slide::open(path);
  ASSERT_FALSE(s.ok());
  expect_corruption(s.status(),
                    path + ": /index/fields records 256..299 are not stored (the table's chunk index has no chunk");
}

TEST(IndexTable, AnExtentLargerThanTheFileIsRefusedBeforeAllocating) {
  TempDir dir;
  const std::string path = make_index_slide(dir, "s.h5");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t d = H5Dopen2(f, "index/chunks", H5P_DEFAULT);
  hsize_t n = hsize_t(1) << 40;
  ASSERT_GE(H5Dset_extent(d, &n), 0);
  H5Dclose(d);
  H5Fclose(f);
  auto s = Hdf5Slide::open(path);
  ASSERT_FALSE(s.ok());
  expect_corruption(s.status(), path + ": /index/chunks claims 1099511627776 records of 32 bytes, more than the whole "
                                       "file (");
}

TEST(IndexTable, ADamagedDetectionLayerTableNamesTheLayer) {
  TempDir dir;
  const std::string path = make_index_slide(dir, "s.h5");
  {
    auto w = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    LabelTile t;
    t.width = 48;
    t.height = 32;
    t.labels.assign(48 * 32, 7);
    ASSERT_TRUE((*w)->write_labels("cells", TileKey{1, 2, 0, 0, 0, 0}, t).ok());
  }
  {
    auto s = Hdf5Slide::open(path);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    auto labels = (*s)->read_labels("cells", TileKey{1, 2, 0, 0, 0, 0});
    ASSERT_TRUE(labels.ok()) << labels.status().to_string();
    EXPECT_EQ(labels->labels, std::vector<uint32_t>(48 * 32, 7));
  }
  damage_chunk_key(path, "detections/cells/chunks", 8);
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  auto labels = (*s)->read_labels("cells", TileKey{1, 2, 0, 0, 0, 0});
  ASSERT_FALSE(labels.ok());
  expect_corruption(labels.status(), path + ": /detections/cells/chunks records 0..0: the chunk index says the chunk "
                                            "holds 8 bytes, a chunk of 256 records of 32 bytes holds 8192");
}

TEST(IndexTable, AWriterReadsTheLabelsOfALayerItFoundOnDiskAfterAddingMore) {
  // A handle that added a tile to a layer already in the file read the
  // layer's table only while it knew no tile at all: the tiles on disk were
  // then "not found" through that handle.
  TempDir dir;
  const std::string path = make_index_slide(dir, "s.h5");
  LabelTile a, b;
  a.width = b.width = 48;
  a.height = b.height = 32;
  a.labels.assign(48 * 32, 5);
  b.labels.assign(48 * 32, 9);
  {
    auto w = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    ASSERT_TRUE((*w)->write_labels("cells", TileKey{0, 0, 0, 0, 0, 0}, a).ok());
  }
  auto w = Hdf5Slide::open(path, OpenMode::kAppend);
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  ASSERT_TRUE((*w)->write_labels("cells", TileKey{1, 2, 0, 0, 0, 0}, b).ok());
  auto old_tile = (*w)->read_labels("cells", TileKey{0, 0, 0, 0, 0, 0});
  ASSERT_TRUE(old_tile.ok()) << old_tile.status().to_string();
  EXPECT_EQ(old_tile->labels, a.labels);
  auto new_tile = (*w)->read_labels("cells", TileKey{1, 2, 0, 0, 0, 0});
  ASSERT_TRUE(new_tile.ok()) << new_tile.status().to_string();
  EXPECT_EQ(new_tile->labels, b.labels);
}

TEST(IndexTable, TablesAreCheckedAgainstTheOpenFileNotWhatItsPathNamesNow) {
  // A detection layer's table is read on first use, perhaps after pyramid or
  // detect renamed a new file over the slide: the sizes are checked against
  // the file this handle has open.
  TempDir dir;
  const std::string path = make_index_slide(dir, "s.h5");
  LabelTile t;
  t.width = 48;
  t.height = 32;
  t.labels.assign(48 * 32, 3);
  {
    auto w = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    ASSERT_TRUE((*w)->write_labels("cells", TileKey{0, 1, 0, 0, 0, 0}, t).ok());
  }
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  write_bytes(dir.file("small"), std::vector<uint8_t>(1000, 0));
  std::filesystem::rename(dir.file("small"), path);
  auto labels = (*s)->read_labels("cells", TileKey{0, 1, 0, 0, 0, 0});
  ASSERT_TRUE(labels.ok()) << labels.status().to_string();
  EXPECT_EQ(labels->labels, t.labels);
}

TEST(IndexTable, TablesOfSeveralChunksReadBackExactly) {
  // 20x15 fields (two chunks of /index/fields, the second partial) with two
  // blocks per plane (1200 chunk records, two chunks of /index/chunks).
  TempDir dir;
  const std::string path = make_index_slide(dir, "big.h5", 20, 15, 16);
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  const auto& entries = (*s)->index()->entries();
  ASSERT_EQ(entries.size(), 300u);
  EXPECT_EQ((*s)->index()->planes_present(), 600u);
  for (const auto& e : entries) {
    EXPECT_EQ(e.field.stage_x_um, e.field.col * 100.0);
    EXPECT_EQ(e.field.stage_y_um, e.field.row * 80.0);
  }
  auto digest = (*s)->check_index_digest();
  ASSERT_TRUE(digest.ok()) << digest.status().to_string();
  EXPECT_TRUE(*digest);
  const auto g = (*s)->geometry();
  for (TileKey k : {TileKey{0, 0, 0, 0, 0, 0}, TileKey{19, 14, 1, 0, 0, 0}, TileKey{17, 1, 1, 0, 0, 0}}) {
    auto img = (*s)->read(k);
    ASSERT_TRUE(img.ok()) << img.status().to_string();
    EXPECT_EQ(*img, testing::test_plane(g, k));
  }
}

TEST(IndexTable, RecordsLaidOutByAnotherWriterAreConverted) {
  // The same members in another order and packed (what h5py writes for a
  // numpy record array): read through H5Tconvert, same index.
  TempDir dir;
  const std::string path = make_index_slide(dir, "s.h5");
  std::vector<TileIndex::Entry> before;
  {
    auto s = Hdf5Slide::open(path);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    before = (*s)->index()->entries();
  }
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t t = H5Tcreate(H5T_COMPOUND, 48);
  H5Tinsert(t, "acquired_unix_s", 0, H5T_IEEE_F64LE);
  H5Tinsert(t, "stage_z_um", 8, H5T_IEEE_F64LE);
  H5Tinsert(t, "stage_y_um", 16, H5T_IEEE_F64LE);
  H5Tinsert(t, "stage_x_um", 24, H5T_IEEE_F64LE);
  H5Tinsert(t, "slot", 32, H5T_STD_I64LE);
  H5Tinsert(t, "col", 40, H5T_STD_I32LE);
  H5Tinsert(t, "row", 44, H5T_STD_I32LE);
  std::vector<uint8_t> recs(before.size() * 48);
  for (size_t i = 0; i < before.size(); ++i) {
    const auto& e = before[i];
    uint8_t* r = recs.data() + i * 48;
    std::memcpy(r + 0, &e.field.acquired_unix_s, 8);
    std::memcpy(r + 8, &e.field.stage_z_um, 8);
    std::memcpy(r + 16, &e.field.stage_y_um, 8);
    std::memcpy(r + 24, &e.field.stage_x_um, 8);
    std::memcpy(r + 32, &e.slot, 8);
    std::memcpy(r + 40, &e.field.col, 4);
    std::memcpy(r + 44, &e.field.row, 4);
  }
  ASSERT_GE(H5Ldelete(f, "index/fields", H5P_DEFAULT), 0);
  hsize_t n = before.size(), maxn = H5S_UNLIMITED, chunk = 256;
  hid_t space = H5Screate_simple(1, &n, &maxn);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, &chunk);
  hid_t d = H5Dcreate2(f, "index/fields", t, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  ASSERT_GE(d, 0);
  ASSERT_GE(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, recs.data()), 0);
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Tclose(t);
  H5Fclose(f);
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  const auto& after = (*s)->index()->entries();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].field, before[i].field) << i;
    EXPECT_EQ(after[i].slot, before[i].slot) << i;
    EXPECT_EQ(after[i].planes, before[i].planes) << i;
  }
}

}  // namespace
}  // namespace vslide
