// Shared by the fuzz targets: a small real slide, made once per process.
#pragma once

#include <unistd.h>

#include <string>

#include "vslide/storage/hdf5_slide.h"

namespace vslide::fuzz {

// A 2x2-field, 2-channel slide of 32x24 tiles in 2 blocks each, with zoom
// level 1, written to /dev/shm (or /tmp) under a per-process name.
inline std::string make_small_slide(const std::string& tag) {
  const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/vslide-fuzz-" + tag + "-" + std::to_string(::getpid()) + ".h5";
  MosaicGeometry g;
  g.rows = g.cols = 2;
  g.channels = 2;
  g.tile_height = 24;
  g.tile_width = 32;
  SlideHeader h;
  h.slide_id = "fuzz";
  CreateOptions o;
  o.overwrite = true;
  o.chunk_height = 12;
  auto s = Hdf5Slide::create(path, h, g, default_channels(2), o);
  if (!s.ok()) abort();
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c) {
      if (!(*s)->write_field(FieldOfView{r, c, c * 30.0, r * 20.0, 0, 0}).ok()) abort();
      for (int ch = 0; ch < 2; ++ch) {
        Image16 img(32, 24);
        for (int y = 0; y < 24; ++y)
          for (int x = 0; x < 32; ++x) img.at(x, y) = uint16_t((x * 7 + y * 13 + r + c + ch) % 4096);
        if (!(*s)->write_plane(TileKey{r, c, ch, 0, 0, 0}, img).ok()) abort();
      }
    }
  if (!(*s)->finish().ok()) abort();
  return path;
}

}  // namespace vslide::fuzz
