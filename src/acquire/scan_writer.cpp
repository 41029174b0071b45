#include "vslide/acquire/scan_writer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "vslide/acquire/file_ops.h"
#include "vslide/catalog/catalog.h"
#include "vslide/storage/codec.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::acquire {

namespace {

constexpr auto kFlushInterval = std::chrono::milliseconds(500);
constexpr int kCatalogEveryFlushes = 6;
constexpr int kFinishRetries = 240;  // x 250 ms
constexpr auto kRetryPause = std::chrono::milliseconds(250);
constexpr int kCatalogRetries = 60;  // x 1 s at the end of a scan

// Failures of the storage itself (disk full, I/O): worth trying again. A
// field refused for its content (corrupt, wrong size) is not.
bool is_storage_failure(const Status& st) {
  return st.code() == StatusCode::kIOError || st.code() == StatusCode::kResourceExhausted ||
         st.code() == StatusCode::kInternal || st.code() == StatusCode::kUnavailable;
}

double now_unix_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Blosc streams of the same compressor and shuffle decode the same way,
// whatever clevel made them: such chunks are stored untouched.
bool same_stream_format(const CodecSpec& a, const CodecSpec& b) {
  if (a.family != b.family) return false;
  if (a.family != CodecFamily::kBlosc) return true;
  return a.compressor == b.compressor && a.shuffle == b.shuffle;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

ScanWriter::ScanWriter(const ScanSettings& settings, std::unique_ptr<Hdf5Slide> slide, Spool* spool)
    : settings_(settings), slide_(std::move(slide)), spool_(spool) {
  int n = std::max(1, settings_.writer_threads);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
  flusher_ = std::thread([this] { flusher_loop(); });
}

Result<std::unique_ptr<ScanWriter>> ScanWriter::open(const ScanSettings& settings, bool create, Spool* spool) {
  std::unique_ptr<Hdf5Slide> slide;
  if (create) {
    CreateOptions opts;
    opts.codec = settings.file_codec;
    opts.swmr = true;
    auto s = Hdf5Slide::create(settings.slide_path, settings.spec.header, settings.spec.geometry,
                               settings.spec.channels, opts);
    if (!s.ok()) return s.status();
    slide = std::move(s).value();
  } else {
    auto s = Hdf5Slide::open(settings.slide_path, OpenMode::kAppend);
    if (!s.ok()) return s.status().with_context("reopening the unfinished slide");
    slide = std::move(s).value();
  }
  std::unique_ptr<ScanWriter> writer(new ScanWriter(settings, std::move(slide), spool));
  // A new file is on the disk under its name before any field is acknowledged:
  // a power cut must not leave an empty or nameless file to resume from.
  if (create) VSLIDE_RETURN_IF_ERROR(writer->slide_->flush());
  if (create) VSLIDE_RETURN_IF_ERROR(writer->sync_slide_file());
  return writer;
}

ScanWriter::~ScanWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  {
    std::lock_guard lock(flush_mu_);
    flusher_stop_ = true;
  }
  flush_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
}

std::vector<TileKey> ScanWriter::planes_in_file() const {
  std::vector<TileKey> out;
  auto index = slide_->index();
  const auto& g = slide_->geometry();
  for (const auto& e : index->entries()) {
    for (int32_t p = 0; p < int32_t(e.planes.size()); ++p) {
      if (!e.planes[size_t(p)]) continue;
      TileKey k;
      k.row = e.field.row;
      k.col = e.field.col;
      k.channel = p % g.channels;
      k.z = (p / g.channels) % g.z_planes;
      k.t = p / (g.channels * g.z_planes);
      out.push_back(k);
    }
  }
  return out;
}

bool ScanWriter::may_buffer(uint64_t bytes) const {
  return buffered_bytes_ + bytes <= settings_.max_buffer_bytes;
}

void ScanWriter::enqueue(PendingField field) {
  if (field.bytes) {
    uint64_t now = buffered_bytes_ += field.bytes.size();
    uint64_t peak = peak_buffered_;
    while (now > peak && !peak_buffered_.compare_exchange_weak(peak, now)) {
    }
  }
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(field));
  }
  queue_cv_.notify_one();
}

uint64_t ScanWriter::queued_fields() const {
  std::lock_guard lock(mu_);
  return queue_.size() + uint64_t(in_progress_);
}

namespace {
// The writer's threads yield to the proxy thread: an acknowledgement is
// what the camera waits for, the file can lag behind (the buffer and the
// spool absorb it). Linux applies nice values per thread.
void lower_this_thread_priority() { (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 5); }
}  // namespace

