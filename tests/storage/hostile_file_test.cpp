// Damaged or crafted slide files (issue 16): every size the file states is
// checked against the header or the file before anything is allocated or
// addressed, and the file's strings are kept out of the libhdf5 code that a
// damaged file can drive into memory corruption (fuzz_hdf5_open).
#include <hdf5.h>

#include <gtest/gtest.h>

#include "common/testing.h"
#include "slide_fixture.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide {
namespace {

using testing::TempDir;

std::string make_slide(const TempDir& dir, const std::string& name, Layout layout = Layout::kLinear) {
  auto g = testing::test_geometry(2, 3, 2, 1, 1, 32, 48);
  CreateOptions opt;
  opt.layout = layout;
  const std::string path = dir.file(name);
  auto s = Hdf5Slide::create(path, testing::test_header(), g, default_channels(2), opt);
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(testing::fill_slide(**s, g, [](int, int) { return false; }).ok());
  EXPECT_TRUE((*s)->finish().ok());
  return path;
}

// Runs `edit` on the file opened for writing with the plain HDF5 API.
template <typename Edit>
void edit_file(const std::string& path, Edit edit) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  edit(f);
  ASSERT_GE(H5Fclose(f), 0);
}

// Replaces attribute `name` of `obj` by one of `type` over `space` holding `value`.
void replace_attr(hid_t obj, const char* name, hid_t type, hid_t space, const void* value) {
  if (H5Aexists(obj, name) > 0) ASSERT_GE(H5Adelete(obj, name), 0);
  hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(a, 0);
  ASSERT_GE(H5Awrite(a, type, value), 0);
  H5Aclose(a);
}

std::vector<std::string> variable_length_string_attrs(hid_t obj) {
  std::vector<std::string> out;
  H5Aiterate2(
      obj, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t loc, const char* name, const H5A_info_t*, void* data) -> herr_t {
        hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
        hid_t t = H5Aget_type(a);
        if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
          static_cast<std::vector<std::string>*>(data)->push_back(name);
        }
        H5Tclose(t);
        H5Aclose(a);
        return 0;
      },
      &out);
  return out;
}

TEST(HostileFile, StringAttributesStayOutOfTheGlobalHeap) {
  // libhdf5 1.10.8 reads a variable-length string through the global heap and
  // memcpy's whatever size a damaged heap claims (H5HG_read); fixed-length
  // strings live in the attribute itself.
  TempDir dir;
  const std::string path = make_slide(dir, "s.h5");
  edit_file(path, [](hid_t f) {
    EXPECT_EQ(variable_length_string_attrs(f), std::vector<std::string>{});
    hid_t d = H5Dopen2(f, "mosaic/level0", H5P_DEFAULT);
    EXPECT_EQ(variable_length_string_attrs(d), std::vector<std::string>{});
    H5Dclose(d);
  });
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)->header().name, "test slide");
  EXPECT_EQ((*s)->state(), SlideState::kComplete);
  EXPECT_EQ((*s)->check_index_digest().value(), true);
}

TEST(HostileFile, VariableLengthStringsOfOlderFilesAreStillRead) {
  TempDir dir;
  const std::string path = make_slide(dir, "old.h5");
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok());
  const std::string header_json = nlohmann::json((*s)->header()).dump();
  s->reset();
  edit_file(path, [&](hid_t f) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t space = H5Screate(H5S_SCALAR);
    const char* name = "an older name";
    const char* state = "complete";
    replace_attr(f, "name", t, space, &name);
    replace_attr(f, "state", t, space, &state);
    const char* hj = header_json.c_str();
    replace_attr(f, "header_json", t, space, &hj);
    H5Sclose(space);
    H5Tclose(t);
  });
  s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)->header().name, "test slide");  // header_json is authoritative
  EXPECT_EQ((*s)->state(), SlideState::kComplete);
}

