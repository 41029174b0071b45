// Draws one colour plane of the virtual specimen as a camera would see it
// (internal to simulate). The caller (SyntheticScanner) resolves the stage
// model into a PlaneSpec; this file knows only optics and the sensor.
#pragma once

#include <cstdint>

#include "specimen.h"

namespace vslide::sim {

struct PlaneSpec {
  int width = 0, height = 0;
  double pixel_um = 0.1625;
  // Specimen position (um) of the top-left corner of pixel (0, 0): the field's
  // true position, the channel's offset and the drift of this time point.
  double origin_x_um = 0, origin_y_um = 0;
  int channel = 0;
  double defocus_um = 0;  // distance from the focal plane
  double bleach = 1;      // multiplies every fluorescence signal
  uint64_t noise_key = 0; // seeds the sensor noise of this plane
};

// Writes width * height pixels: dark offset + vignetted signal + Poisson
// (normal approximation) and read noise, clamped to 0..4095.
void render_plane(const Specimen& specimen, const PlaneSpec& spec, uint16_t* out);
// The sensor's relative illumination at pixel (x, y) of a w x h tile, and
// its dark offset (the ground truth a shading estimate should recover).
double illumination(int x, int y, int w, int h);
double dark_counts();

}  // namespace vslide::sim
