#include "vslide/core/large_buffer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

namespace vslide {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
}

LargeBuffer::LargeBuffer(size_t size) : size_(size) {
  if (size == 0) return;
  // Over-map by one huge page so that the data can start on a 2 MB boundary:
  // only whole, aligned 2 MB ranges can be backed by huge pages.
  map_size_ = size + kHugePage;
  map_ = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw std::bad_alloc();
  }
  auto base = reinterpret_cast<uintptr_t>(map_);
  data_ = reinterpret_cast<uint8_t*>((base + kHugePage - 1) & ~(kHugePage - 1));
  // Advice only: without transparent huge pages the buffer works the same.
  (void)::madvise(data_, (size + kHugePage - 1) & ~(kHugePage - 1), MADV_HUGEPAGE);
}

LargeBuffer LargeBuffer::copy_of(std::span<const uint8_t> bytes) {
  LargeBuffer b(bytes.size());
  if (!bytes.empty()) std::memcpy(b.data(), bytes.data(), bytes.size());
  return b;
}

void LargeBuffer::release() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
  map_ = nullptr;
  map_size_ = 0;
  data_ = nullptr;
  size_ = 0;
}

LargeBuffer::~LargeBuffer() { release(); }

LargeBuffer::LargeBuffer(LargeBuffer&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

LargeBuffer& LargeBuffer::operator=(LargeBuffer&& other) noexcept {
  if (this != &other) {
    release();
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

std::shared_ptr<BufferPool> BufferPool::create(size_t keep_bytes) {
  return std::shared_ptr<BufferPool>(new BufferPool(keep_bytes));
}

std::shared_ptr<LargeBuffer> BufferPool::acquire(size_t n) {
  LargeBuffer b;
  {
    std::lock_guard lock(mu_);
    auto it = free_.lower_bound(n);
    if (it != free_.end()) {
      b = std::move(it->second);
      free_bytes_ -= it->first;
      free_.erase(it);
      ++reused_;
    } else {
      ++allocated_;
    }
  }
  if (b.size() == 0) b = LargeBuffer((std::max<size_t>(n, 1) + kHugePage - 1) & ~(kHugePage - 1));
  auto self = shared_from_this();
  return std::shared_ptr<LargeBuffer>(new LargeBuffer(std::move(b)), [self](LargeBuffer* p) { self->give_back(p); });
}

void BufferPool::give_back(LargeBuffer* b) {
  std::unique_ptr<LargeBuffer> owned(b);
  std::lock_guard lock(mu_);
  if (free_bytes_ + b->size() > keep_bytes_) return;  // unmapped by `owned`
  free_bytes_ += b->size();
  free_.emplace(b->size(), std::move(*b));
}

size_t BufferPool::free_bytes() const {
  std::lock_guard lock(mu_);
  return free_bytes_;
}

uint64_t BufferPool::reused() const {
  std::lock_guard lock(mu_);
  return reused_;
}

uint64_t BufferPool::allocated() const {
  std::lock_guard lock(mu_);
  return allocated_;
}

std::optional<std::string> huge_page_malloc_tunables(std::string_view current_tunables,
                                                     std::string_view thp_enabled_line) {
  if (current_tunables.find("glibc.malloc.hugetlb") != std::string_view::npos) return std::nullopt;
  const bool offered = thp_enabled_line.find("[always]") != std::string_view::npos ||
                       thp_enabled_line.find("[madvise]") != std::string_view::npos;
  if (!offered) return std::nullopt;
  std::string out(current_tunables);
  if (!out.empty()) out += ':';
  out += "glibc.malloc.hugetlb=1";
  return out;
}

}  // namespace vslide
