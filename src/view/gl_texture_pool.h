// TexturePool (internal to the GL renderer): integer textures kept as
// layers of GL_TEXTURE_2D_ARRAY "chunks", per format and image size, growing
// 64, 128, ... layers (or as many as a frame is about to allocate). Allocating a layer is a glTexSubImage3D,
// not a new texture object (the cost that dominated cold frames on llvmpipe), and all tiles of one size can
// be drawn by one instanced draw call.
//
// Released layers become reusable only after commit_releases(), which the
// renderer calls after each frame: a layer evicted while the frame still
// samples it keeps its pixels until the frame is drawn. A chunk left empty
// is kept for reuse while the empty chunks total at most keep_empty_bytes
// (allocating texture memory costs more than filling it), else deleted.
// Thread-safety: GL thread only.
#pragma once

#include <epoxy/gl.h>

#include <cstdint>
#include <vector>

namespace vslide::view {

struct TexSlot {
  int chunk = -1;
  int layer = -1;
};

class TexturePool {
 public:
  explicit TexturePool(size_t keep_empty_bytes) : keep_empty_bytes_(keep_empty_bytes) {}
  ~TexturePool();
  TexturePool(const TexturePool&) = delete;
  TexturePool& operator=(const TexturePool&) = delete;

  // A free layer for a w x h image of `internal` format (GL_R16UI,
  // GL_RG16UI, GL_RGBA16UI, GL_R32UI). A new chunk holds `expected` layers,
  // or twice the largest chunk of that size, where its size limit allows
  // (callers pass how many images of that size the frame draws, so a cold
  // frame fills one chunk); without a hint it grows from 64 layers.
  TexSlot allocate(GLenum internal, int w, int h, int expected = 0);
  // Uploads pixels (texels of the chunk's format, rows packed) into the slot.
  void upload(const TexSlot& slot, const void* data);
  // Uploads `count` consecutive layers from `first` (pixels packed layer after layer).
  void upload_layers(int chunk, int first, int count, const void* data);
  void release(const TexSlot& slot) { pending_.push_back(slot); }
  void commit_releases();
  // Bytes per texel of an internal format this pool accepts.
  static size_t texel_bytes(GLenum internal);
  GLuint texture(int chunk) const { return chunks_[size_t(chunk)].tex; }
  size_t chunk_count() const;
  void clear();

 private:
  struct Chunk {
    GLuint tex = 0;
    GLenum internal = 0;
    int w = 0, h = 0, capacity = 0, used = 0;
    std::vector<int> free_layers;
  };
  static size_t chunk_bytes(const Chunk& c);

  const size_t keep_empty_bytes_;
  std::vector<Chunk> chunks_;  // a deleted chunk keeps its index with tex = 0
  std::vector<TexSlot> pending_;
  size_t empty_bytes_ = 0;  // in chunks with no layer used
};

}  // namespace vslide::view
