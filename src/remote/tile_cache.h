// The client's read-ahead cache: stored tiles as they came off the wire,
// least recently used evicted first, bounded by stored bytes.
// Thread-safety: every method takes the cache's own mutex.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "vslide/core/slide_source.h"

namespace vslide::remote {

// A tile's metadata (blocks without bytes) and its payload frames, kept as
// received so that decoding reads the network buffers directly.
struct WireTile {
  StoredTile meta;
  std::vector<zmq::message_t> data;  // one frame per block

  size_t bytes() const {
    size_t n = 0;
    for (const auto& m : data) n += m.size();
    return n;
  }
  StoredTile to_stored() const {
    StoredTile t = meta;
    for (size_t i = 0; i < t.blocks.size() && i < data.size(); ++i) {
      const auto* p = static_cast<const uint8_t*>(data[i].data());
      t.blocks[i].bytes.assign(p, p + data[i].size());
    }
    return t;
  }
};

class TileCache {
 public:
  explicit TileCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  void set_capacity(size_t bytes) {
    std::lock_guard lock(mutex_);
    capacity_ = bytes;
    evict_locked();
  }
  std::shared_ptr<const WireTile> get(const TileKey& key) {
    std::lock_guard lock(mutex_);
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  bool contains(const TileKey& key) const {
    std::lock_guard lock(mutex_);
    return map_.count(key) > 0;
  }
  void put(const TileKey& key, std::shared_ptr<const WireTile> tile) {
    std::lock_guard lock(mutex_);
    if (tile->bytes() > capacity_) return;
    if (auto it = map_.find(key); it != map_.end()) {
      bytes_ -= it->second->second->bytes();
      lru_.erase(it->second);
      map_.erase(it);
    }
    bytes_ += tile->bytes();
    lru_.emplace_front(key, std::move(tile));
    map_[key] = lru_.begin();
    evict_locked();
  }
  size_t bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
  }

 private:
  void evict_locked() {
    while (bytes_ > capacity_ && !lru_.empty()) {
      bytes_ -= lru_.back().second->bytes();
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

  using Item = std::pair<TileKey, std::shared_ptr<const WireTile>>;
  mutable std::mutex mutex_;
  size_t capacity_;      // guarded by mutex_
  size_t bytes_ = 0;     // guarded by mutex_
  std::list<Item> lru_;  // guarded by mutex_; front = most recent
  std::unordered_map<TileKey, std::list<Item>::iterator, TileKeyHash> map_;  // guarded by mutex_
};

}  // namespace vslide::remote
