// Truth from a real image: cut a real 16-bit micrograph into overlapping
// fields at known pixel offsets, store them as a slide, export: the fused
// level 0 must be the original image exactly (overlapping pixels hold the same
// values, and their weighted mean is that value), and level 1 its 2x2 mean
// wherever a level-1 pixel's 2x2 block lies in one field.
#include <gtest/gtest.h>

#include "common/testing.h"
#include "vslide/export/fusion.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/storage/tiff_io.h"

namespace vslide::testing {
namespace {

TEST(ExportRealImage, FieldsCutAtKnownOffsetsFuseBackToTheImage) {
  auto image = read_tiff16(real_data_dir() + "/speckles_hoechst.tif");
  ASSERT_TRUE(image.ok()) << image.status().to_string();
  const int tw = 300, th = 260, step_x = 251, step_y = 217;  // odd overlaps of 49 and 43 px
  const int cols = (image->width() - tw) / step_x + 1, rows = (image->height() - th) / step_y + 1;
  ASSERT_GE(cols, 2);
  ASSERT_GE(rows, 2);
  MosaicGeometry g;
  g.rows = rows;
  g.cols = cols;
  g.tile_width = tw;
  g.tile_height = th;
  g.pixel_size_um = 0.25;
  SlideHeader h;
  h.slide_id = "vs-real-cut";
  TempDir dir;
  auto slide = Hdf5Slide::create(dir.file("cut.h5"), h, g, default_channels(1), CreateOptions{});
  ASSERT_TRUE(slide.ok());
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      ASSERT_TRUE((*slide)->write_field(FieldOfView{r, c, c * step_x * 0.25, r * step_y * 0.25, 0, 0}).ok());
      Image16 tile = Image16::copy_of(image->view().crop(c * step_x, r * step_y, tw, th));
      ASSERT_TRUE((*slide)->write_plane(TileKey{r, c, 0, 0, 0, 0}, tile).ok());
    }
  }
  FusionOptions o;
  o.levels = 2;
  auto fuser = MosaicFuser::create(**slide, o);
  ASSERT_TRUE(fuser.ok()) << fuser.status().to_string();
  const int64_t w = (cols - 1) * step_x + tw, hh = (rows - 1) * step_y + th;
  ASSERT_EQ((*fuser)->plan().width, w);
  ASSERT_EQ((*fuser)->plan().height, hh);
  Image16 fused{int(w), int(hh)};
  ASSERT_TRUE((*fuser)->fuse_block(0, OutputPlane{}, 0, 0, int(w), int(hh), fused.pixels()).ok());
  EXPECT_TRUE(same_pixels(fused.view(), image->view().crop(0, 0, int(w), int(hh))));

  // Level 1: inside one field's interior, the 2x2 mean of the image.
  const int64_t w1 = (*fuser)->plan().level_width(1), h1 = (*fuser)->plan().level_height(1);
  Image16 level1{int(w1), int(h1)};
  ASSERT_TRUE((*fuser)->fuse_block(1, OutputPlane{}, 0, 0, int(w1), int(h1), level1.pixels()).ok());
  Image16 expect = downsample(image->view().crop(0, 0, tw, th), 2);
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 120; ++x) ASSERT_EQ(level1.at(x, y), expect.at(x, y)) << x << "," << y;
}

}  // namespace
}  // namespace vslide::testing
