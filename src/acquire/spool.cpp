#include "vslide/acquire/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace vslide::acquire {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kMagic = 0x32505356;  // "VSP2" little-endian
constexpr size_t kRecordHeader = 24;
constexpr uint64_t kMaxMeta = 1 << 20;
constexpr uint64_t kMaxPayload = 1ull << 32;

// At most this many written-out segment files are kept for reuse, per spool
// and in the shared spare folder.
constexpr size_t kMaxFreeSegments = 8;
constexpr size_t kMaxSharedSpares = 12;

// check = XXH3-64 of (segment number, folder salt, the payload's XXH3-64),
// seeded with the meta's XXH3-64: the payload hash is the one the scanner
// sent, so the proxy hashes each payload once; the segment number and the
// salt (XXH3-64 of the spool folder's path) make the records a recycled file
// held in an earlier life (in this spool or another scan's) fail, so replay
// ends where the new records end.
uint64_t record_check(std::string_view meta, uint64_t payload_hash, uint32_t segment, uint64_t salt) {
  uint64_t seed = XXH3_64bits(meta.data(), meta.size());
  uint64_t words[3] = {segment, salt, payload_hash};
  return XXH3_64bits_withSeed(words, sizeof(words), seed);
}

Status pwrite_all(FileOps* ops, int fd, const void* data, size_t n, uint64_t offset, const std::string& path) {
  auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t w = ops->pwrite(fd, p, n, off_t(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSPC || errno == EDQUOT) {
        return Status::resource_exhausted(path + ": disk full while spooling (" + std::strerror(errno) + ")");
      }
      return Status::io_error(path + ": write: " + std::strerror(errno));
    }
    p += w;
    n -= size_t(w);
    offset += uint64_t(w);
  }
  return Status();
}

bool pread_all(int fd, void* data, size_t n, uint64_t offset) {
  auto* p = static_cast<uint8_t*>(data);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, off_t(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
    offset += uint64_t(r);
  }
  return true;
}

}  // namespace

std::string_view sync_mode_name(SyncMode m) { return m == SyncMode::kPower ? "power" : "process"; }

Result<SyncMode> parse_sync_mode(std::string_view s) {
  if (s == "process") return SyncMode::kProcess;
  if (s == "power") return SyncMode::kPower;
  return Status::invalid_argument("durability '" + std::string(s) + "': expected process or power");
}

std::string Spool::segment_path(uint32_t n) const {
  char name[32];
  std::snprintf(name, sizeof(name), "spool-%06u.log", n);
  return (fs::path(options_.dir) / name).string();
}

namespace {

bool is_spool_file(const std::string& name) {
  unsigned n = 0;
  char tail = 0;
  return name.rfind("free-", 0) == 0 || std::sscanf(name.c_str(), "spool-%06u.lo%c", &n, &tail) == 2;
}

// A spare's name as remove_all gives it: digits, then ".log".
bool is_spare_name(const std::string& name) {
  if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".log") != 0) return false;
  return std::all_of(name.begin(), name.end() - 4, [](char c) { return c >= '0' && c <= '9'; });
}

bool has_marker(const fs::path& dir, const char* marker) {
  std::error_code ec;
  return fs::is_regular_file(dir / marker, ec);
}

Status write_marker(const fs::path& dir, const char* marker) {
  std::string path = (dir / marker).string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::io_error(path + ": create: " + std::strerror(errno));
  static constexpr char kText[] = "made by vslide: files here are vslide's spool segments\n";
  ssize_t w = ::write(fd, kText, sizeof(kText) - 1);
  int err = errno;
  ::close(fd);
  if (w != ssize_t(sizeof(kText) - 1)) return Status::io_error(path + ": write: " + std::strerror(err));
  return Status();
}

}  // namespace

Status Spool::sync_folder() {
  if (options_.sync != SyncMode::kPower) return Status();
  return sync_dir(options_.dir, files());
}

// Makes sure the folder is a spool's (marker), refusing one that holds
// spool-like files vslide did not mark as its own.
Status Spool::claim_folder() {
  VSLIDE_RETURN_IF_ERROR(create_dirs_durably(options_.dir, files()));
  const fs::path dir(options_.dir);
  if (has_marker(dir, kSpoolMarker)) return Status();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (is_spool_file(entry.path().filename().string())) {
      return Status::failed_precondition("spool " + options_.dir + ": holds " + entry.path().filename().string() +
                                         " but no " + kSpoolMarker +
                                         " marker: not a vslide spool folder, refusing to use or clean it");
    }
  }
  if (ec) return Status::io_error("spool " + options_.dir + ": " + ec.message());
  VSLIDE_RETURN_IF_ERROR(write_marker(dir, kSpoolMarker));
  return sync_dir(options_.dir, files());
}

