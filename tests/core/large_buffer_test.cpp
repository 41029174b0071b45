#include "vslide/core/large_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace vslide {
namespace {

TEST(LargeBuffer, HoldsACopyAlignedToHugePages) {
  std::vector<uint8_t> src(4'800'001);
  for (size_t i = 0; i < src.size(); ++i) src[i] = uint8_t(i * 31 + 7);
  LargeBuffer b = LargeBuffer::copy_of(src);
  ASSERT_EQ(b.size(), src.size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % (2u << 20), 0u);
  EXPECT_EQ(std::vector<uint8_t>(b.bytes().begin(), b.bytes().end()), src);
}

TEST(LargeBuffer, MovesOwnershipAndStartsZeroed) {
  LargeBuffer a(3 << 20);
  EXPECT_EQ(a.data()[0], 0);
  EXPECT_EQ(a.data()[(3 << 20) - 1], 0);
  a.data()[5] = 42;
  const uint8_t* p = a.data();
  LargeBuffer b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.data()[5], 42);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.data(), nullptr);
  LargeBuffer c;
  c = std::move(b);
  EXPECT_EQ(c.data()[5], 42);
  EXPECT_EQ(LargeBuffer(0).size(), 0u);
}

}  // namespace
}  // namespace vslide

namespace vslide {
namespace {

TEST(BufferPool, ReusesReturnedBuffersAndKeepsAtMostItsBudget) {
  auto pool = BufferPool::create(8 << 20);
  const uint8_t* first;
  {
    auto a = pool->acquire(4'800'000);
    ASSERT_GE(a->size(), 4'800'000u);
    EXPECT_EQ(a->size() % (2u << 20), 0u);
    first = a->data();
    a->data()[0] = 1;
  }
  EXPECT_EQ(pool->free_bytes(), 6u << 20);
  {
    auto b = pool->acquire(4'500'000);  // fits the returned one: the same pages
    EXPECT_EQ(b->data(), first);
    auto c = pool->acquire(4'500'000);  // none free: a new buffer
    EXPECT_NE(c->data(), first);
    auto d = pool->acquire(7'000'000);  // bigger than any: new
    EXPECT_GE(d->size(), 7'000'000u);
  }
  EXPECT_EQ(pool->reused(), 1u);
  EXPECT_EQ(pool->allocated(), 3u);
  EXPECT_LE(pool->free_bytes(), 8u << 20);  // the rest was unmapped
}

TEST(BufferPool, BuffersOutliveTheirPoolHandle) {
  std::shared_ptr<LargeBuffer> keep;
  {
    auto pool = BufferPool::create(4 << 20);
    keep = pool->acquire(1000);
  }
  keep->data()[999] = 7;  // the buffer keeps the pool alive until it goes
  EXPECT_EQ(keep->data()[999], 7);
}

TEST(HugePageMalloc, TunablesNamedOnceAndOnlyWhereTheKernelOffersHugePages) {
  EXPECT_EQ(huge_page_malloc_tunables("", "always [madvise] never"), "glibc.malloc.hugetlb=1");
  EXPECT_EQ(huge_page_malloc_tunables("", "[always] madvise never"), "glibc.malloc.hugetlb=1");
  // A user's own tunables are kept.
  EXPECT_EQ(huge_page_malloc_tunables("glibc.malloc.check=3", "always [madvise] never"),
            "glibc.malloc.check=3:glibc.malloc.hugetlb=1");
  // Already named (by the user, or by the first run: the re-executed program stops here).
  EXPECT_EQ(huge_page_malloc_tunables("glibc.malloc.hugetlb=1", "always [madvise] never"), std::nullopt);
  EXPECT_EQ(huge_page_malloc_tunables("glibc.malloc.hugetlb=0", "always [madvise] never"), std::nullopt);
  // No huge pages offered, or no sysfs file.
  EXPECT_EQ(huge_page_malloc_tunables("", "always madvise [never]"), std::nullopt);
  EXPECT_EQ(huge_page_malloc_tunables("", ""), std::nullopt);
}

}  // namespace
}  // namespace vslide

