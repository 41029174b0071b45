// ScanWriter: the slide writer half of a scan's writer process. It drains
// the fields the slide proxy accepted, writes them into the virtual slide on
// worker threads, flushes the file regularly (so that `vslide info` sees the
// fields written so far, and so that spool segments can be deleted), and at
// the end finishes the file and records it in the catalog.
//
// A field whose codec equals the file's codec is stored as sent
// (SlideWriter::write_stored: no recompression); otherwise it is decoded and
// re-encoded on the worker thread (write_plane), e.g. into gzip.
//
// Ownership: owns the Hdf5Slide and its worker threads; borrows the Spool
// (must outlive it). Thread-safety: enqueue, counters and finish are safe
// from any thread; finish is called once.
// Failure modes: a field refused for its content (corrupt after the
// proxy's checks) is logged to stderr with its tile and counted in
// failed_planes() (the slide then finishes as failed, never complete); a
// storage failure (disk full, I/O error) is not a loss: the field stays in
// the spool and queue and is retried until it is written (stall_reason()
// says why meanwhile), and spool segments are retired only after the file
// holding their records was flushed (and, with power durability, fsynced).
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <thread>
#include <vector>

#include "vslide/acquire/protocol.h"
#include "vslide/acquire/scan_dir.h"
#include "vslide/acquire/spool.h"
#include "vslide/core/tile.h"

namespace vslide {
class Hdf5Slide;
}

namespace vslide::acquire {

// A field's encoded bytes held in memory: a view, and whatever owns the
// memory (the ZeroMQ message it arrived in, or a vector read back from the
// spool). Nothing is copied on the way from the socket to the file.
struct Payload {
  std::shared_ptr<const void> owner;
  std::span<const uint8_t> bytes;

  Payload() = default;
  Payload(std::shared_ptr<const void> o, std::span<const uint8_t> b) : owner(std::move(o)), bytes(b) {}
  explicit Payload(std::vector<uint8_t> v) {
    auto held = std::make_shared<const std::vector<uint8_t>>(std::move(v));
    bytes = std::span<const uint8_t>(*held);
    owner = std::move(held);
  }
  explicit operator bool() const { return owner != nullptr; }
  size_t size() const { return bytes.size(); }
};

// One accepted field on its way into the file.
struct PendingField {
  FieldMeta meta;
  Payload bytes;  // empty when spilled: read back from the spool
  SpoolRef ref;
};

struct FinishReport {
  SlideState state = SlideState::kComplete;
  std::string path;
  int64_t planes = 0;
  int64_t failed_planes = 0;
  int64_t bytes_raw = 0, bytes_stored = 0;
};

class ScanWriter {
 public:
  // Creates the slide file (create == true; SWMR, so it is readable while
  // scanning) or reopens an unfinished one to complete it.
  static Result<std::unique_ptr<ScanWriter>> open(const ScanSettings& settings, bool create, Spool* spool);
  ~ScanWriter();

  // Planes the file already holds (after a reopen).
  std::vector<TileKey> planes_in_file() const;

  // Queues a field. Its bytes count against the memory buffer until written.
  void enqueue(PendingField field);
  // True when `bytes` more may be held in memory (else spill: pass null bytes).
  bool may_buffer(uint64_t bytes) const;

  uint64_t buffered_bytes() const { return buffered_bytes_; }
  uint64_t queued_fields() const;
  int64_t planes_written() const { return planes_written_; }
  int64_t failed_planes() const { return failed_planes_; }
  uint64_t peak_buffered_bytes() const { return peak_buffered_; }
  // Why the writer cannot make progress now (disk full, I/O error), "" when
  // it can. The stuck fields stay queued and in the spool and are retried.
  std::string stall_reason() const;
  // True once a write into the slide file failed (disk full, I/O): HDF5's
  // state is then not trusted any more, nothing more is written, and the
  // process must restart from the file as last flushed and the spool.
  bool broken() const { return broken_; }

  // Waits for the queue to drain, finishes the file in `state`, updates the
  // catalog record (adding it if absent). Stops the threads.
  Result<FinishReport> finish(SlideState state);

 private:
  ScanWriter(const ScanSettings& settings, std::unique_ptr<Hdf5Slide> slide, Spool* spool);
  void worker_loop();
  void flusher_loop();
  Status write_one(const PendingField& f);
  Status update_catalog(SlideState state, double end_unix_s, int64_t planes, int64_t raw, int64_t stored);
  Status sync_slide_file();  // with power durability: fsync the file (and once its folder)
  void note_stall(const std::string& why);
  void clear_stall();

  ScanSettings settings_;
  std::unique_ptr<Hdf5Slide> slide_;
  Spool* spool_;

  mutable std::mutex mu_;  // guards queue_, in_progress_, stopping_
  std::condition_variable queue_cv_, drained_cv_;
  std::deque<PendingField> queue_;
  std::mutex field_mu_;    // guards fields_written_; held while a field is written
  std::set<std::pair<int32_t, int32_t>> fields_written_;
  int in_progress_ = 0;
  bool stopping_ = false;

  std::mutex flush_mu_;    // serialises flush + spool collection
  std::condition_variable flush_cv_;
  bool flusher_stop_ = false;  // guarded by flush_mu_

  bool slide_dir_synced_ = false;  // flusher / finish thread only

  mutable std::mutex stall_mu_;  // guards stall_reason_, last_stall_log_
  std::string stall_reason_;
  std::chrono::steady_clock::time_point last_stall_log_{};

  std::atomic<uint64_t> buffered_bytes_{0}, peak_buffered_{0};
  std::atomic<int64_t> planes_written_{0}, failed_planes_{0};
  std::atomic<bool> broken_{false};
  std::vector<std::thread> workers_;
  std::thread flusher_;
};

}  // namespace vslide::acquire
