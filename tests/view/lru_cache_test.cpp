#include "vslide/view/lru_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace vslide::view {
namespace {

TEST(LruCacheTest, EvictsLeastRecentlyUsedFirstAndStaysWithinBytes) {
  std::vector<int> evicted;
  LruCache<int, std::string> cache(100, [&](const int& k, std::string&) { evicted.push_back(k); });
  EXPECT_TRUE(cache.put(1, "a", 40));
  EXPECT_TRUE(cache.put(2, "b", 40));
  ASSERT_TRUE(cache.get(1).has_value());  // 1 becomes most recent
  EXPECT_TRUE(cache.put(3, "c", 40));     // 120 > 100: evict 2 (least recent)
  EXPECT_EQ(evicted, std::vector<int>{2});
  EXPECT_FALSE(cache.contains(2));
  EXPECT_TRUE(cache.contains(1));
  EXPECT_TRUE(cache.contains(3));
  EXPECT_EQ(cache.stats().bytes, 80u);
  EXPECT_EQ(cache.keys_mru_first(), (std::vector<int>{3, 1}));
  EXPECT_TRUE(cache.put(4, "d", 90));  // evicts 1 then 3
  EXPECT_EQ(evicted, (std::vector<int>{2, 1, 3}));
  EXPECT_LE(cache.stats().bytes, 100u);
  EXPECT_EQ(cache.stats().evictions, 3u);
}

TEST(LruCacheTest, CountsHitsAndMisses) {
  LruCache<int, int> cache(10);
  EXPECT_FALSE(cache.get(7).has_value());
  cache.put(7, 70, 1);
  EXPECT_EQ(*cache.get(7), 70);
  EXPECT_EQ(*cache.get(7), 70);
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.entries, 1u);
  cache.reset_counts();
  EXPECT_EQ(cache.stats().hits, 0u);
}

TEST(LruCacheTest, RejectsAnEntryLargerThanTheWholeBudget) {
  LruCache<int, int> cache(10);
  cache.put(1, 1, 5);
  EXPECT_FALSE(cache.put(2, 2, 11));
  EXPECT_FALSE(cache.contains(2));
  EXPECT_TRUE(cache.contains(1));  // nothing else was evicted for it
}

TEST(LruCacheTest, ReplacingAKeyUpdatesItsCostAndCallsTheCallback) {
  int callbacks = 0;
  LruCache<int, int> cache(10, [&](const int&, int&) { ++callbacks; });
  cache.put(1, 1, 6);
  cache.put(1, 2, 3);
  EXPECT_EQ(callbacks, 1);
  EXPECT_EQ(cache.stats().bytes, 3u);
  EXPECT_EQ(*cache.get(1), 2);
  cache.clear();
  EXPECT_EQ(callbacks, 2);
  EXPECT_EQ(cache.stats().bytes, 0u);
}

TEST(LruCacheTest, StaysBoundedUnderConcurrentUse) {
  LruCache<int, int> cache(1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        cache.put((i * 7 + t) % 300, i, size_t(1 + i % 13));
        (void)cache.get((i * 3) % 300);
        ASSERT_LE(cache.stats().bytes, 1000u);
      }
    });
  }
  for (auto& th : threads) th.join();
  const CacheStats s = cache.stats();
  EXPECT_LE(s.bytes, 1000u);
  EXPECT_EQ(s.hits + s.misses, 20000u);
}

}  // namespace
}  // namespace vslide::view
