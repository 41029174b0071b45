// Builds small slides with known pixels for the storage tests.
#pragma once

#include <random>
#include <string>

#include "vslide/storage/hdf5_slide.h"

namespace vslide::testing {

// Deterministic 12-bit-ish content that differs per key.
inline Image16 test_plane(const MosaicGeometry& g, const TileKey& k) {
  Image16 img{g.level_width(k.level), g.level_height(k.level)};
  std::mt19937 rng(uint32_t(k.row * 7919 + k.col * 104729 + k.channel * 31 + k.z * 131 + k.t * 977 + k.level));
  std::poisson_distribution<int> noise(200);
  for (int y = 0; y < img.height(); ++y) {
    for (int x = 0; x < img.width(); ++x) {
      int v = noise(rng) + ((x + y + k.channel * 10) % 97 < 5 ? 3000 : 0);
      img.at(x, y) = uint16_t(std::min(v, 4095));
    }
  }
  return img;
}

inline SlideHeader test_header(const std::string& id = "vs-test-0001") {
  SlideHeader h;
  h.slide_id = id;
  h.name = "test slide";
  h.date = "2026-11-26T00:00:00Z";
  h.assay = "unit test";
  h.instrument = "gtest";
  h.objective = "40x/0.95";
  h.attributes["operator"] = "ci";
  return h;
}

inline MosaicGeometry test_geometry(int rows, int cols, int channels, int z = 1, int t = 1, int h = 24, int w = 40) {
  MosaicGeometry g;
  g.rows = rows;
  g.cols = cols;
  g.channels = channels;
  g.z_planes = z;
  g.timepoints = t;
  g.tile_height = h;
  g.tile_width = w;
  return g;
}

// Writes every plane of every field not in `skip` (a predicate on (r, c)).
template <typename Skip>
Status fill_slide(Hdf5Slide& s, const MosaicGeometry& g, Skip skip) {
  for (int r = 0; r < g.rows; ++r) {
    for (int c = 0; c < g.cols; ++c) {
      if (skip(r, c)) continue;
      VSLIDE_RETURN_IF_ERROR(s.write_field(FieldOfView{r, c, c * 100.0, r * 80.0, 0, 0}));
      for (int t = 0; t < g.timepoints; ++t)
        for (int z = 0; z < g.z_planes; ++z)
          for (int ch = 0; ch < g.channels; ++ch) {
            TileKey k{r, c, ch, z, t, 0};
            VSLIDE_RETURN_IF_ERROR(s.write_plane(k, test_plane(g, k)));
          }
    }
  }
  return Status();
}

}  // namespace vslide::testing
