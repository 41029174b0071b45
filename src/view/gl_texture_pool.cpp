#include "gl_texture_pool.h"

#include <algorithm>

namespace vslide::view {

namespace {
constexpr int kFirstCapacity = 64;
constexpr int kMaxCapacity = 1024;
constexpr size_t kMaxChunkBytes = size_t(32) << 20;  // full-resolution planes: a few per chunk

size_t texel_bytes(GLenum internal) { return internal == GL_R32UI ? 4 : 2; }
}  // namespace

TexturePool::~TexturePool() { clear(); }

void TexturePool::clear() {
  for (auto& c : chunks_) {
    if (c.tex) glDeleteTextures(1, &c.tex);
  }
  chunks_.clear();
  pending_.clear();
}

size_t TexturePool::chunk_count() const {
  return size_t(std::count_if(chunks_.begin(), chunks_.end(), [](const Chunk& c) { return c.tex != 0; }));
}

TexSlot TexturePool::allocate(GLenum internal, int w, int h) {
  int largest = 0;
  for (size_t i = 0; i < chunks_.size(); ++i) {
    Chunk& c = chunks_[i];
    if (c.tex == 0 || c.internal != internal || c.w != w || c.h != h) continue;
    largest = std::max(largest, c.capacity);
    if (!c.free_layers.empty()) {
      const int layer = c.free_layers.back();
      c.free_layers.pop_back();
      ++c.used;
      return TexSlot{int(i), layer};
    }
  }
  GLint max_layers = 256;
  glGetIntegerv(GL_MAX_ARRAY_TEXTURE_LAYERS, &max_layers);
  const size_t layer_bytes = size_t(w) * size_t(h) * texel_bytes(internal);
  int capacity = largest == 0 ? kFirstCapacity : std::min(kMaxCapacity, largest * 2);
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

void TexturePool::upload(const TexSlot& slot, GLenum type, const void* data) {
  const Chunk& c = chunks_[size_t(slot.chunk)];
  glBindTexture(GL_TEXTURE_2D_ARRAY, c.tex);
  glPixelStorei(GL_UNPACK_ALIGNMENT, type == GL_UNSIGNED_SHORT ? 2 : 4);
  glTexSubImage3D(GL_TEXTURE_2D_ARRAY, 0, 0, 0, slot.layer, c.w, c.h, 1, GL_RED_INTEGER, type, data);
}

void TexturePool::upload_layers(int chunk, int first, int count, GLenum type, const void* data) {
  const Chunk& c = chunks_[size_t(chunk)];
  glBindTexture(GL_TEXTURE_2D_ARRAY, c.tex);
  glPixelStorei(GL_UNPACK_ALIGNMENT, type == GL_UNSIGNED_SHORT ? 2 : 4);
  glTexSubImage3D(GL_TEXTURE_2D_ARRAY, 0, 0, 0, first, c.w, c.h, count, GL_RED_INTEGER, type, data);
}

void TexturePool::commit_releases() {
  for (const TexSlot& s : pending_) {
    Chunk& c = chunks_[size_t(s.chunk)];
    if (c.tex == 0) continue;
    c.free_layers.push_back(s.layer);
    if (--c.used == 0) {  // an empty chunk gives its memory back
      glDeleteTextures(1, &c.tex);
      c = Chunk{};
    }
  }
  pending_.clear();
}

}  // namespace vslide::view
