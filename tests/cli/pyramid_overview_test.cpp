// `vslide pyramid`'s overview of a registered slide is drawn as the viewer
// draws the slide by default: fields at their registered positions, each
// channel through its colour offset (docs/REGISTRATION.md, step 7).
//
// Two fields of 64 x 48 cut from one specimen (an irregular pattern), the
// second truly 48 px right of the first, where the stage also puts it or 8 px
// to the left. Channel 1
// sees the specimen shifted: reference pixel (x, y) lies at its pixel
// (x + 4, y - 2) (the registration's colour offset). At factor 2 both
// channels' overviews must then be the specimen's 2x2 mean, exactly, except
// where channel 1's shifted sample leaves every field (they stay 0).
#include <gtest/gtest.h>

#include <cstdint>

#include "common/testing.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::testing {
namespace {

constexpr int kTileW = 64, kTileH = 48, kTrueX1 = 48, kDx = 4, kDy = -2;
constexpr double kUm = 0.5;

// The specimen at slide pixel (x, y): anything irregular in 12 bits.
uint16_t specimen(int x, int y) {
  uint32_t h = uint32_t(x + 1000) * 2654435761u ^ uint32_t(y + 1000) * 40503u;
  h ^= h >> 13;
  h *= 0x5bd1e995u;
  return uint16_t((h ^ (h >> 15)) % 4000);
}

// Its 2x2 mean at overview pixel (X, Y), rounded half up (vslide::downsample).
uint16_t specimen_half(int X, int Y) {
  uint32_t s = 0;
  for (int dy = 0; dy < 2; ++dy)
    for (int dx = 0; dx < 2; ++dx) s += specimen(2 * X + dx, 2 * Y + dy);
  return uint16_t((s + 2) / 4);
}

// The second field reported by the stage at `stage_x1` pixels.
void check_overview(int stage_x1) {
  TempDir dir;
  const std::string path = dir.file("overview.h5");
  MosaicGeometry g;
  g.rows = 1;
  g.cols = 2;
  g.channels = 2;
  g.tile_width = kTileW;
  g.tile_height = kTileH;
  g.pixel_size_um = kUm;
  SlideHeader h;
  h.slide_id = "overview-offsets";
  {
    auto w = Hdf5Slide::create(path, h, g, default_channels(2), CreateOptions{});
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    Registration reg;  // the true positions
    for (int c = 0; c < 2; ++c) {
      const int true_x = c * kTrueX1;
      ASSERT_TRUE((*w)->write_field(FieldOfView{0, c, c * stage_x1 * kUm, 0, 0, 0}).ok());
      reg.fields.push_back(FieldPlacement{0, c, true_x * kUm, 0, true, 0.01});
      for (int ch = 0; ch < 2; ++ch) {
        Image16 img(kTileW, kTileH);
        // Channel 1's pixel (u, v) shows the reference's (u - dx, v - dy).
        const int sx = ch == 1 ? -kDx : 0, sy = ch == 1 ? -kDy : 0;
        for (int v = 0; v < kTileH; ++v)
          for (int u = 0; u < kTileW; ++u) img.at(u, v) = specimen(true_x + u + sx, v + sy);
        ASSERT_TRUE((*w)->write_plane(TileKey{0, c, ch, 0, 0, 0}, img.view()).ok());
      }
    }
    reg.channel_offsets = {ChannelOffset{0, 0, 0, 1, 1}, ChannelOffset{1, kDx, kDy, 1, 0.9}};
    reg.report_json = "{}";
    ASSERT_TRUE((*w)->write_registration(reg).ok());
    ASSERT_TRUE((*w)->finish().ok());
  }
  auto r = run_command(vslide_binary() + " pyramid " + path + " --factors 2 --overview 2 --json 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto slide = Hdf5Slide::open(path);
  ASSERT_TRUE(slide.ok()) << slide.status().to_string();
  const int W = (kTrueX1 + kTileW) / 2, H = kTileH / 2;  // 56 x 24
  for (int ch = 0; ch < 2; ++ch) {
    SCOPED_TRACE("channel " + std::to_string(ch));
    auto ov = (*slide)->read_overview(ch);
    ASSERT_TRUE(ov.ok()) << ov.status().to_string();
    EXPECT_EQ(ov->origin_x_um, 0);
    EXPECT_EQ(ov->um_per_px, 2 * kUm);
    ASSERT_EQ(ov->image.width(), W);
    ASSERT_EQ(ov->image.height(), H);
    // Channel 1 at the overview's level: reference pixel (x, y) shows its
    // pixel (x + 2, y - 1); nothing has it in the top row or the last 2 columns.
    size_t wrong = 0;
    for (int Y = 0; Y < H; ++Y) {
      for (int X = 0; X < W; ++X) {
        const bool dark = ch == 1 && (Y < -kDy / 2 || X >= W - kDx / 2);
        const uint16_t want = dark ? 0 : specimen_half(X, Y);
        if (ov->image.at(X, Y) != want && wrong++ < 5) {
          ADD_FAILURE() << "overview pixel (" << X << "," << Y << "): " << ov->image.at(X, Y) << ", want "
                        << want;
        }
      }
    }
    EXPECT_EQ(wrong, 0u) << "of " << W * H << " pixels";
  }
}

TEST(PyramidOverview, ColourOffsetsAsTheViewerDrawsThem) { check_overview(kTrueX1); }

TEST(PyramidOverview, RegisteredPositionsAsTheViewerDrawsThem) { check_overview(kTrueX1 - 8); }

}  // namespace
}  // namespace vslide::testing
