// GlRenderer: draws a FramePlan with OpenGL 4.3+ core (paper, section 5.2).
//
// Tiles are uploaded raw as 16-bit unsigned integer textures, up to four
// channels of a tile packed in one (GL_R16UI, GL_RG16UI or GL_RGBA16UI), so
// the fragment shader fetches one texel per pixel; tile.frag.glsl applies the
// contrast window, gamma, mixer and status matrices. Each tile is drawn only
// over the pixels it owns (frame_partition.h: the last draw covering a pixel
// owns it), so overlaps are shaded once. Up to four channels are drawn in one
// pass straight into the 8-bit frame; more channels take one pass per group
// of four, summed in a float target and clamped by a resolve pass. Detection
// layers (label.frag.glsl, R32UI textures) and tile outlines
// (outline.frag.glsl) are drawn on top. The frame is an offscreen
// framebuffer object, read back into an RgbImage.
//
// Textures live in an LRU texture cache bounded in bytes, keyed by the
// planes they hold (the texture cache of section 5.1): a miss uploads the
// planes the plan carries (the tile cache and loaders have already produced
// them). A tile hidden under later ones is not uploaded. Texels are packed
// into a persistently mapped pixel buffer ring and copied to the textures
// from there, so on a GPU the upload is an asynchronous DMA rather than a
// synchronous copy out of host memory (gl_texture_pool.h).
//
// Thread-safety: none. Create, use and destroy it on the thread where its
// GlContext is current. Failure modes: Internal for a shader that does not
// compile or a framebuffer that is incomplete (message with the GL log);
// InvalidArgument for an invalid plan (see validate_plan).
#pragma once

#include <cstdint>
#include <memory>

#include "vslide/view/frame.h"
#include "vslide/view/gl_context.h"
#include "vslide/view/lru_cache.h"

namespace vslide::view {

struct GlFrameStats {
  uint64_t draw_calls = 0;
  uint64_t rects = 0;              // rectangles of owned pixels drawn (each tile's visible part, in pieces)
  uint64_t textures_uploaded = 0;  // a texture holds up to four channels of a tile
  uint64_t planes_uploaded = 0;
  uint64_t bytes_uploaded = 0;
  uint64_t upload_calls = 0;   // glTexSubImage3D calls for tiles (runs of layers)
  bool pixel_buffers = false;  // uploads read from the mapped pixel buffer ring (GL 4.4+)
  uint64_t deferred_tiles = 0;  // tiles left out of this frame by the upload budget
  double partition_ms = 0;  // deciding which tile owns which pixels (part of draw_ms)
  double upload_ms = 0;     // packing channels and uploading textures
  double draw_ms = 0;       // the rest, until glFinish
  double readback_ms = 0;
};

class GlRenderer {
 public:
  // REQUIRES: `context` current on this thread and outliving the renderer;
  // or `context` null and a 4.3+ core context made current by the caller
  // (a window toolkit's), which must stay current whenever it is used.
  static Result<std::unique_ptr<GlRenderer>> create(GlContext* context,
                                                    size_t texture_cache_bytes = 512u << 20);
  ~GlRenderer();
  GlRenderer(const GlRenderer&) = delete;
  GlRenderer& operator=(const GlRenderer&) = delete;

  // Draws the plan into the offscreen frame and waits for the GPU.
  Status draw(const FramePlan& plan);
  // Draws only the frame's rows [y0, y1) (top-down) and waits for the GPU;
  // the other rows keep what earlier draws left there. A frame drawn as
  // bands of rows of one plan, the first with `upload` and the rest
  // without, is the frame draw() makes: without `upload` no tile texture is
  // uploaded and tiles whose textures are missing are left out (counted in
  // deferred_tiles), as the first band left out those past the budget. For
  // a caller that must be able to stop a long frame between bands (the
  // window, when new input arrives). InvalidArgument for rows outside the
  // frame.
  Status draw_rows(const FramePlan& plan, int y0, int y1, bool upload);
  // draw() then reads the frame back.
  Result<RgbImage> render(const FramePlan& plan);
  // Reads back the last drawn frame.
  Result<RgbImage> read_back();

  // Bounds the texture bytes one draw() uploads (0, the default: no bound).
  // Tiles past the budget are left out of that frame (what lies under them
  // in the plan shows instead; at least one tile uploads per frame) and
  // counted in GlFrameStats::deferred_tiles: draw again for the rest. For
  // an interactive caller, where one frame's uploads of newly loaded
  // full-resolution tiles (11 MB each at 1392x1040 x 4 channels) would
  // delay the frame by tens of ms.
  void set_upload_budget(size_t bytes) { upload_budget_ = bytes; }

  const GlFrameStats& last_frame() const { return stats_; }
  CacheStats texture_cache_stats() const;
  void clear_textures();
  GlContext* context() const { return context_; }

  struct Impl;

 private:
  GlRenderer() = default;
  GlContext* context_ = nullptr;
  std::unique_ptr<Impl> impl_;
  GlFrameStats stats_;
  size_t upload_budget_ = 0;
};

}  // namespace vslide::view
