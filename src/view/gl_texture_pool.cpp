#include "gl_texture_pool.h"

#include <algorithm>

namespace vslide::view {

namespace {
constexpr int kFirstCapacity = 64;
constexpr int kMaxCapacity = 1024;
constexpr size_t kMaxChunkBytes = size_t(32) << 20;  // full-resolution planes: a few per chunk

// The client format and type that upload a texel of `internal` as is (a memcpy in Mesa).
void transfer_format(GLenum internal, GLenum* format, GLenum* type) {
  switch (internal) {
    case GL_RG16UI:
      *format = GL_RG_INTEGER;
      *type = GL_UNSIGNED_SHORT;
      return;
    case GL_RGBA16UI:
      *format = GL_RGBA_INTEGER;
      *type = GL_UNSIGNED_SHORT;
      return;
    case GL_R32UI:
      *format = GL_RED_INTEGER;
      *type = GL_UNSIGNED_INT;
      return;
    default:
      *format = GL_RED_INTEGER;
      *type = GL_UNSIGNED_SHORT;
  }
}
}  // namespace

size_t TexturePool::texel_bytes(GLenum internal) {
  switch (internal) {
    case GL_RG16UI:
    case GL_R32UI:
      return 4;
    case GL_RGBA16UI:
      return 8;
    default:
      return 2;
  }
}

TexturePool::~TexturePool() { clear(); }

void TexturePool::clear() {
  for (auto& c : chunks_) {
    if (c.tex) glDeleteTextures(1, &c.tex);
  }
  chunks_.clear();
  pending_.clear();
  empty_bytes_ = 0;
}

size_t TexturePool::chunk_bytes(const Chunk& c) {
  return size_t(c.w) * size_t(c.h) * texel_bytes(c.internal) * size_t(c.capacity);
}

size_t TexturePool::chunk_count() const {
  return size_t(std::count_if(chunks_.begin(), chunks_.end(), [](const Chunk& c) { return c.tex != 0; }));
}

TexSlot TexturePool::allocate(GLenum internal, int w, int h, int expected) {
  int largest = 0;
  for (size_t i = 0; i < chunks_.size(); ++i) {
    Chunk& c = chunks_[i];
    if (c.tex == 0 || c.internal != internal || c.w != w || c.h != h) continue;
    largest = std::max(largest, c.capacity);
    if (!c.free_layers.empty()) {
      if (c.used == 0) empty_bytes_ -= chunk_bytes(c);
      const int layer = c.free_layers.back();
      c.free_layers.pop_back();
      ++c.used;
      return TexSlot{int(i), layer};
    }
  }
  GLint max_layers = 256;
  glGetIntegerv(GL_MAX_ARRAY_TEXTURE_LAYERS, &max_layers);
  const size_t layer_bytes = size_t(w) * size_t(h) * texel_bytes(internal);
  // Growing chunks keep the number of texture arrays (and draw calls) low;
  // a frame that says how many layers it needs gets that many, so a lone
  // overview does not reserve room for 63 more.
  const int grown = largest == 0 ? 0 : largest * 2;
  int capacity = expected > 0 ? std::max(expected, grown) : std::max(kFirstCapacity, grown);
  capacity = std::min(capacity, kMaxCapacity);
  capacity = std::min<int>(capacity, int(std::max<size_t>(1, kMaxChunkBytes / layer_bytes)));
  capacity = std::max(1, std::min(capacity, int(max_layers)));
  Chunk c;
  c.internal = internal;
  c.w = w;
  c.h = h;
  c.capacity = capacity;
  glGenTextures(1, &c.tex);
  glBindTexture(GL_TEXTURE_2D_ARRAY, c.tex);
  glTexStorage3D(GL_TEXTURE_2D_ARRAY, 1, internal, w, h, capacity);
  glTexParameteri(GL_TEXTURE_2D_ARRAY, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D_ARRAY, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  for (int l = capacity - 1; l >= 1; --l) c.free_layers.push_back(l);
  c.used = 1;
  // Reuse the index of a deleted chunk when there is one.
  for (size_t i = 0; i < chunks_.size(); ++i) {
    if (chunks_[i].tex == 0) {
      chunks_[i] = std::move(c);
      return TexSlot{int(i), 0};
    }
  }
  chunks_.push_back(std::move(c));
  return TexSlot{int(chunks_.size() - 1), 0};
}

void TexturePool::upload(const TexSlot& slot, const void* data) {
  upload_layers(slot.chunk, slot.layer, 1, data);
}

void TexturePool::upload_layers(int chunk, int first, int count, const void* data) {
  const Chunk& c = chunks_[size_t(chunk)];
  GLenum format = 0, type = 0;
  transfer_format(c.internal, &format, &type);
  glBindTexture(GL_TEXTURE_2D_ARRAY, c.tex);
  glPixelStorei(GL_UNPACK_ALIGNMENT, type == GL_UNSIGNED_SHORT ? 2 : 4);
  glTexSubImage3D(GL_TEXTURE_2D_ARRAY, 0, 0, 0, first, c.w, c.h, count, format, type, data);
}

void TexturePool::commit_releases() {
  for (const TexSlot& s : pending_) {
    Chunk& c = chunks_[size_t(s.chunk)];
    if (c.tex == 0) continue;
    c.free_layers.push_back(s.layer);
    if (--c.used > 0) continue;
    // An empty chunk is kept for the next frames while the empty ones fit
    // in the budget: allocating texture memory costs more than filling it
    // (llvmpipe zeroes it, and fresh pages fault in one by one).
    if (empty_bytes_ + chunk_bytes(c) <= keep_empty_bytes_) {
      empty_bytes_ += chunk_bytes(c);
      c.free_layers.clear();
      for (int l = c.capacity - 1; l >= 0; --l) c.free_layers.push_back(l);  // lowest first: long upload runs
    } else {
      glDeleteTextures(1, &c.tex);
      c = Chunk{};
    }
  }
  pending_.clear();
}

}  // namespace vslide::view
