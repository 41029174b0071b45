// Spool: the slide proxy's append-only log on disk, what makes an
// acknowledgement safe.
//
// Every field the proxy accepts is appended here before it is acknowledged.
// Records live in numbered segment files (spool-000001.log, ...):
//
//   u32 magic "VSP2" | u32 meta_len | u64 payload_len | u64 check | meta (JSON text) | payload
//
// little-endian; check = XXH3-64 of the 24 bytes (u64 segment number, u64
// salt = XXH3-64 of the folder's canonical path, XXH3-64(payload)), seeded
// with XXH3-64(meta). A record cut short by a
// crash (or failing its check) ends its segment: replay stops there, and
// such a record was never acknowledged.
//
// Durability (see docs/ACQUISITION.md): commit() makes the records appended
// so far safe. With SyncMode::kProcess that is the write(2) itself: the bytes
// belong to the kernel, so a SIGKILL of any process (proxy, writer, manager,
// scanner) cannot lose them. With SyncMode::kPower, commit() also calls
// fdatasync once for all the records appended since the last commit (group
// commit), so they survive a power cut too.
//
// Segments are retired once the slide file holds every record in them:
// the writer reports each written record (mark_written), and after flushing
// the slide file calls collect() with the counts it saw before that flush.
// A retired segment's file is kept (renamed free-N.log, up to eight) and
// overwritten as a later segment: rewriting pages already in the page cache
// is several times cheaper than appending fresh ones. Stale records behind
// the new ones fail their check (it covers the segment number and the spool
// folder). A finished spool moves its files to `spare_dir`, where the next
// scan's spool picks them up: its first segments are warm too.
// With kPower the folder is fsynced after every segment file is created,
// renamed or removed, so the names survive a power cut too. A failed
// commit leaves the records unsynced and the spool dirty: the next
// commit() syncs them again (the caller acknowledges nothing until one
// succeeds).
//
// Thread-safety: append/commit from one thread (the proxy); read_payload,
// mark_written, written_snapshot, collect and the accessors from any thread.
// Failure modes: ResourceExhausted when the spool would exceed its capacity
// or the disk is full (the partial record is cut off again, nothing is
// acknowledged); IOError for other file errors, naming the segment file.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vslide/acquire/file_ops.h"
#include "vslide/core/status.h"

namespace vslide::acquire {

enum class SyncMode { kProcess, kPower };
std::string_view sync_mode_name(SyncMode m);
Result<SyncMode> parse_sync_mode(std::string_view s);

// Where a record's payload lies.
struct SpoolRef {
  uint32_t segment = 0;
  uint64_t offset = 0;  // of the payload in the segment file
  uint64_t length = 0;
};

struct SpoolOptions {
  std::string dir;                             // created if absent
  uint64_t segment_bytes = 256ull << 20;       // roll over to a new segment past this size
  uint64_t capacity_bytes = 64ull << 30;       // live segments may not exceed this
  SyncMode sync = SyncMode::kProcess;
  // Where a finished spool leaves its segment files for the next scan's
  // spool to reuse (shared by the scans of one manager); "" = delete them.
  // Used only when it is vslide's own: created by a spool (which marks it
  // with the file kSpareMarker) or already holding that marker. Only files
  // named like spares (digits ".log") are ever taken from it.
  std::string spare_dir;
  // The file-system calls (a test injects faults); null = POSIX.
  FileOps* files = nullptr;
};

// Marker files: a spool folder holds kSpoolMarker from its first open; a
// folder with spool-like files (spool-*.log, free-*.log) but no marker is
// refused rather than read or cleaned, and only the spool's own files are
// ever deleted. The shared spare folder holds kSpareMarker.
inline constexpr const char* kSpoolMarker = ".vslide-spool";
inline constexpr const char* kSpareMarker = ".vslide-spool-spares";

class Spool {
 public:
  // Opens the spool folder; existing segments are kept (for replay) and new
  // records go to a fresh segment after the highest one found.
  static Result<std::unique_ptr<Spool>> open(const SpoolOptions& options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Appends one record; not safe until commit(). `payload_hash`, when given,
  // must be XXH3-64 of the payload (saves hashing it again).
  Result<SpoolRef> append(std::string_view meta, std::span<const uint8_t> payload,
                          std::optional<uint64_t> payload_hash = std::nullopt);
  // Makes every appended record safe (see the durability note above). On
  // failure nothing appended since the last successful commit may be
  // acknowledged; a later commit() retries.
  Status commit();

  // Reads a payload back (a field spilled out of memory). The caller checks
  // the bytes against the field's checksum.
  Result<std::vector<uint8_t>> read_payload(const SpoolRef& ref) const;
  // The same into `out`, whose capacity is reused.
  Status read_payload_into(const SpoolRef& ref, std::vector<uint8_t>* out) const;

  // Calls fn for every complete record of the existing segments, oldest
  // first. Used at start-up, before any append.
  using ReplayFn = std::function<Status(const std::string& meta, std::vector<uint8_t> payload, const SpoolRef& ref)>;
  Status replay(const ReplayFn& fn);

  // The writer has put this record into the slide file.
  void mark_written(const SpoolRef& ref);
  // Records written per segment, taken BEFORE the slide file is flushed.
  std::map<uint32_t, uint64_t> written_snapshot() const;
  // Retires every sealed segment whose records were all written according to
  // the snapshot (the file was flushed after the snapshot). Returns the count.
  int collect(const std::map<uint32_t, uint64_t>& snapshot);
  // Deletes every segment and spare file (the slide is finished), or hands
  // them to spare_dir for the next spool (up to 8 files there).
  Status remove_all();

  uint64_t live_bytes() const;      // bytes of segments not yet deleted
  uint64_t capacity_bytes() const { return options_.capacity_bytes; }
  SyncMode sync_mode() const { return options_.sync; }
  const std::string& dir() const { return options_.dir; }

 private:
  struct Segment {
    std::string path;
    uint64_t bytes = 0;
    uint64_t records = 0;
    uint64_t written = 0;
    bool sealed = false;
  };
  explicit Spool(SpoolOptions options) : options_(std::move(options)) {}
  std::string segment_path(uint32_t n) const;
  Status roll_over();  // REQUIRES: mu_ not held; called from the append thread
  Status claim_folder();
  void take_spares();
  Status sync_folder();  // with kPower: fsync the spool folder
  FileOps* files() const { return options_.files ? options_.files : FileOps::posix(); }

  SpoolOptions options_;
  uint64_t salt_ = 0;           // XXH3-64 of the folder's path, in every record check
  int fd_ = -1;                 // the open (last) segment; append thread only
  uint32_t current_ = 0;        // its number
  bool dirty_ = false;          // appended since the last commit; append thread only

  mutable std::mutex mu_;       // guards segments_ and free_files_
  std::map<uint32_t, Segment> segments_;
  std::vector<std::string> free_files_;  // retired segment files kept for reuse
};

}  // namespace vslide::acquire