// Takes warm files left by finished scans (another process may race us for
// one: rename succeeds for one taker only). Only from a folder vslide marked.
void Spool::take_spares() {
  if (options_.spare_dir.empty() || !has_marker(options_.spare_dir, kSpareMarker)) return;
  std::error_code ec;
  std::vector<fs::path> shared;
  for (const auto& entry : fs::directory_iterator(options_.spare_dir, ec)) {
    if (entry.is_regular_file(ec) && is_spare_name(entry.path().filename().string())) shared.push_back(entry.path());
  }
  for (const auto& from : shared) {
    if (free_files_.size() >= kMaxFreeSegments) break;
    std::string to = (fs::path(options_.dir) / ("free-shared-" + std::to_string(free_files_.size()) + ".log")).string();
    if (::rename(from.c_str(), to.c_str()) == 0) free_files_.push_back(to);
  }
}

Result<std::unique_ptr<Spool>> Spool::open(const SpoolOptions& options) {
  std::unique_ptr<Spool> s(new Spool(options));
  VSLIDE_RETURN_IF_ERROR(s->claim_folder());
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options.dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("free-", 0) == 0) {
      std::error_code rm;
      fs::remove(entry.path(), rm);  // a spare file from before a crash: start afresh
      continue;
    }
    unsigned n = 0;
    if (std::sscanf(name.c_str(), "spool-%06u.log", &n) != 1) continue;
    Segment seg;
    seg.path = entry.path().string();
    seg.bytes = entry.file_size(ec);
    seg.sealed = true;  // old segments receive no more records
    s->segments_[n] = seg;
  }
  if (ec) return Status::io_error("spool " + options.dir + ": " + ec.message());
  const std::string canonical = fs::weakly_canonical(options.dir, ec).string();
  s->salt_ = XXH3_64bits(canonical.data(), canonical.size());
  s->take_spares();
  s->current_ = s->segments_.empty() ? 0 : s->segments_.rbegin()->first;
  VSLIDE_RETURN_IF_ERROR(s->roll_over());
  return s;
}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
}

Status Spool::roll_over() {
  if (fd_ >= 0) {
    if (options_.sync == SyncMode::kPower && files()->fdatasync(fd_) != 0) {
      return Status::io_error(segment_path(current_) + ": fdatasync: " + std::strerror(errno));
    }
    dirty_ = false;
    ::close(fd_);
    fd_ = -1;
    std::lock_guard lock(mu_);
    segments_[current_].sealed = true;
  }
  uint32_t next = current_ + 1;
  std::string path = segment_path(next);
  // Reuse a written-out segment file when there is one: overwriting pages
  // that are already in the page cache costs a fraction of appending new
  // ones (docs/PERFORMANCE.md, "acquire"). Its old records fail their check
  // under the new segment number, so replay stops where the new ones end.
  std::string spare;
  {
    std::lock_guard lock(mu_);
    if (!free_files_.empty()) {
      spare = free_files_.back();
      free_files_.pop_back();
    }
  }
  int fd = -1;
  if (!spare.empty() && ::rename(spare.c_str(), path.c_str()) == 0) {
    fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  }
  if (fd < 0) fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::io_error(path + ": create: " + std::strerror(errno));
  // The new name (and the spares' old names gone) must outlive a power cut
  // before a record in this segment is acknowledged.
  if (Status st = sync_folder(); !st.ok()) {
    ::close(fd);
    return st;
  }
  fd_ = fd;
  current_ = next;
  std::lock_guard lock(mu_);
  segments_[next] = Segment{path, 0, 0, 0, false};
  return Status();
}