TEST(HostileFile, AnAttributeArrayIsRefusedNotWrittenPastItsValue) {
  // H5Aread writes every element: a 1000-value chunk_height read into one
  // int64 overran the stack, a 3-string geometry_json one char*.
  TempDir dir;
  const std::string ints = make_slide(dir, "ints.h5");
  edit_file(ints, [](hid_t f) {
    hsize_t n = 1000;
    std::vector<int64_t> v(n, 48);
    hid_t space = H5Screate_simple(1, &n, nullptr);
    replace_attr(f, "chunk_height", H5T_NATIVE_INT64, space, v.data());
    H5Sclose(space);
  });
  auto s = Hdf5Slide::open(ints);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kCorruption) << s.status().to_string();
  EXPECT_NE(s.status().message().find("attribute 'chunk_height' holds 1000 values, expected one"), std::string::npos)
      << s.status().to_string();

  const std::string strings = make_slide(dir, "strings.h5");
  edit_file(strings, [](hid_t f) {
    hsize_t n = 3;
    const char* v[3] = {"{}", "{}", "{}"};
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t space = H5Screate_simple(1, &n, nullptr);
    replace_attr(f, "geometry_json", t, space, v);
    H5Sclose(space);
    H5Tclose(t);
  });
  s = Hdf5Slide::open(strings);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("attribute 'geometry_json' holds 3 values, expected one"), std::string::npos)
      << s.status().to_string();
}

TEST(HostileFile, MosaicExtentsAreCheckedAgainstTheHeader) {
  TempDir dir;
  // Packed: the dataset's shape is fixed by the header; claim a wider tile.
  const std::string packed = make_slide(dir, "packed.h5", Layout::kPacked);
  edit_file(packed, [](hid_t f) {
    auto g = testing::test_geometry(2, 3, 2, 1, 1, 32, 96);
    g.pixel_size_um = 0.5;
    const std::string gj = nlohmann::json(g).dump();
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, gj.size() + 1);
    hid_t space = H5Screate(H5S_SCALAR);
    replace_attr(f, "geometry_json", t, space, gj.c_str());
    H5Sclose(space);
    H5Tclose(t);
  });
  auto s = Hdf5Slide::open(packed);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kCorruption);
  EXPECT_NE(s.status().message().find("/mosaic/level0 is 128x144, the header makes it 128x288"), std::string::npos)
      << s.status().to_string();

  // Linear: cut the extendible dataset to one slot; the index still lists six.
  const std::string linear = make_slide(dir, "linear.h5");
  edit_file(linear, [](hid_t f) {
    hid_t d = H5Dopen2(f, "mosaic/level0", H5P_DEFAULT);
    hsize_t one_slot[2] = {2 * 32, 48};
    ASSERT_GE(H5Dset_extent(d, one_slot), 0);
    H5Dclose(d);
  });
  s = Hdf5Slide::open(linear);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kCorruption);
  EXPECT_NE(s.status().message().find("but /mosaic/level0 holds 1 slots"), std::string::npos) << s.status().to_string();

  // Linear, an extent that is not a whole number of slots.
  edit_file(linear, [](hid_t f) {
    hid_t d = H5Dopen2(f, "mosaic/level0", H5P_DEFAULT);
    hsize_t odd[2] = {6 * 2 * 32 + 5, 48};
    ASSERT_GE(H5Dset_extent(d, odd), 0);
    H5Dclose(d);
  });
  s = Hdf5Slide::open(linear);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("/mosaic/level0 is 389x48, the header makes it Nx48 with N a multiple of 2x32"),
            std::string::npos)
      << s.status().to_string();
}

