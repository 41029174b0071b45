// Issue 16: one flipped byte in a chunk record's plane or slot, or in a stage
// position, made a plane vanish or a field move while `verify` reported no
// error. A finished slide now records a digest of its index and header, and
// check_index_digest() (run by `vslide verify`) refuses the altered index.
#include <hdf5.h>

#include <gtest/gtest.h>

#include "common/testing.h"
#include "slide_fixture.h"

namespace vslide {
namespace {

std::string finished_slide(const testing::TempDir& dir) {
  const std::string path = dir.file("digest.h5");
  MosaicGeometry g = testing::test_geometry(2, 2, 2);
  auto s = Hdf5Slide::create(path, testing::test_header(), g, default_channels(2), CreateOptions{});
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c) {
      EXPECT_TRUE((*s)->write_field(FieldOfView{r, c, c * 30.0, r * 20.0, 0, 0}).ok());
      for (int ch = 0; ch < 2; ++ch) {
        TileKey k{r, c, ch, 0, 0, 0};
        EXPECT_TRUE((*s)->write_plane(k, testing::test_plane(g, k)).ok());
      }
    }
  EXPECT_TRUE((*s)->finish().ok());
  return path;
}

// Overwrites one member of record `row` of a compound table, through HDF5's partial compound I/O.
template <typename T>
void poke(const std::string& path, const char* table, const char* member, hid_t mem_type, size_t row, T value) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t d = H5Dopen2(f, table, H5P_DEFAULT);
  ASSERT_GE(d, 0);
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(T));
  ASSERT_GE(H5Tinsert(t, member, 0, mem_type), 0);
  hid_t fs = H5Dget_space(d);
  hsize_t start = row, count = 1;
  ASSERT_GE(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, nullptr, &count, nullptr), 0);
  hid_t ms = H5Screate_simple(1, &count, nullptr);
  ASSERT_GE(H5Dwrite(d, t, ms, fs, H5P_DEFAULT, &value), 0);
  EXPECT_GE(H5Sclose(ms), 0);
  EXPECT_GE(H5Sclose(fs), 0);
  EXPECT_GE(H5Tclose(t), 0);
  EXPECT_GE(H5Dclose(d), 0);
  EXPECT_GE(H5Fclose(f), 0);
}

TEST(IndexDigest, AFinishedSlideMatchesItsDigest) {
  testing::TempDir dir;
  auto slide = Hdf5Slide::open(finished_slide(dir));
  ASSERT_TRUE(slide.ok());
  auto checked = (*slide)->check_index_digest();
  ASSERT_TRUE(checked.ok()) << checked.status().to_string();
  EXPECT_TRUE(*checked);
}

TEST(IndexDigest, AChunkRecordMovedToAnotherPlaneIsCaught) {
  testing::TempDir dir;
  const std::string path = finished_slide(dir);
  poke<int32_t>(path, "index/chunks", "plane", H5T_NATIVE_INT32, 0, 1);  // plane 0 of field 0 recorded as plane 1
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok()) << slide.status().to_string();
  EXPECT_EQ((*slide)->index()->planes_present(), 7u);  // the plane vanished from the index
  auto checked = (*slide)->check_index_digest();
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.status().code(), StatusCode::kCorruption);
  auto r = testing::run_command(testing::vslide_binary() + " verify " + path + " 2>&1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("digest"), std::string::npos) << r.output;
}

TEST(IndexDigest, AMovedStagePositionIsCaught) {
  testing::TempDir dir;
  const std::string path = finished_slide(dir);
  poke<double>(path, "index/fields", "stage_x_um", H5T_NATIVE_DOUBLE, 1, 1234.5);
  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok()) << slide.status().to_string();
  EXPECT_FALSE((*slide)->check_index_digest().ok());
}

}  // namespace
}  // namespace vslide
