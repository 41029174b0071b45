#include "gl_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace vslide::view {

namespace {

Result<GLuint> compile(GLenum kind, const char* source, const char* name) {
  GLuint s = glCreateShader(kind);
  glShaderSource(s, 1, &source, nullptr);
  glCompileShader(s);
  GLint ok = 0;
  glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char log[2048] = {0};
    glGetShaderInfoLog(s, sizeof log, nullptr, log);
    glDeleteShader(s);
    return Status::internal(std::string("GL: shader ") + name + " does not compile: " + log);
  }
  return s;
}

}  // namespace

Result<GLuint> link_program(const char* vert, const char* frag, const char* name) {
  VSLIDE_ASSIGN_OR_RETURN(GLuint vs, compile(GL_VERTEX_SHADER, vert, name));
  auto fs = compile(GL_FRAGMENT_SHADER, frag, name);
  if (!fs.ok()) {
    glDeleteShader(vs);
    return fs.status();
  }
  GLuint p = glCreateProgram();
  glAttachShader(p, vs);
  glAttachShader(p, *fs);
  glLinkProgram(p);
  glDeleteShader(vs);
  glDeleteShader(*fs);
  GLint ok = 0;
  glGetProgramiv(p, GL_LINK_STATUS, &ok);
  if (!ok) {
    char log[2048] = {0};
    glGetProgramInfoLog(p, sizeof log, nullptr, log);
    glDeleteProgram(p);
    return Status::internal(std::string("GL: program ") + name + " does not link: " + log);
  }
  return p;
}

Status make_target(GLuint* fbo, GLuint* tex, GLenum format, int w, int h, const char* what) {
  if (*fbo) glDeleteFramebuffers(1, fbo);
  if (*tex) glDeleteTextures(1, tex);
  glGenTextures(1, tex);
  glBindTexture(GL_TEXTURE_2D, *tex);
  glTexStorage2D(GL_TEXTURE_2D, 1, format, w, h);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  glGenFramebuffers(1, fbo);
  glBindFramebuffer(GL_FRAMEBUFFER, *fbo);
  glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, *tex, 0);
  if (glCheckFramebufferStatus(GL_FRAMEBUFFER) != GL_FRAMEBUFFER_COMPLETE) {
    return Status::internal(std::string("GL: the ") + what + " framebuffer of " + std::to_string(w) + "x" +
                            std::to_string(h) + " is incomplete");
  }
  return Status();
}

void set_quad(GLint loc, float x0, float y0, float x1, float y1, int vw, int vh) {
  auto cx = [&](float v) { return std::clamp(v, -2.0f, float(vw) + 2.0f); };
  auto cy = [&](float v) { return std::clamp(v, -2.0f, float(vh) + 2.0f); };
  glUniform4f(loc, cx(std::floor(x0) - 1), cy(std::floor(y0) - 1), cx(std::ceil(x1) + 1),
              cy(std::ceil(y1) + 1));
}

Result<RgbImage> read_frame_rgb(GLuint fbo, int w, int h, std::vector<uint8_t>* scratch) {
  // Read as RGB straight into the image (no RGBA copy to convert), then
  // flip the rows in place.
  RgbImage out;
  out.width = w;
  out.height = h;
  out.pixels.resize(size_t(w) * size_t(h) * 3);
  glBindFramebuffer(GL_FRAMEBUFFER, fbo);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadPixels(0, 0, w, h, GL_RGB, GL_UNSIGNED_BYTE, out.pixels.data());
  if (GLenum e = glGetError(); e != GL_NO_ERROR) {
    return Status::internal("GL: reading the frame back failed with error " + std::to_string(e));
  }
  // GL rows are bottom-up.
  const size_t row = size_t(w) * 3;
  scratch->resize(row);
  for (int y = 0; y < h / 2; ++y) {
    uint8_t* a = out.at(0, y);
    uint8_t* b = out.at(0, h - 1 - y);
    std::memcpy(scratch->data(), a, row);
    std::memcpy(a, b, row);
    std::memcpy(b, scratch->data(), row);
  }
  return out;
}

}  // namespace vslide::view
