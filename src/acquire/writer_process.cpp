#include "vslide/acquire/writer_process.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "vslide/acquire/scan_dir.h"
#include "vslide/acquire/scan_writer.h"
#include "vslide/acquire/slide_proxy.h"
#include "vslide/acquire/spool.h"

namespace vslide::acquire {

namespace fs = std::filesystem;

std::string_view writer_mode_name(WriterMode m) {
  switch (m) {
    case WriterMode::kNew: return "new";
    case WriterMode::kResume: return "resume";
    case WriterMode::kRecover: return "recover";
  }
  return "?";
}

Result<WriterMode> parse_writer_mode(std::string_view s) {
  if (s == "new") return WriterMode::kNew;
  if (s == "resume") return WriterMode::kResume;
  if (s == "recover") return WriterMode::kRecover;
  return Status::invalid_argument("writer mode '" + std::string(s) + "': expected new, resume or recover");
}

namespace {

void say_ready(int fd, const std::string& endpoint) {
  if (fd < 0) return;
  std::string line = "ready " + endpoint + "\n";
  ssize_t w = ::write(fd, line.data(), line.size());
  (void)w;  // the manager may be gone; the endpoint file says the same
  ::close(fd);
}

int fail(const std::string& scan_dir, const Status& st, int code) {
  std::fprintf(stderr, "slide writer %s: %s\n", scan_dir.c_str(), st.to_string().c_str());
  return code;
}

// The slide file could not be written: leave at once, without closing it
// (HDF5's close would try the failed writes again and may crash), exactly
// as a kill would: the file as last flushed and the spool are the record.
[[noreturn]] void leave_for_storage(const std::string& scan_dir, const Status& st) {
  std::fprintf(stderr, "slide writer %s: the slide file cannot be written, restarting: %s\n", scan_dir.c_str(),
               st.to_string().c_str());
  std::fflush(stderr);
  std::_Exit(kExitStorage);
}

}  // namespace

int run_writer_process(const std::string& scan_dir, WriterMode mode, int ready_fd) {
  // A manager that does not wait for "ready" (recovery) has closed its end
  // of the pipe: writing the line must not kill the writer.
  ::signal(SIGPIPE, SIG_IGN);
  auto settings = read_scan_settings(scan_dir);
  if (!settings.ok()) return fail(scan_dir, settings.status(), kExitPermanent);
  if (auto done = finished_state(scan_dir)) {
    std::fprintf(stderr, "slide writer %s: already finished (%s)\n", settings->slide_id.c_str(),
                 std::string(slide_state_name(*done)).c_str());
    return 0;
  }
  // A writer that just died may still hold the lock for an instant.
  Result<WriterLock> lock = Status::unavailable("");
  for (int i = 0; i < 30; ++i) {
    lock = WriterLock::acquire(scan_dir);
    if (lock.ok() || lock.status().code() != StatusCode::kUnavailable) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!lock.ok()) return fail(scan_dir, lock.status(), kExitPermanent);
  if (Status st = write_scan_file(scan_dir, "writer.pid", std::to_string(getpid())); !st.ok()) {
    return fail(scan_dir, st, kExitRetry);
  }
  // The endpoint of a dead writer must not be handed out.
  std::error_code rm;
  fs::remove(fs::path(scan_dir) / "proxy.endpoint", rm);

  SpoolOptions so;
  so.dir = settings->spool_dir;
  so.spare_dir = settings->spare_dir;
  so.capacity_bytes = settings->spool_capacity_bytes;
  // Small segments are retired (and their files reused) soon after the
  // writer has them in the file.
  so.segment_bytes = std::clamp<uint64_t>(so.capacity_bytes / 8, 64 << 10, 64ull << 20);
  so.sync = settings->sync;
  auto spool = Spool::open(so);
  if (!spool.ok()) return fail(scan_dir, spool.status(), kExitRetry);

  const bool file_exists = fs::exists(settings->slide_path);
  if (mode == WriterMode::kNew && file_exists) {
    std::fprintf(stderr, "slide writer %s: %s exists: continuing it as a resumed scan\n",
                 settings->slide_id.c_str(), settings->slide_path.c_str());
  }
  auto writer = ScanWriter::open(*settings, !file_exists, spool->get());
  if (!writer.ok()) return fail(scan_dir, writer.status(), file_exists ? kExitRetry : kExitPermanent);
  SlideProxy proxy(*settings, spool->get(), writer->get());
  auto ended = proxy.restore();
  if (!ended.ok()) return fail(scan_dir, ended.status(), kExitRetry);
  const SlideState final_state = file_exists ? SlideState::kRecovered : SlideState::kComplete;

  FinishReport report;
  // Given up by the manager (the writer died too often): finish the file as
  // failed so that it opens, with every acknowledged plane in it.
  const bool abandoned = read_scan_file(scan_dir, kAbandonedMarker).has_value();
  const bool serve = mode != WriterMode::kRecover || (settings->recover_wait_s > 0 && !abandoned && !*ended);
  if (!serve) {
    auto r = proxy.finish_now(abandoned ? SlideState::kFailed : SlideState::kRecovered);
    if (!r.ok() && (*writer)->broken()) leave_for_storage(scan_dir, r.status());
    if (!r.ok()) return fail(scan_dir, r.status(), kExitRetry);
    report = *r;
  } else {
    auto endpoint = proxy.bind();
    if (!endpoint.ok()) return fail(scan_dir, endpoint.status(), kExitRetry);
    Status st = write_scan_file(scan_dir, "proxy.endpoint", *endpoint);
    if (!st.ok()) return fail(scan_dir, st, kExitRetry);
    std::fprintf(stderr, "slide writer %s: %s mode, proxy at %s, file %s\n", settings->slide_id.c_str(),
                 std::string(writer_mode_name(mode)).c_str(), endpoint->c_str(), settings->slide_path.c_str());
    say_ready(ready_fd, *endpoint);
    // Recovery: a scanner still alive takes its remaining planes; without
    // one the file is finished after recover_wait_s.
    auto r = proxy.run(final_state, mode == WriterMode::kRecover ? settings->recover_wait_s : 0);
    if (!r.ok() && (*writer)->broken()) leave_for_storage(scan_dir, r.status());
    if (!r.ok()) return fail(scan_dir, r.status(), kExitRetry);
    report = r->report;
  }
  Status st = write_scan_file(scan_dir, "finished", std::string(slide_state_name(report.state)));
  if (!st.ok()) return fail(scan_dir, st, kExitRetry);
  st = (*spool)->remove_all();
  if (!st.ok()) std::fprintf(stderr, "slide writer %s: %s\n", settings->slide_id.c_str(), st.to_string().c_str());
  std::error_code ec;
  if (fs::path(settings->spool_dir) != fs::path(scan_dir)) fs::remove(settings->spool_dir, ec);
  std::fprintf(stderr, "slide writer %s: finished %s: %lld planes (%lld failed), %s\n", settings->slide_id.c_str(),
               std::string(slide_state_name(report.state)).c_str(), (long long)report.planes,
               (long long)report.failed_planes, report.path.c_str());
  return 0;
}

}  // namespace vslide::acquire
