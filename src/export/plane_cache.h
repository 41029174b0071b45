// A byte-bounded LRU cache of decoded (and shading-corrected) planes shared
// by the fusion workers. Internal to the export part.
// Thread-safety: every method is safe from many threads; a plane missing
// from the cache is loaded outside the lock (two threads may both load it:
// wasted work, never a wrong result).
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "vslide/core/image.h"
#include "vslide/core/status.h"
#include "vslide/core/tile.h"

namespace vslide {

class PlaneCache {
 public:
  explicit PlaneCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}
  // REQUIRES: no get_or_load running.
  void set_capacity(size_t bytes) { capacity_ = bytes; }

  // The cached plane of `key`, or load()'s result (cached when non-null).
  Result<SharedImage16> get_or_load(const TileKey& key, const std::function<Result<SharedImage16>()>& load) {
    {
      std::lock_guard lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        ++hits_;
        return it->second->second;
      }
    }
    ++misses_;
    auto loaded = load();
    if (!loaded.ok() || !*loaded) return loaded;
    std::lock_guard lock(mu_);
    if (map_.find(key) == map_.end()) {
      lru_.emplace_front(key, *loaded);
      map_[key] = lru_.begin();
      bytes_ += (*loaded)->byte_size();
      while (bytes_ > capacity_ && lru_.size() > 1) {
        bytes_ -= lru_.back().second->byte_size();
        map_.erase(lru_.back().first);
        lru_.pop_back();
      }
    }
    return loaded;
  }

  uint64_t hits() const { return hits_; }

  uint64_t misses() const { return misses_; }

  // Memory of evicted planes, reused for the next decodes: on this machine
  // kind a fresh 4 KB page costs ~15 us to fault in (docs/ARCHITECTURE.md).
  std::vector<uint16_t> take_buffer(size_t pixels) {
    std::lock_guard lock(pool_mu_);
    for (auto it = pool_.begin(); it != pool_.end(); ++it) {
      if (it->size() == pixels) {
        std::vector<uint16_t> v = std::move(*it);
        pool_.erase(it);
        pool_bytes_ -= v.size() * sizeof(uint16_t);
        return v;
      }
    }
    return std::vector<uint16_t>(pixels);
  }
  // An image whose pixels go back to the pool when its last user lets go.
  SharedImage16 share(Image16 img) {
    return SharedImage16(new Image16(std::move(img)), [this](const Image16* p) {
      {
        std::lock_guard lock(pool_mu_);
        // At most a quarter of the capacity more: the owner's budget counts
        // the cache as 1.25 x its capacity.
        const size_t bytes = p->byte_size();
        if (pool_bytes_ + bytes <= capacity_ / 4) {
          pool_bytes_ += bytes;
          pool_.push_back(std::move(const_cast<Image16*>(p)->pixels()));
        }
      }
      delete p;
    });
  }

 private:
  using Entry = std::pair<TileKey, SharedImage16>;
  size_t capacity_;
  // Declared before the entries: destroyed after them, when they give their pixels back.
  std::mutex pool_mu_;  // guards pool_, pool_bytes_
  std::vector<std::vector<uint16_t>> pool_;
  size_t pool_bytes_ = 0;
  std::mutex mu_;  // guards lru_, map_, bytes_
  std::list<Entry> lru_;
  std::unordered_map<TileKey, std::list<Entry>::iterator, TileKeyHash> map_;
  size_t bytes_ = 0;
  std::atomic<uint64_t> hits_{0}, misses_{0};
};

}  // namespace vslide
