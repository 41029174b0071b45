// LargeBuffer: a block of memory for one tile or chunk (megabytes), mapped
// on its own and backed by transparent huge pages where the kernel offers
// them (MADV_HUGEPAGE).
//
// Why: in the virtual machines vslide is measured on, faulting in a fresh
// 4 KB page costs ~15 us, so a new 4.8 MB buffer costs ~17 ms to touch
// while copying into it costs 0.2 ms; with 2 MB pages the first touch costs
// ~0.7 ms (docs/PERFORMANCE.md, "acquire"). Use it for buffers that live
// longer than a call and are too many to recycle (the acquisition writer's
// memory buffer of fields in flight).
//
// A new buffer still costs its first touch, and in such a guest even 2 MB
// pages are slow to fault in when the host must back them anew: buffers
// that come and go all the time should come from a BufferPool, which keeps
// them (and their warm pages) for the next use.
//
// Ownership: owns the mapping; move-only. Thread-safety: none (a buffer is
// filled by one thread, then read by any).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace vslide {

class LargeBuffer {
 public:
  LargeBuffer() = default;
  // Maps `size` bytes (zero-filled by the kernel on first touch). Throws
  // std::bad_alloc when the mapping fails.
  explicit LargeBuffer(size_t size);
  // A buffer holding a copy of `bytes`.
  static LargeBuffer copy_of(std::span<const uint8_t> bytes);

  ~LargeBuffer();
  LargeBuffer(LargeBuffer&& other) noexcept;
  LargeBuffer& operator=(LargeBuffer&& other) noexcept;
  LargeBuffer(const LargeBuffer&) = delete;
  LargeBuffer& operator=(const LargeBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  void release();
  void* map_ = nullptr;    // the whole mapping
  size_t map_size_ = 0;
  uint8_t* data_ = nullptr;  // 2 MB aligned inside it
  size_t size_ = 0;
};

// BufferPool: recycles LargeBuffers. acquire(n) hands out a buffer of at
// least n bytes (sizes are rounded up to 2 MB), reusing a free one when one
// is big enough; when the last reference goes, the buffer returns to the
// pool, which keeps free buffers up to `keep_bytes` and unmaps the rest.
//
// Ownership: shared; buffers handed out keep the pool alive.
// Thread-safety: acquire and the release of buffers from any thread.
class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  static std::shared_ptr<BufferPool> create(size_t keep_bytes);

  std::shared_ptr<LargeBuffer> acquire(size_t n);

  size_t free_bytes() const;
  uint64_t reused() const;     // acquisitions served from the pool
  uint64_t allocated() const;  // acquisitions that mapped a new buffer

 private:
  explicit BufferPool(size_t keep_bytes) : keep_bytes_(keep_bytes) {}
  void give_back(LargeBuffer* b);

  const size_t keep_bytes_;
  mutable std::mutex mu_;
  std::multimap<size_t, LargeBuffer> free_;  // by size; guarded by mu_
  size_t free_bytes_ = 0;                    // guarded by mu_
  uint64_t reused_ = 0, allocated_ = 0;      // guarded by mu_
};

// The GLIBC_TUNABLES value under which glibc's malloc asks for transparent
// huge pages (glibc.malloc.hugetlb=1: madvise(MADV_HUGEPAGE) on its heaps),
// given the current value (empty when unset) and the first line of
// /sys/kernel/mm/transparent_hugepage/enabled; nullopt when nothing is to
// change: the tunable is already named (by the user, or by an earlier run of
// this logic: no loop), or the kernel offers no huge pages ("[never]", or an
// empty line when the file is missing). glibc reads tunables only at start-up,
// so `vslide` sets the value and executes itself again (src/cli/main.cpp).
//
// Why: on the virtual machines measured the hypervisor drops its mappings of
// a process's pages every 0.5 s or so, and the next touch of each 4 KB page
// traps: reading a 5 MB field then costs 3-12 ms more. A 2 MB page traps
// once (docs/PERFORMANCE.md, "acquire").
std::optional<std::string> huge_page_malloc_tunables(std::string_view current_tunables,
                                                     std::string_view thp_enabled_line);

}  // namespace vslide
