#include "vslide/acquire/spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/testing.h"

namespace vslide::acquire {
namespace {

std::vector<uint8_t> bytes_of(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7);
  return v;
}

// Files named spool-*.log (live segments) or free-*.log (retired, kept for reuse).
size_t file_count(const std::string& dir, const std::string& prefix) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    n += e.path().filename().string().rfind(prefix, 0) == 0 && e.path().extension() == ".log";
  }
  return n;
}
size_t segment_count(const std::string& dir) { return file_count(dir, "spool-"); }

TEST(Spool, ReplaysEveryCommittedRecordInOrderAfterReopen) {
  testing::TempDir dir;
  std::vector<SpoolRef> refs;
  {
    auto spool = Spool::open({dir.file("spool"), 4096, 1 << 20, SyncMode::kPower});
    ASSERT_TRUE(spool.ok()) << spool.status().to_string();
    for (int i = 0; i < 10; ++i) {
      auto ref = (*spool)->append("{\"n\":" + std::to_string(i) + "}", bytes_of(1000 + i, uint8_t(i)));
      ASSERT_TRUE(ref.ok()) << ref.status().to_string();
      refs.push_back(*ref);
    }
    ASSERT_TRUE((*spool)->commit().ok());
    auto back = (*spool)->read_payload(refs[3]);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, bytes_of(1003, 3));
  }
  auto spool = Spool::open({dir.file("spool"), 4096, 1 << 20, SyncMode::kProcess});
  ASSERT_TRUE(spool.ok());
  int seen = 0;
  Status st = (*spool)->replay([&](const std::string& meta, std::vector<uint8_t> payload, const SpoolRef&) {
    EXPECT_EQ(meta, "{\"n\":" + std::to_string(seen) + "}");
    EXPECT_EQ(payload, bytes_of(1000 + seen, uint8_t(seen)));
    ++seen;
    return Status();
  });
  EXPECT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(seen, 10);
}

TEST(Spool, TornTailEndsReplayWithoutError) {
  testing::TempDir dir;
  std::string seg;
  {
    auto spool = Spool::open({dir.file("spool"), 1 << 20, 1 << 20, SyncMode::kProcess});
    ASSERT_TRUE(spool.ok());
    ASSERT_TRUE((*spool)->append("{\"n\":0}", bytes_of(500, 1)).ok());
    ASSERT_TRUE((*spool)->append("{\"n\":1}", bytes_of(500, 2)).ok());
    ASSERT_TRUE((*spool)->commit().ok());
    seg = dir.file("spool/spool-000001.log");
  }
  // A crash in the middle of the second record's write: cut it short.
  auto size = std::filesystem::file_size(seg);
  std::filesystem::resize_file(seg, size - 100);
  auto spool = Spool::open({dir.file("spool"), 1 << 20, 1 << 20, SyncMode::kProcess});
  ASSERT_TRUE(spool.ok());
  int seen = 0;
  EXPECT_TRUE((*spool)->replay([&](const std::string&, std::vector<uint8_t>, const SpoolRef&) {
    ++seen;
    return Status();
  }).ok());
  EXPECT_EQ(seen, 1);
}

TEST(Spool, BitFlipEndsReplay) {
  testing::TempDir dir;
  SpoolRef ref;
  {
    auto spool = Spool::open({dir.file("spool"), 1 << 20, 1 << 20, SyncMode::kProcess});
    ASSERT_TRUE(spool.ok());
    ref = *(*spool)->append("{\"n\":0}", bytes_of(500, 1));
  }
  int fd = ::open(dir.file("spool/spool-000001.log").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  uint8_t b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, off_t(ref.offset + 10)), 1);
  b ^= 0x10;
  ASSERT_EQ(::pwrite(fd, &b, 1, off_t(ref.offset + 10)), 1);
  ::close(fd);
  auto spool = Spool::open({dir.file("spool"), 1 << 20, 1 << 20, SyncMode::kProcess});
  int seen = 0;
  EXPECT_TRUE((*spool)->replay([&](const std::string&, std::vector<uint8_t>, const SpoolRef&) {
    ++seen;
    return Status();
  }).ok());
  EXPECT_EQ(seen, 0);
}

TEST(Spool, FullSpoolIsResourceExhaustedAndCollectFreesIt) {
  testing::TempDir dir;
  auto spool = Spool::open({dir.file("spool"), 3000, 8000, SyncMode::kProcess});
  ASSERT_TRUE(spool.ok());
  std::vector<SpoolRef> refs;
  Status full;
  for (int i = 0; i < 20; ++i) {
    auto ref = (*spool)->append("{}", bytes_of(1000, uint8_t(i)));
    if (!ref.ok()) {
      full = ref.status();
      break;
    }
    refs.push_back(*ref);
  }
  ASSERT_EQ(full.code(), StatusCode::kResourceExhausted) << full.to_string();
  EXPECT_NE(full.message().find("full"), std::string::npos);
  EXPECT_GE(refs.size(), 5u);
  EXPECT_LE((*spool)->live_bytes(), 8000u);
  ASSERT_TRUE((*spool)->commit().ok());

  // Nothing written yet: nothing may go.
  EXPECT_EQ((*spool)->collect((*spool)->written_snapshot()), 0);
  for (const auto& r : refs) (*spool)->mark_written(r);
  auto snap = (*spool)->written_snapshot();
  int removed = (*spool)->collect(snap);
  EXPECT_GE(removed, 1);  // every sealed segment; the open one stays
  EXPECT_EQ(segment_count(dir.file("spool")), 1u);
  EXPECT_LE(file_count(dir.file("spool"), "free-"), 4u);  // retired files kept for reuse, bounded
  EXPECT_TRUE((*spool)->append("{}", bytes_of(1000, 9)).ok());
}

