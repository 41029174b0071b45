// FramePlan: everything one frame draws, in draw order, independent of how
// it is drawn. The SlideView builds it (culling, zoom layer, caches,
// progressive refinement); the GPU renderer and the CPU reference renderer
// both consume it, so tests can compare the two on any scene.
//
// Sampling rule (both renderers, in float): for the screen pixel (px, py)
// with centre (px + 0.5, py + 0.5), a draw with transform T covers the pixel
// when the texel  t = floor((centre - T.origin) * T.inv_scale)  lies inside
// the texture; the pixel then takes texel t unfiltered (nearest-neighbour).
// Later draws replace earlier ones; overlays blend on top.
//
// Thread-safety: plain values holding shared immutable images.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "vslide/core/image.h"
#include "vslide/core/registration.h"
#include "vslide/core/slide_source.h"
#include "vslide/core/tile.h"
#include "vslide/view/display.h"
#include "vslide/view/geometry.h"

namespace vslide::view {

// An image to sample, with the key that identifies it in the texture cache.
// Overview images use TileKey{row = -1, col = -1, channel, level = -1}.
struct PlaneRef {
  TileKey key;
  SharedImage16 image;  // null: the channel contributes nothing here
};

// One tile (or the overview) with one plane per displayed channel.
struct TileDraw {
  double x_um = 0, y_um = 0;  // slide position of texel (0, 0)'s top-left corner
  double um_per_texel = 1;
  int32_t width = 0, height = 0;        // texels
  std::vector<PlaneRef> planes;         // parallel to DisplaySettings::channels
  bool placeholder = false;             // a tile that failed to load: drawn as a marked pattern
  int32_t row = 0, col = 0, level = 0;  // level -1: the overview
};

// A detection layer's label tile drawn over a tile.
struct LabelDraw {
  double x_um = 0, y_um = 0;
  double um_per_texel = 1;
  TileKey key;  // identifies the texture (key.z carries -1 - layer number)
  std::shared_ptr<const LabelTile> labels;
};

struct OverlayStyle {
  Rgb label_color{1.0f, 0.85f, 0.0f};
  float label_fill_alpha = 0.25f;  // inside objects; boundaries are opaque
  Rgb outline_color{1.0f, 1.0f, 1.0f};
  float outline_width_px = 1.0f;
  Rgb placeholder_color{1.0f, 0.0f, 1.0f};
};

struct FramePlan {
  Viewport viewport;
  DisplaySettings display;
  // Shading correction per displayed channel (parallel to display.channels;
  // empty or null: raw). Tile draws (level >= 0, not the overview) show
  // FlatField::correct(raw, u, v) with u, v the texel centre as a fraction
  // of the draw's width and height, before the contrast window.
  std::vector<std::shared_ptr<const FlatField>> flatfields;
  // Colour registration per displayed channel (parallel to display.channels;
  // empty: none). On tile draws (level >= 0, not the overview) channel c
  // samples texel floor(p * scale + (d * 2^-level + 0.5 * (1 - scale))) in
  // x and y, p the pixel centre's continuous texel coordinate
  // ((centre - T.origin) * T.inv_scale) and d the offset dx_px / dy_px: at
  // level 0 the reference's pixel x reads round(x * scale + dx) of the
  // channel, as export does. A texel outside the tile: the channel does not
  // cover the pixel (drawn as an absent plane). The flat-field is taken at
  // the sampled texel. See channel_shift().
  std::vector<ChannelOffset> channel_offsets;
  std::vector<TileDraw> tiles;
  std::vector<LabelDraw> labels;
  std::vector<RectUm> outlines;  // tile outlines, slide frame
  OverlayStyle style;
};

// How a draw maps to screen pixels, in the float values both renderers use.
struct DrawTransform {
  float origin_x = 0, origin_y = 0;  // screen position of texel (0, 0)'s corner
  float inv_scale = 1;               // texels per screen pixel
  float scale = 1;                   // screen pixels per texel
};
DrawTransform draw_transform(const Viewport& viewport, double x_um, double y_um, double um_per_texel);

// A colour offset as both renderers apply it, in float: at a draw of level
// L >= 0 the sampled texel is floor(p * scale + (d * inv_f + half)) with
// inv_f = 2^-L (exactly these float operations, no fused multiply-add).
struct ChannelShift {
  float scale = 1, dx = 0, dy = 0, half = 0;  // half = 0.5 * (1 - scale)
  bool identity() const { return scale == 1.0f && dx == 0.0f && dy == 0.0f; }
};
ChannelShift channel_shift(const ChannelOffset& offset);
// The outline rectangle in screen pixels (x0, y0, x1, y1), floats.
std::array<float, 4> screen_rect(const Viewport& viewport, const RectUm& rect);

// An 8-bit RGB image, rows top to bottom.
struct RgbImage {
  int32_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
  uint8_t* at(int x, int y) { return &pixels[(size_t(y) * size_t(width) + size_t(x)) * 3]; }
  const uint8_t* at(int x, int y) const { return &pixels[(size_t(y) * size_t(width) + size_t(x)) * 3]; }
};

// Largest per-component difference between two images of the same size
// (255 when the sizes differ), and how many pixels differ at all.
struct ImageDiff {
  int max_abs = 0;
  size_t pixels_differing = 0;
};
ImageDiff compare_images(const RgbImage& a, const RgbImage& b);

// Writes an 8-bit RGB PNG (libpng). IOError naming the path on failure.
Status write_png(const std::string& path, const RgbImage& image);
// Reads an 8-bit RGB PNG written by write_png (tests and tools).
Result<RgbImage> read_png(const std::string& path);

}  // namespace vslide::view
