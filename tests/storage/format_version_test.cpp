// The file's vslide_format_version is the lowest version whose readers read
// it correctly (docs/FORMAT.md, "Versioning"): 2 for a new slide and for a
// registration or flat-field, 3 only while per-plane field positions
// (/registration/planes) are stored, which a version-2 reader refuses rather
// than drawing every plane at the reference plane's positions. Versions 1 to
// 3 open; the version is read back with the HDF5 C API, not through vslide.
#include <gtest/gtest.h>
#include <hdf5.h>

#include "common/testing.h"
#include "slide_fixture.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::testing {
namespace {

int64_t version_in_file(const std::string& path) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(f, 0) << path;
  hid_t a = H5Aopen(f, "vslide_format_version", H5P_DEFAULT);
  int64_t v = -1;
  EXPECT_GE(H5Aread(a, H5T_NATIVE_INT64, &v), 0);
  H5Aclose(a);
  H5Fclose(f);
  return v;
}

void set_version_in_file(const std::string& path, int64_t v) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0) << path;
  hid_t a = H5Aopen(f, "vslide_format_version", H5P_DEFAULT);
  ASSERT_GE(H5Awrite(a, H5T_NATIVE_INT64, &v), 0);
  H5Aclose(a);
  H5Fclose(f);
}

// Two fields, 2 time points; field (0,1) of t = 1 placed apart when `planes`.
Registration registration(bool planes) {
  Registration reg;
  reg.fields = {FieldPlacement{0, 0, 0.5, 0.25, true, 0.01}, FieldPlacement{0, 1, 100.5, 0.25, true, 0.01}};
  reg.channel_offsets = {ChannelOffset{0, 0, 0, 1, 1}};
  reg.report_json = "{}";
  if (planes) reg.plane_fields = {PlanePlacement{0, 1, FieldPlacement{0, 1, 103.0, -1.0, true, 0.02}}};
  return reg;
}

Status store(const std::string& path, const Registration& reg) {
  auto w = Hdf5Slide::open(path, OpenMode::kAppend);
  if (!w.ok()) return w.status();
  VSLIDE_RETURN_IF_ERROR((*w)->write_registration(reg));
  return (*w)->finish();
}

TEST(FormatVersion, PerPlanePositionsAloneMakeAFileVersion3) {
  TempDir dir;
  const std::string path = dir.file("v.h5");
  const MosaicGeometry g = test_geometry(1, 2, 1, 1, 2);
  {
    auto w = Hdf5Slide::create(path, test_header(), g, default_channels(1), CreateOptions{});
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    ASSERT_TRUE(fill_slide(**w, g, [](int, int) { return false; }).ok());
    ASSERT_TRUE((*w)->finish().ok());
  }
  // A new slide, and one registered without per-plane positions: version 2,
  // which every vslide since registration existed reads.
  EXPECT_EQ(version_in_file(path), 2);
  ASSERT_TRUE(store(path, registration(false)).ok());
  EXPECT_EQ(version_in_file(path), 2);

  // Per-plane positions: version 3, read back by this vslide.
  ASSERT_TRUE(store(path, registration(true)).ok());
  EXPECT_EQ(version_in_file(path), 3);
  {
    auto s = Hdf5Slide::open(path);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    EXPECT_EQ((*s)->format_version(), 3);
    auto reg = (*s)->read_registration();
    ASSERT_TRUE(reg.ok()) << reg.status().to_string();
    ASSERT_EQ(reg->plane_fields.size(), 1u);
    EXPECT_EQ(reg->find(0, 1, 0, 1)->x_um, 103.0);
  }
  // A flat-field keeps it at 3; a registration without planes brings it back to 2.
  {
    auto w = Hdf5Slide::open(path, OpenMode::kAppend);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    ASSERT_TRUE((*w)->write_flatfield(FlatField{0, 2, 2, {1.1f, 0.9f, 1.0f, 1.0f}, 10.0f}).ok());
    ASSERT_TRUE((*w)->finish().ok());
  }
  EXPECT_EQ(version_in_file(path), 3);
  ASSERT_TRUE(store(path, registration(false)).ok());
  EXPECT_EQ(version_in_file(path), 2);
  auto s = Hdf5Slide::open(path);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)->format_version(), 2);
  EXPECT_TRUE((*s)->read_registration()->plane_fields.empty());
}

TEST(FormatVersion, OlderVersionsOpenAndANewerOneIsRefused) {
  TempDir dir;
  const std::string path = dir.file("old.h5");
  const MosaicGeometry g = test_geometry(1, 2, 1, 1, 2);
  {
    auto w = Hdf5Slide::create(path, test_header(), g, default_channels(1), CreateOptions{});
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    ASSERT_TRUE(fill_slide(**w, g, [](int, int) { return false; }).ok());
    ASSERT_TRUE((*w)->finish().ok());
  }
  for (int64_t v : {1, 2, 3}) {
    set_version_in_file(path, v);
    auto s = Hdf5Slide::open(path);
    ASSERT_TRUE(s.ok()) << "version " << v << ": " << s.status().to_string();
    EXPECT_EQ((*s)->format_version(), v);
    EXPECT_TRUE((*s)->read(TileKey{0, 1, 0, 0, 0, 0}).ok());
  }
  // A version-1 file given per-plane positions goes straight to 3.
  set_version_in_file(path, 1);
  ASSERT_TRUE(store(path, registration(true)).ok());
  EXPECT_EQ(version_in_file(path), 3);
  set_version_in_file(path, kFormatVersion + 1);
  auto s = Hdf5Slide::open(path);
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.status().message().find("format version " + std::to_string(kFormatVersion + 1)),
            std::string::npos)
      << s.status().to_string();
}

}  // namespace
}  // namespace vslide::testing