Result<SpoolRef> Spool::append(std::string_view meta, std::span<const uint8_t> payload,
                               std::optional<uint64_t> payload_hash) {
  const uint64_t size = kRecordHeader + meta.size() + payload.size();
  bool roll = false, full = false;
  Status busy;
  {
    std::lock_guard lock(mu_);
    uint64_t live = 0;
    for (const auto& [n, seg] : segments_) live += seg.bytes;
    const Segment& cur = segments_[current_];
    full = live + size > options_.capacity_bytes;
    // A full spool seals its open segment, so that the writer's progress can free it.
    roll = cur.bytes > 0 && (full || cur.bytes + size > options_.segment_bytes);
    if (full) {
      busy = Status::resource_exhausted("spool " + options_.dir + " is full (" + std::to_string(live >> 20) +
                                        " MB of " + std::to_string(options_.capacity_bytes >> 20) + " MB)");
    }
  }
  if (roll) VSLIDE_RETURN_IF_ERROR(roll_over());
  if (full) return busy;
  uint8_t head[kRecordHeader];
  uint32_t meta_len = uint32_t(meta.size());
  uint64_t payload_len = payload.size();
  uint64_t check =
      record_check(meta, payload_hash ? *payload_hash : XXH3_64bits(payload.data(), payload.size()), current_, salt_);
  std::memcpy(head, &kMagic, 4);
  std::memcpy(head + 4, &meta_len, 4);
  std::memcpy(head + 8, &payload_len, 8);
  std::memcpy(head + 16, &check, 8);

  uint64_t start;
  std::string path;
  {
    std::lock_guard lock(mu_);
    start = segments_[current_].bytes;
    path = segments_[current_].path;
  }
  Status st = pwrite_all(files(), fd_, head, sizeof(head), start, path);
  if (st.ok()) st = pwrite_all(files(), fd_, meta.data(), meta.size(), start + kRecordHeader, path);
  if (st.ok()) st = pwrite_all(files(), fd_, payload.data(), payload.size(), start + kRecordHeader + meta.size(), path);
  if (!st.ok()) {
    // Cut the partial record off so that the segment stays a clean log.
    if (::ftruncate(fd_, off_t(start)) != 0) {
      return Status::io_error(path + ": cannot cut a partial record: " + std::strerror(errno));
    }
    return st;
  }
  dirty_ = true;
  std::lock_guard lock(mu_);
  Segment& seg = segments_[current_];
  seg.bytes += size;
  seg.records += 1;
  return SpoolRef{current_, start + kRecordHeader + meta.size(), payload_len};
}

Status Spool::commit() {
  if (!dirty_) return Status();
  // dirty_ stays set until the sync succeeds: a failed fdatasync is retried
  // by the next commit, never forgotten.
  if (options_.sync == SyncMode::kPower && files()->fdatasync(fd_) != 0) {
    return Status::io_error(segment_path(current_) + ": fdatasync: " + std::strerror(errno));
  }
  dirty_ = false;
  return Status();
}

Result<std::vector<uint8_t>> Spool::read_payload(const SpoolRef& ref) const {
  std::vector<uint8_t> out;
  VSLIDE_RETURN_IF_ERROR(read_payload_into(ref, &out));
  return out;
}

Status Spool::read_payload_into(const SpoolRef& ref, std::vector<uint8_t>* out) const {
  std::string path = segment_path(ref.segment);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::io_error(path + ": open: " + std::strerror(errno));
  out->resize(ref.length);
  bool ok = pread_all(fd, out->data(), out->size(), ref.offset);
  ::close(fd);
  if (!ok) {
    return Status::io_error(path + ": short read of " + std::to_string(ref.length) + " bytes at " +
                            std::to_string(ref.offset));
  }
  return Status();
}

Status Spool::replay(const ReplayFn& fn) {
  std::vector<std::pair<uint32_t, std::string>> old;
  {
    std::lock_guard lock(mu_);
    for (const auto& [n, seg] : segments_) {
      if (n != current_) old.emplace_back(n, seg.path);
    }
  }
  for (const auto& [n, path] : old) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::io_error(path + ": open: " + std::strerror(errno));
    struct stat st {};
    ::fstat(fd, &st);
    uint64_t off = 0, records = 0;
    const uint64_t size = uint64_t(st.st_size);
    Status result;
    while (off + kRecordHeader <= size) {
      uint8_t head[kRecordHeader];
      if (!pread_all(fd, head, sizeof(head), off)) break;
      uint32_t magic, meta_len;
      uint64_t payload_len, check;
      std::memcpy(&magic, head, 4);
      std::memcpy(&meta_len, head + 4, 4);
      std::memcpy(&payload_len, head + 8, 8);
      std::memcpy(&check, head + 16, 8);
      if (magic != kMagic || meta_len > kMaxMeta || payload_len > kMaxPayload ||
          off + kRecordHeader + meta_len + payload_len > size) {
        break;  // a torn tail: never acknowledged
      }
      std::string meta(meta_len, '\0');
      std::vector<uint8_t> payload(payload_len);
      if (!pread_all(fd, meta.data(), meta_len, off + kRecordHeader) ||
          !pread_all(fd, payload.data(), payload_len, off + kRecordHeader + meta_len)) {
        break;
      }
      if (record_check(meta, XXH3_64bits(payload.data(), payload.size()), n, salt_) != check) break;
      SpoolRef ref{n, off + kRecordHeader + meta_len, payload_len};
      off += kRecordHeader + meta_len + payload_len;
      ++records;
      result = fn(meta, std::move(payload), ref);
      if (!result.ok()) break;
    }
    ::close(fd);
    {
      std::lock_guard lock(mu_);
      segments_[n].records = records;
    }
    VSLIDE_RETURN_IF_ERROR(result.with_context(path));
  }
  return Status();
}

