#include "gl_texture_pool.h"

#include <algorithm>
#include <cstdint>

namespace vslide::view {

namespace {
constexpr int kFirstCapacity = 64;
constexpr int kMaxCapacity = 1024;
// At most 8 MB a chunk: the storage of a new chunk is allocated (and on
// llvmpipe written) inside the frame that needs it, about 5 ms for 11 MB
// there; 32 MB chunks cost one frame 10-15 ms. A full-resolution plane
// larger than this gets a chunk of its own.
constexpr size_t kMaxChunkBytes = size_t(8) << 20;
constexpr size_t kFirstRingBytes = size_t(64) << 20;  // two of the largest upload runs
constexpr size_t kRingAlign = 256;

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

TexturePool::~TexturePool() {
  clear();
  release_ring();
}

void TexturePool::release_ring() {
  for (const auto& b : ring_.busy) glDeleteSync(b.fence);
  ring_.busy.clear();
  if (ring_.buffer) {
    glBindBuffer(GL_PIXEL_UNPACK_BUFFER, ring_.buffer);
    glUnmapBuffer(GL_PIXEL_UNPACK_BUFFER);
    glBindBuffer(GL_PIXEL_UNPACK_BUFFER, 0);
    glDeleteBuffers(1, &ring_.buffer);
  }
  ring_.buffer = 0;
  ring_.map = nullptr;
  ring_.capacity = ring_.head = 0;
}

// Makes a ring of at least `bytes`; false when the GL has no buffer storage
// (or mapping failed), and uploads then come from host memory.
bool TexturePool::ensure_ring(size_t bytes) {
  if (ring_.unavailable) return false;
  if (ring_.map && ring_.capacity >= bytes) return true;
  if (!ring_.tried) {
    ring_.tried = true;
    if (epoxy_gl_version() < 44 && !epoxy_has_gl_extension("GL_ARB_buffer_storage")) {
      ring_.unavailable = true;
      return false;
    }
  }
  // Growing: the old ring's pending reads finish first.
  wait_busy(0, SIZE_MAX);
  release_ring();
  const size_t capacity = std::max(kFirstRingBytes, 2 * bytes);
  const GLbitfield flags = GL_MAP_WRITE_BIT | GL_MAP_PERSISTENT_BIT | GL_MAP_COHERENT_BIT;
  glGenBuffers(1, &ring_.buffer);
  glBindBuffer(GL_PIXEL_UNPACK_BUFFER, ring_.buffer);
  glBufferStorage(GL_PIXEL_UNPACK_BUFFER, GLsizeiptr(capacity), nullptr, flags);
  void* p = glMapBufferRange(GL_PIXEL_UNPACK_BUFFER, 0, GLsizeiptr(capacity), flags);
  glBindBuffer(GL_PIXEL_UNPACK_BUFFER, 0);
  if (p == nullptr || glGetError() != GL_NO_ERROR) {
    glDeleteBuffers(1, &ring_.buffer);
    ring_.buffer = 0;
    ring_.unavailable = true;
    return false;
  }
  ring_.map = static_cast<uint8_t*>(p);
  ring_.capacity = capacity;
  ring_.head = 0;
  return true;
}

// Waits until the GPU has read every busy region that overlaps [begin, end)
// (oldest first: the ring is written in order); regions already read are
// retired on the way.
void TexturePool::wait_busy(size_t begin, size_t end) {
  while (!ring_.busy.empty()) {
    const Ring::Busy& front = ring_.busy.front();
    bool overlap = false;
    for (const auto& o : ring_.busy) overlap = overlap || (o.begin < end && begin < o.end);
    const GLuint64 timeout = overlap ? GLuint64(10) * 1000 * 1000 * 1000 : 0;
    const GLenum r = glClientWaitSync(front.fence, overlap ? GL_SYNC_FLUSH_COMMANDS_BIT : 0, timeout);
    if (r == GL_TIMEOUT_EXPIRED && !overlap) return;
    glDeleteSync(front.fence);
    ring_.busy.pop_front();
  }
}

void* TexturePool::begin_upload(size_t bytes) {
  if (!ensure_ring(bytes)) {
    if (host_.size() < bytes) host_.resize(bytes);
    return host_.data();
  }
  size_t offset = (ring_.head + kRingAlign - 1) / kRingAlign * kRingAlign;
  if (offset + bytes > ring_.capacity) offset = 0;  // wrap
  wait_busy(offset, offset + bytes);
  ring_.offset = offset;
  ring_.bytes = bytes;
  ring_.head = offset + bytes;
  return ring_.map + offset;
}

void TexturePool::end_upload(int chunk, int first, int count) {
  if (!ring_.map) {
    upload_layers(chunk, first, count, host_.data());
    return;
  }
  glBindBuffer(GL_PIXEL_UNPACK_BUFFER, ring_.buffer);
  // With a buffer bound, the "pointer" is an offset into it.
  upload_layers(chunk, first, count, reinterpret_cast<const void*>(uintptr_t(ring_.offset)));
  glBindBuffer(GL_PIXEL_UNPACK_BUFFER, 0);
  ring_.busy.push_back(Ring::Busy{ring_.offset, ring_.offset + ring_.bytes,
                                  glFenceSync(GL_SYNC_GPU_COMMANDS_COMPLETE, 0)});
}

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
  // Texture memory can run out (GL_OUT_OF_MEMORY): fewer layers are tried
  // before giving up. A chunk that got no storage at all hands out its one
  // layer and nothing more: the upload into it then fails (GL_INVALID_OPERATION),
  // the frame's glGetError reports it, and the chunk is dropped at release
  // instead of being kept for later frames.
  GLenum storage_error = GL_NO_ERROR;
  for (;;) {
    glTexStorage3D(GL_TEXTURE_2D_ARRAY, 1, internal, w, h, capacity);
    storage_error = glGetError();
    if (storage_error != GL_OUT_OF_MEMORY || capacity == 1) break;
    capacity = std::max(1, capacity / 2);
  }
  c.capacity = capacity;
  c.without_storage = storage_error != GL_NO_ERROR;
  if (c.without_storage) ++storage_failures_;
  glTexParameteri(GL_TEXTURE_2D_ARRAY, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D_ARRAY, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  if (!c.without_storage) {
    for (int l = capacity - 1; l >= 1; --l) c.free_layers.push_back(l);
  }
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
    if (!c.without_storage && empty_bytes_ + chunk_bytes(c) <= keep_empty_bytes_) {
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
