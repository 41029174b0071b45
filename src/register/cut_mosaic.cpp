#include "vslide/register/cut_mosaic.h"

#include <cmath>
#include <random>
#include <string>

namespace vslide {

namespace {
// Steps between fields: the tile minus the overlap, so that the mosaic fits
// the image with a few pixels to spare for the true offsets.
void steps(const MosaicGeometry& g, const CutMosaicSpec& s, int32_t* sx, int32_t* sy) {
  *sx = int32_t(std::lround(g.tile_width * (1 - s.overlap)));
  *sy = int32_t(std::lround(g.tile_height * (1 - s.overlap)));
}
}  // namespace

Result<MosaicGeometry> cut_mosaic_geometry(const Image16& image, const CutMosaicSpec& s) {
  MosaicGeometry g;
  g.rows = s.rows;
  g.cols = s.cols;
  g.pixel_size_um = s.pixel_size_um;
  // tile + (n - 1) * tile * (1 - overlap) + 4 <= image size
  auto fit = [&](int32_t size, int32_t n) { return int32_t((size - 4) / (1 + (n - 1) * (1 - s.overlap))); };
  g.tile_width = s.tile_width > 0 ? s.tile_width : fit(image.width(), s.cols);
  g.tile_height = s.tile_height > 0 ? s.tile_height : fit(image.height(), s.rows);
  int32_t sx, sy;
  steps(g, s, &sx, &sy);
  if (s.rows < 1 || s.cols < 1 || g.tile_width < 32 || g.tile_height < 32 ||
      (s.cols - 1) * sx + g.tile_width + 4 > image.width() || (s.rows - 1) * sy + g.tile_height + 4 > image.height()) {
    return Status::invalid_argument("a " + std::to_string(image.width()) + "x" + std::to_string(image.height()) +
                                    " image is too small for " + std::to_string(s.rows) + "x" +
                                    std::to_string(s.cols) + " fields");
  }
  return g;
}

Result<std::vector<std::pair<double, double>>> write_cut_mosaic(const Image16& image, const CutMosaicSpec& s,
                                                                SlideWriter& writer) {
  VSLIDE_ASSIGN_OR_RETURN(MosaicGeometry g, cut_mosaic_geometry(image, s));
  int32_t sx, sy;
  steps(g, s, &sx, &sy);
  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<double> jitter(-s.jitter_px, s.jitter_px);
  std::uniform_int_distribution<int32_t> wobble(0, 4);  // true positions off the regular grid
  std::vector<std::pair<double, double>> truth;
  for (int32_t r = 0; r < s.rows; ++r) {
    for (int32_t c = 0; c < s.cols; ++c) {
      const int32_t x0 = c * sx + wobble(rng), y0 = r * sy + wobble(rng);
      truth.push_back({x0 * s.pixel_size_um, y0 * s.pixel_size_um});
      FieldOfView f{r, c, (c * sx + 2 + jitter(rng)) * s.pixel_size_um, (r * sy + 2 + jitter(rng)) * s.pixel_size_um};
      VSLIDE_RETURN_IF_ERROR(writer.write_field(f));
      Image16 tile(g.tile_width, g.tile_height);
      for (int32_t y = 0; y < g.tile_height; ++y) {
        for (int32_t x = 0; x < g.tile_width; ++x) tile.at(x, y) = image.at(x0 + x, y0 + y);
      }
      VSLIDE_RETURN_IF_ERROR(writer.write_plane(TileKey{r, c, 0, 0, 0, 0}, tile));
    }
  }
  return truth;
}

}  // namespace vslide
