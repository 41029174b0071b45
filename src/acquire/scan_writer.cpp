#include "vslide/acquire/scan_writer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "vslide/catalog/catalog.h"
#include "vslide/storage/codec.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::acquire {

namespace {

constexpr auto kFlushInterval = std::chrono::milliseconds(500);
constexpr int kCatalogEveryFlushes = 6;
constexpr int kFinishRetries = 240;  // x 250 ms

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
  return std::unique_ptr<ScanWriter>(new ScanWriter(settings, std::move(slide), spool));
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
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      f = std::move(queue_.front());
      queue_.pop_front();
      ++in_progress_;
    }
    Status st = write_one(f);
    if (st.ok()) {
      ++planes_written_;
    } else {
      ++failed_planes_;
      std::fprintf(stderr, "slide writer %s: %s: %s\n", settings_.slide_id.c_str(),
                   f.meta.key.to_string().c_str(), st.to_string().c_str());
    }
    // Written or not, the record has had its one chance: the error is logged.
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
    auto snapshot = spool_->written_snapshot();
    Status st = slide_->flush();
    if (st.ok()) {
      spool_->collect(snapshot);
    } else {
      std::fprintf(stderr, "slide writer %s: flush: %s\n", settings_.slide_id.c_str(), st.to_string().c_str());
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
    drained_cv_.wait(lock, [&] { return queue_.empty() && in_progress_ == 0; });
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
  report.state = state;
  report.path = settings_.slide_path;
  report.failed_planes = failed_planes_;
  VSLIDE_RETURN_IF_ERROR(slide_->flush());
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
  VSLIDE_RETURN_IF_ERROR(update_catalog(state, end, report.planes, report.bytes_raw, report.bytes_stored));
  return report;
}

}  // namespace vslide::acquire