void Spool::mark_written(const SpoolRef& ref) {
  std::lock_guard lock(mu_);
  auto it = segments_.find(ref.segment);
  if (it != segments_.end()) it->second.written += 1;
}

std::map<uint32_t, uint64_t> Spool::written_snapshot() const {
  std::lock_guard lock(mu_);
  std::map<uint32_t, uint64_t> snap;
  for (const auto& [n, seg] : segments_) snap[n] = seg.written;
  return snap;
}

int Spool::collect(const std::map<uint32_t, uint64_t>& snapshot) {
  std::lock_guard lock(mu_);
  int removed = 0;
  for (auto it = segments_.begin(); it != segments_.end();) {
    auto snap = snapshot.find(it->first);
    const Segment& seg = it->second;
    if (seg.sealed && snap != snapshot.end() && snap->second >= seg.records) {
      std::error_code ec;
      if (free_files_.size() < kMaxFreeSegments) {
        std::string spare = (fs::path(options_.dir) / ("free-" + std::to_string(it->first) + ".log")).string();
        fs::rename(seg.path, spare, ec);
        if (!ec) free_files_.push_back(spare);
      } else {
        fs::remove(seg.path, ec);
      }
      if (!ec) {
        it = segments_.erase(it);
        ++removed;
        continue;
      }
    }
    ++it;
  }
  return removed;
}

Status Spool::remove_all() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  std::lock_guard lock(mu_);
  std::vector<std::string> files;
  for (const auto& [n, seg] : segments_) files.push_back(seg.path);
  files.insert(files.end(), free_files_.begin(), free_files_.end());
  segments_.clear();
  free_files_.clear();
  size_t shared = 0;
  std::error_code ec;
  bool share = false;
  if (!options_.spare_dir.empty()) {
    // Share only through a folder vslide made (marked): a user's folder of
    // the same name is left alone.
    if (fs::create_directories(options_.spare_dir, ec) && !ec) (void)write_marker(options_.spare_dir, kSpareMarker);
    share = !ec && has_marker(options_.spare_dir, kSpareMarker);
    if (!share) {
      std::fprintf(stderr, "spool %s: %s is not vslide's spare folder (no %s): segment files deleted instead\n",
                   options_.dir.c_str(), options_.spare_dir.c_str(), kSpareMarker);
    }
  }
  if (share) {
    for (const auto& e : fs::directory_iterator(options_.spare_dir, ec)) {
      shared += e.is_regular_file() && is_spare_name(e.path().filename().string());
    }
  }
  Status result;
  for (const auto& path : files) {
    ec.clear();
    if (share && shared < kMaxSharedSpares) {
      // A unique name: several finished spools share the folder.
      std::string to = (fs::path(options_.spare_dir) /
                        (std::to_string(XXH3_64bits(path.data(), path.size()) ^ salt_) + ".log"))
                           .string();
      if (::rename(path.c_str(), to.c_str()) == 0) {
        ++shared;
        continue;
      }
    }
    fs::remove(path, ec);
    if (ec && result.ok()) result = Status::io_error(path + ": remove: " + ec.message());
  }
  ec.clear();
  fs::remove(fs::path(options_.dir) / kSpoolMarker, ec);
  return result;
}

uint64_t Spool::live_bytes() const {
  std::lock_guard lock(mu_);
  uint64_t live = 0;
  for (const auto& [n, seg] : segments_) live += seg.bytes;
  return live;
}

}  // namespace vslide::acquire