void ScanWriter::worker_loop() {
  lower_this_thread_priority();
  for (;;) {
    PendingField f;
    {
      std::unique_lock lock(mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || (!queue_.empty() && !broken_); });
      // finish() stops the workers only when the queue is drained; the
      // destructor may leave fields waiting for a retry: they are in the spool.
      if (stopping_ || queue_.empty()) return;
      f = std::move(queue_.front());
      queue_.pop_front();
      ++in_progress_;
    }
    Status st = write_one(f);
    if (!st.ok() && is_storage_failure(st)) {
      // Disk full or an I/O error: HDF5 may have half-done the write (a
      // chunk indexed, its bytes not written), so this handle writes no
      // more. The field stays in the spool (never marked written, its
      // segment kept); the process restarts from the file as last flushed
      // and replays the spool (writer_process.h, kExitStorage).
      note_stall(f.meta.key.to_string() + ": " + st.to_string());
      broken_ = true;
      {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(f));
        --in_progress_;
      }
      drained_cv_.notify_all();
      std::this_thread::sleep_for(kRetryPause);
      continue;
    }
    if (st.ok()) {
      ++planes_written_;
      clear_stall();
    } else {
      ++failed_planes_;
      std::fprintf(stderr, "slide writer %s: %s: %s\n", settings_.slide_id.c_str(),
                   f.meta.key.to_string().c_str(), st.to_string().c_str());
    }
    // Written, or refused for its content (logged, counted): done with it.
    spool_->mark_written(f.ref);
    if (f.bytes) buffered_bytes_ -= f.bytes.size();
    {
      std::lock_guard lock(mu_);
      --in_progress_;
    }
    drained_cv_.notify_all();
  }
}

Status ScanWriter::write_one(const PendingField& f) {
  // A spilled field is read back into this worker's own buffer, reused
  // field after field (fresh pages cost more than the copy).
  thread_local std::vector<uint8_t> spilled;
  std::span<const uint8_t> bytes = f.bytes.bytes;
  if (!f.bytes) {
    VSLIDE_RETURN_IF_ERROR(spool_->read_payload_into(f.ref, &spilled));
    bytes = spilled;
    if (chunk_checksum(bytes) != f.meta.checksum) {
      return Status::corruption("spool segment " + std::to_string(f.ref.segment) + " offset " +
                                std::to_string(f.ref.offset) + ": the spilled field no longer matches its checksum");
    }
  }
  {
    // Held across write_field: another worker with a plane of the same field
    // must wait until the field exists in the file, not just in the set.
    std::lock_guard lock(field_mu_);
    if (!fields_written_.count({f.meta.key.row, f.meta.key.col})) {
      VSLIDE_RETURN_IF_ERROR(slide_->write_field(f.meta.field));
      fields_written_.insert({f.meta.key.row, f.meta.key.col});
    }
  }
  if (same_stream_format(f.meta.codec, slide_->codec()) && f.meta.codec.family != CodecFamily::kNone) {
    // Stored as sent. meta.checksum is the scanner's XXH3 of these bytes,
    // checked by the proxy on arrival (and above on read-back).
    return slide_->write_stored_chunk(f.meta.key, slide_->codec(), f.meta.height, f.meta.width, bytes,
                                      f.meta.checksum);
  }
  if (f.meta.codec.family == CodecFamily::kNone) {
    if (bytes.size() != size_t(f.meta.width) * size_t(f.meta.height) * 2) {
      return Status::invalid_argument("raw field holds " + std::to_string(bytes.size()) + " bytes");
    }
    return slide_->write_plane(
        f.meta.key, Image16View(reinterpret_cast<const uint16_t*>(bytes.data()), f.meta.width, f.meta.height));
  }
  Image16 image(f.meta.width, f.meta.height);
  std::span<uint8_t> out(reinterpret_cast<uint8_t*>(image.data()), image.byte_size());
  VSLIDE_RETURN_IF_ERROR(decode_chunk(f.meta.codec, bytes, out));
  return slide_->write_plane(f.meta.key, image.view());
}

void ScanWriter::flusher_loop() {
  lower_this_thread_priority();
  int rounds = 0;
  std::unique_lock lock(flush_mu_);
  while (!flusher_stop_) {
    flush_cv_.wait_for(lock, kFlushInterval, [&] { return flusher_stop_; });
    if (flusher_stop_) break;
    if (broken_) continue;  // nothing more goes into this handle
    auto snapshot = spool_->written_snapshot();
    Status st = slide_->flush();
    // With power durability the file must be on the disk, not only in the
    // page cache, before the spool records it holds are retired.
    if (st.ok()) st = sync_slide_file();
    if (st.ok()) {
      spool_->collect(snapshot);
    } else {
      note_stall("flush: " + st.to_string());
      broken_ = true;
      drained_cv_.notify_all();
    }
    if (++rounds % kCatalogEveryFlushes == 0) {
      Status cs = update_catalog(SlideState::kScanning, 0, int64_t(slide_->index()->planes_present()),
                                 int64_t(slide_->bytes_raw()), int64_t(slide_->bytes_stored()));
      if (!cs.ok()) {
        std::fprintf(stderr, "slide writer %s: catalog: %s\n", settings_.slide_id.c_str(), cs.to_string().c_str());
      }
    }
  }
}

