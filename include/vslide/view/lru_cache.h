// LruCache: a least-recently-used map bounded in bytes, with hit/miss counts.
//
// The viewer keeps two of these (paper, section 5.1): decoded uint16 tiles
// (shared between the loader threads and the renderer) and GPU textures
// (render thread only). Each entry has a cost in bytes given at insertion;
// inserting evicts least-recently-used entries until the total fits the
// budget. An entry larger than the whole budget is not kept (put returns
// false) so a cache never exceeds its bound.
//
// Thread-safety: every method takes an internal mutex, so one cache may be
// shared by many threads. Values are handed out by copy (use shared_ptr
// values for large payloads). An optional eviction callback runs under the
// cache's mutex, in the thread that caused the eviction: it must not call
// back into the cache (the texture cache uses it to delete GL textures on
// the render thread, the only thread that touches that cache).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vslide::view {

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  size_t entries = 0;
  size_t bytes = 0;
  size_t capacity_bytes = 0;
};

template <typename K, typename V, typename Hash = std::hash<K>>
class LruCache {
 public:
  using EvictFn = std::function<void(const K&, V&)>;

  explicit LruCache(size_t capacity_bytes, EvictFn on_evict = nullptr)
      : capacity_(capacity_bytes), on_evict_(std::move(on_evict)) {}
  ~LruCache() { clear(); }
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  // The value for `key`, marked most recently used; counts a hit or a miss.
  std::optional<V> get(const K& key) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) {
      ++misses_;
      return std::nullopt;
    }
    ++hits_;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->value;
  }

  // Like get() but neither counts nor reorders.
  bool contains(const K& key) const {
    std::lock_guard lock(mu_);
    return map_.count(key) != 0;
  }

  // Inserts or replaces `key` as most recently used, then evicts from the
  // least-recently-used end until the total fits. False when `bytes` alone
  // exceeds the capacity (nothing is stored then; a replaced entry is dropped).
  bool put(const K& key, V value, size_t bytes) {
    std::lock_guard lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) erase_locked(it->second, false);
    if (bytes > capacity_) return false;
    order_.push_front(Node{key, std::move(value), bytes});
    map_[key] = order_.begin();
    bytes_ += bytes;
    while (bytes_ > capacity_) erase_locked(std::prev(order_.end()), true);
    return true;
  }

  bool erase(const K& key) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    erase_locked(it->second, false);
    return true;
  }

  // Drops every entry (the eviction callback runs for each).
  void clear() {
    std::lock_guard lock(mu_);
    while (!order_.empty()) erase_locked(std::prev(order_.end()), false);
  }

  // Keys from most to least recently used.
  std::vector<K> keys_mru_first() const {
    std::lock_guard lock(mu_);
    std::vector<K> out;
    for (const auto& n : order_) out.push_back(n.key);
    return out;
  }

  CacheStats stats() const {
    std::lock_guard lock(mu_);
    return CacheStats{hits_, misses_, evictions_, map_.size(), bytes_, capacity_};
  }
  void reset_counts() {
    std::lock_guard lock(mu_);
    hits_ = misses_ = evictions_ = 0;
  }
  size_t capacity_bytes() const { return capacity_; }

 private:
  struct Node {
    K key;
    V value;
    size_t bytes;
  };
  using Iter = typename std::list<Node>::iterator;

  // REQUIRES: mu_ held.
  void erase_locked(Iter it, bool eviction) {
    if (on_evict_) on_evict_(it->key, it->value);
    if (eviction) ++evictions_;
    bytes_ -= it->bytes;
    map_.erase(it->key);
    order_.erase(it);
  }

  mutable std::mutex mu_;
  const size_t capacity_;
  EvictFn on_evict_;
  // Guarded by mu_:
  std::list<Node> order_;  // most recently used first
  std::unordered_map<K, Iter, Hash> map_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace vslide::view