TEST(HostileFile, SmallDatasetsThatClaimMoreThanTheFileAreRefusedBeforeAllocating) {
  TempDir dir;
  const std::string path = make_slide(dir, "big.h5");
  {
    auto w = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    Overview ov;
    ov.image = Image16(8, 8);
    ASSERT_TRUE((*w)->write_overview(ov).ok());
    ASSERT_TRUE((*w)->write_objects_json("cells", "[]").ok());
  }
  // Contiguous datasets that claim gigabytes but were never written: the file
  // stays small, and a reader that believed the extent would allocate them.
  edit_file(path, [](hid_t f) {
    auto recreate = [&](const char* name, hid_t type, std::vector<hsize_t> dims) {
      ASSERT_GE(H5Ldelete(f, name, H5P_DEFAULT), 0);
      hid_t space = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
      hid_t d = H5Dcreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      ASSERT_GE(d, 0) << name;
      for (const char* a : {"origin_x_um", "origin_y_um", "um_per_px"}) {
        double v = 1;
        hid_t s1 = H5Screate(H5S_SCALAR);
        hid_t at = H5Acreate2(d, a, H5T_NATIVE_DOUBLE, s1, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(at, H5T_NATIVE_DOUBLE, &v);
        H5Aclose(at);
        H5Sclose(s1);
      }
      H5Dclose(d);
      H5Sclose(space);
    };
    recreate("overview/channel0", H5T_STD_U16LE, {60000, 60000});
    recreate("detections/cells/objects_json", H5T_STD_U8LE, {hsize_t(1) << 36});
  });
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  auto ov = (*s)->read_overview(0);
  ASSERT_FALSE(ov.ok());
  EXPECT_EQ(ov.status().code(), StatusCode::kCorruption);
  EXPECT_NE(ov.status().message().find("/overview/channel0 claims 7200000000 bytes, more than the whole file"),
            std::string::npos)
      << ov.status().to_string();
  auto objects = (*s)->read_objects_json("cells");
  ASSERT_FALSE(objects.ok());
  EXPECT_EQ(objects.status().code(), StatusCode::kCorruption);
  EXPECT_NE(objects.status().message().find("objects_json claims 68719476736 bytes"), std::string::npos)
      << objects.status().to_string();
}

// Sets member `stored_bytes` of every record of the chunk table at `table`.
void set_stored_bytes(hid_t f, const char* table, uint32_t value) {
  hid_t d = H5Dopen2(f, table, H5P_DEFAULT);
  ASSERT_GE(d, 0) << table;
  hid_t space = H5Dget_space(d);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(uint32_t));
  H5Tinsert(t, "stored_bytes", 0, H5T_NATIVE_UINT32);
  std::vector<uint32_t> v(size_t(n), value);
  ASSERT_GE(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
  H5Tclose(t);
  H5Sclose(space);
  H5Dclose(d);
}

TEST(HostileFile, ChunkSizesFromTheIndexAreBoundedBeforeAllocating) {
  // fuzz_hdf5_open: a label chunk record claiming 2.4 GB made read_labels
  // allocate it before asking the dataset.
  TempDir dir;
  const std::string path = make_slide(dir, "labels.h5");
  {
    auto w = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    LabelTile t;
    t.width = 48;
    t.height = 32;
    t.labels.assign(48 * 32, 1);
    ASSERT_TRUE((*w)->write_labels("cells", TileKey{0, 1, 0, 0, 0, 0}, t).ok());
  }
  edit_file(path, [](hid_t f) {
    set_stored_bytes(f, "detections/cells/chunks", 0xFFFFFFF0u);
    set_stored_bytes(f, "index/chunks", 0xFFFFFFF0u);
  });
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  auto labels = (*s)->read_labels("cells", TileKey{0, 1, 0, 0, 0, 0});
  ASSERT_FALSE(labels.ok());
  EXPECT_EQ(labels.status().code(), StatusCode::kCorruption);
  EXPECT_NE(labels.status().message().find("label chunk claims 4294967280 bytes, a 48x32 label tile compresses to at most"),
            std::string::npos)
      << labels.status().to_string();
  auto tile = (*s)->read(TileKey{0, 1, 0, 0, 0, 0});
  ASSERT_FALSE(tile.ok());
  EXPECT_EQ(tile.status().code(), StatusCode::kCorruption);
  EXPECT_NE(tile.status().message().find("chunk claims 4294967280 stored bytes, at most"), std::string::npos)
      << tile.status().to_string();
}

}  // namespace
}  // namespace vslide
