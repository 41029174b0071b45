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
//
// Uploads go through a ring of persistently mapped pixel buffer memory (a
// GL_PIXEL_UNPACK_BUFFER made with glBufferStorage, GL 4.4+): the renderer
// packs texels straight into the mapping (begin_upload) and glTexSubImage3D
// then reads from the buffer (end_upload), so on a GPU the copy is a DMA the
// driver schedules without stalling the frame's CPU work, and no fresh host
// memory is touched per frame. A region of the ring is reused only after a
// fence says the GPU has read it. Without buffer storage, uploads read from
// host memory as before.
// Thread-safety: GL thread only.
#pragma once

#include <epoxy/gl.h>

#include <cstdint>
#include <deque>
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
  // Memory to pack `bytes` of texels into, for the next end_upload (valid until then).
  void* begin_upload(size_t bytes);
  // Uploads what was packed at begin_upload into `count` layers from `first`.
  void end_upload(int chunk, int first, int count);
  // True when uploads go through the mapped pixel buffer ring.
  bool uses_pixel_buffers() const { return ring_.map != nullptr; }
  void release(const TexSlot& slot) { pending_.push_back(slot); }
  // Chunks whose glTexStorage3D failed even for one layer (out of texture memory).
  uint64_t storage_failures() const { return storage_failures_; }
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
    bool without_storage = false;  // glTexStorage3D failed even for one layer
    std::vector<int> free_layers;
  };
  static size_t chunk_bytes(const Chunk& c);

  // The upload ring: [0, capacity) of a persistently mapped buffer; regions
  // the GPU may still read are listed oldest first with their fences.
  struct Ring {
    GLuint buffer = 0;
    uint8_t* map = nullptr;
    size_t capacity = 0, head = 0;
    size_t offset = 0, bytes = 0;  // the region begin_upload handed out
    struct Busy {
      size_t begin, end;
      GLsync fence;
    };
    std::deque<Busy> busy;
    bool tried = false, unavailable = false;
  };
  bool ensure_ring(size_t bytes);
  void release_ring();
  void wait_busy(size_t begin, size_t end);

  const size_t keep_empty_bytes_;
  Ring ring_;
  std::vector<uint8_t> host_;  // staging when there is no ring
  std::vector<Chunk> chunks_;  // a deleted chunk keeps its index with tex = 0
  std::vector<TexSlot> pending_;
  size_t empty_bytes_ = 0;  // in chunks with no layer used
  uint64_t storage_failures_ = 0;
};

}  // namespace vslide::view