Status ScanWriter::sync_slide_file() {
  if (settings_.sync != SyncMode::kPower) return Status();
  VSLIDE_RETURN_IF_ERROR(sync_file(settings_.slide_path));
  if (!slide_dir_synced_) {
    // The file's name, created by this writer, must survive a power cut too.
    VSLIDE_RETURN_IF_ERROR(sync_dir(std::filesystem::path(settings_.slide_path).parent_path().string()));
    slide_dir_synced_ = true;
  }
  return Status();
}

void ScanWriter::note_stall(const std::string& why) {
  std::lock_guard lock(stall_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (stall_reason_ != why || now - last_stall_log_ > std::chrono::seconds(10)) {
    std::fprintf(stderr, "slide writer %s: stalled, will retry: %s\n", settings_.slide_id.c_str(), why.c_str());
    last_stall_log_ = now;
  }
  stall_reason_ = why;
}

void ScanWriter::clear_stall() {
  std::lock_guard lock(stall_mu_);
  if (!stall_reason_.empty()) {
    std::fprintf(stderr, "slide writer %s: writing again\n", settings_.slide_id.c_str());
    stall_reason_.clear();
  }
}

std::string ScanWriter::stall_reason() const {
  std::lock_guard lock(stall_mu_);
  return stall_reason_;
}

Status ScanWriter::update_catalog(SlideState state, double end_unix_s, int64_t planes, int64_t raw,
                                  int64_t stored) {
  auto catalog = open_catalog(settings_.catalog_url);
  if (!catalog.ok()) return catalog.status();
  SlideRecord r;
  auto existing = (*catalog)->get(settings_.slide_id);
  bool found = existing.ok();
  if (found) {
    r = *existing;
  } else {
    r.id = settings_.slide_id;
    r.name = settings_.spec.header.name;
    r.path = settings_.slide_path;
    r.host = host_name();
    r.header_json = nlohmann::json(settings_.spec.header).dump();
    for (const auto& c : settings_.spec.channels) r.channel_names.push_back(c.name);
    r.start_unix_s = settings_.created_unix_s;
  }
  r.state = state;
  r.tile_count = planes;
  r.bytes_raw = raw;
  r.bytes_stored = stored;
  r.end_unix_s = end_unix_s;
  return found ? (*catalog)->update(r) : (*catalog)->add(r);
}

Result<FinishReport> ScanWriter::finish(SlideState state) {
  {
    std::unique_lock lock(mu_);
    drained_cv_.wait(lock, [&] { return (queue_.empty() && in_progress_ == 0) || broken_; });
    if (broken_) return Status::resource_exhausted("slide writer " + settings_.slide_id + ": " + stall_reason());
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  {
    std::lock_guard lock(flush_mu_);
    flusher_stop_ = true;
  }
  flush_cv_.notify_all();
  flusher_.join();

  FinishReport report;
  // A slide missing an acknowledged plane is not complete.
  report.state = failed_planes_ > 0 && state != SlideState::kFailed ? SlideState::kFailed : state;
  state = report.state;
  report.path = settings_.slide_path;
  report.failed_planes = failed_planes_;
  if (Status st = slide_->flush(); !st.ok()) {
    broken_ = true;
    note_stall("flush: " + st.to_string());
    return st;
  }
  report.planes = int64_t(slide_->index()->planes_present());
  report.bytes_raw = int64_t(slide_->bytes_raw());
  report.bytes_stored = int64_t(slide_->bytes_stored());
  double end = now_unix_s();
  // The catalog must not say "complete" before the file is.
  // Finishing a SWMR file reopens it for plain writing, which HDF5's file
  // lock refuses while a reader (vslide info, a viewer) has it open: wait
  // for readers to let go rather than fail the scan.
  Status finished = slide_->finish(state);
  for (int i = 0; i < kFinishRetries && !finished.ok() &&
                  finished.message().find("unable to lock file") != std::string::npos;
       ++i) {
    if (i == 0) {
      std::fprintf(stderr, "slide writer %s: a reader holds the file open; waiting to finish it\n",
                   settings_.slide_id.c_str());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    finished = slide_->finish(state);
  }
  VSLIDE_RETURN_IF_ERROR(finished);
  // Close the file now: readers (and the scanner, told "finished") may open it at once.
  slide_.reset();
  if (settings_.sync == SyncMode::kPower) VSLIDE_RETURN_IF_ERROR(sync_slide_file());
  // A full disk may refuse the catalog for a while: the file is finished
  // and safe, so keep trying before giving the error to the scanner.
  Status cs;
  for (int i = 0; i < kCatalogRetries; ++i) {
    cs = update_catalog(state, end, report.planes, report.bytes_raw, report.bytes_stored);
    if (cs.ok()) break;
    note_stall("catalog: " + cs.to_string());
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  VSLIDE_RETURN_IF_ERROR(cs);
  return report;
}

}  // namespace vslide::acquire