TEST(Spool, RecycledSegmentFileReplaysOnlyItsNewRecords) {
  testing::TempDir dir;
  const std::string sdir = dir.file("spool");
  auto meta = [](const char* kind, int i) { return "{\"" + std::string(kind) + "\":" + std::to_string(i) + "}"; };
  {
    // Two records a segment: six old records fill segments 1-3.
    auto spool = Spool::open({sdir, 3000, 1 << 20, SyncMode::kProcess});
    ASSERT_TRUE(spool.ok());
    std::vector<SpoolRef> refs;
    for (int i = 0; i < 6; ++i) {
      auto ref = (*spool)->append(meta("old", i), bytes_of(1400, uint8_t(i)));
      ASSERT_TRUE(ref.ok());
      refs.push_back(*ref);
    }
    ASSERT_TRUE((*spool)->commit().ok());
    for (const auto& r : refs) (*spool)->mark_written(r);
    EXPECT_EQ((*spool)->collect((*spool)->written_snapshot()), 2);  // 1 and 2; 3 is still open
    EXPECT_EQ(file_count(sdir, "free-"), 2u);
    // One new record of the same size goes to segment 4, a reused file: a
    // well-formed record of its earlier life lies right behind it.
    ASSERT_TRUE((*spool)->append(meta("new", 0), bytes_of(1400, 77)).ok());
    ASSERT_TRUE((*spool)->commit().ok());
    EXPECT_EQ(file_count(sdir, "free-"), 1u);
    EXPECT_EQ(segment_count(sdir), 2u);
  }  // a crash: nothing is cleaned up
  auto spool = Spool::open({sdir, 3000, 1 << 20, SyncMode::kProcess});
  ASSERT_TRUE(spool.ok());
  EXPECT_EQ(file_count(sdir, "free-"), 0u);  // spares from before the crash are dropped
  std::vector<std::string> seen;
  Status st = (*spool)->replay([&](const std::string& m, std::vector<uint8_t> payload, const SpoolRef&) {
    seen.push_back(m);
    if (m == meta("new", 0)) EXPECT_EQ(payload, bytes_of(1400, 77));
    return Status();
  });
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(seen, (std::vector<std::string>{meta("old", 4), meta("old", 5), meta("new", 0)}));
}

// A finished spool leaves its files to the next scan's spool; records of
// their earlier life (another folder) are never replayed there.
TEST(Spool, FinishedSpoolHandsItsFilesToTheNextScan) {
  testing::TempDir dir;
  const std::string spares = dir.file("spares");
  auto meta = [](const char* kind, int i) { return "{\"" + std::string(kind) + "\":" + std::to_string(i) + "}"; };
  {
    auto first = Spool::open({dir.file("scan-a"), 3000, 1 << 20, SyncMode::kProcess, spares});
    ASSERT_TRUE(first.ok());
    // Two records: one segment file, number 1, as the next spool's first will be.
    for (int i = 0; i < 2; ++i) ASSERT_TRUE((*first)->append(meta("a", i), bytes_of(1400, uint8_t(i))).ok());
    ASSERT_TRUE((*first)->commit().ok());
    ASSERT_TRUE((*first)->remove_all().ok());
  }
  EXPECT_EQ(file_count(dir.file("scan-a"), "spool-"), 0u);
  EXPECT_EQ(file_count(spares, ""), 1u);  // besides the folder's marker
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(spares) / kSpareMarker));
  {
    auto second = Spool::open({dir.file("scan-b"), 3000, 1 << 20, SyncMode::kProcess, spares});
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(file_count(spares, ""), 0u);  // all taken
    // Same size and segment number as scan a's record right behind it.
    ASSERT_TRUE((*second)->append(meta("b", 0), bytes_of(1400, 99)).ok());
    ASSERT_TRUE((*second)->commit().ok());
  }  // a crash
  auto again = Spool::open({dir.file("scan-b"), 3000, 1 << 20, SyncMode::kProcess, ""});
  ASSERT_TRUE(again.ok());
  std::vector<std::string> seen;
  ASSERT_TRUE((*again)->replay([&](const std::string& m, std::vector<uint8_t>, const SpoolRef&) {
    seen.push_back(m);
    return Status();
  }).ok());
  EXPECT_EQ(seen, std::vector<std::string>{meta("b", 0)});
}

TEST(Spool, ParseSyncMode) {
  EXPECT_EQ(*parse_sync_mode("power"), SyncMode::kPower);
  EXPECT_EQ(*parse_sync_mode("process"), SyncMode::kProcess);
  EXPECT_EQ(parse_sync_mode("fast").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vslide::acquire
