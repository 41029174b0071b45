// Small checked GL helpers for the renderer (internal to src/view): shader
// programs, offscreen targets, read-back. GL thread only.
#pragma once

#include <epoxy/gl.h>

#include <cstdint>
#include <vector>

#include "vslide/core/status.h"
#include "vslide/view/frame.h"

namespace vslide::view {

// Compiles and links a vertex + fragment program; Internal with the GL log on failure.
Result<GLuint> link_program(const char* vert, const char* frag, const char* name);

struct Program {
  GLuint id = 0;
  GLint loc(const char* name) const { return glGetUniformLocation(id, name); }
};

// (Re)creates a w x h colour texture of `format` and a framebuffer on it.
Status make_target(GLuint* fbo, GLuint* tex, GLenum format, int w, int h, const char* what);

// The quad uniform for a draw: its screen rectangle grown by a pixel, kept
// near the viewport so huge draws (the overview) keep float precision.
void set_quad(GLint loc, float x0, float y0, float x1, float y1, int vw, int vh);

// Reads an RGBA8 framebuffer back as RGB, rows top to bottom; `row` is
// scratch (one row) kept by the caller between frames.
Result<RgbImage> read_frame_rgb(GLuint fbo, int w, int h, std::vector<uint8_t>* row);

}  // namespace vslide::view
