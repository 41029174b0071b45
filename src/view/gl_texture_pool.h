// TexturePool (internal to the GL renderer): integer textures kept as
// layers of GL_TEXTURE_2D_ARRAY "chunks", one chunk per image size growing
// 64, 128, ... layers. Allocating a layer is a glTexSubImage3D, not a new
// texture object (the cost that dominated cold frames on llvmpipe), and all
// tiles of one size can be drawn by one instanced draw call.
//
// Released layers become reusable only after commit_releases(), which the
// renderer calls after each draw call: a layer evicted while a pending
// batch still samples it keeps its pixels until that batch is drawn.
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
  TexturePool() = default;
  ~TexturePool();
  TexturePool(const TexturePool&) = delete;
  TexturePool& operator=(const TexturePool&) = delete;

  // A free layer for a w x h image of `internal` format (GL_R16UI, GL_R32UI).
  TexSlot allocate(GLenum internal, int w, int h);
  // Uploads pixels (GL_RED_INTEGER of `type`) into the slot.
  void upload(const TexSlot& slot, GLenum type, const void* data);
  // Uploads `count` consecutive layers from `first` (pixels packed layer after layer).
  void upload_layers(int chunk, int first, int count, GLenum type, const void* data);
  void release(const TexSlot& slot) { pending_.push_back(slot); }
  void commit_releases();
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
  std::vector<Chunk> chunks_;  // a deleted chunk keeps its index with tex = 0
  std::vector<TexSlot> pending_;
};

}  // namespace vslide::view
