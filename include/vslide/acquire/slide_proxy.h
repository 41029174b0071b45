// SlideProxy: the FIFO between one scanner and its slide writer, and the
// only place where a field is acknowledged.
//
// It binds a ZeroMQ ROUTER socket on tcp://HOST:* (a free port), and for each
// field the scanner sends it checks the message (key inside the geometry,
// plane size, codec stream header, checksum), appends it to the spool, and
// after the spool commit acknowledges it (with power durability one commit,
// an fdatasync, for a batch of fields: group commit). Then it hands the field
// to the ScanWriter, keeping the bytes in memory (a pooled buffer) while the
// writer's buffer stays under --max-buffer-mb, else leaving them in the spool
// only (spilled: the writer reads them back). When the spool is full it
// answers "busy" (back-pressure) instead of acknowledging.
//
// Start-up (restore): the planes already in the slide file and every
// complete record in the spool are the acknowledged set; spool records not
// yet in the file go to the writer again. A scanner that says "hello" learns
// that set and sends only what is missing.
//
// Ownership: borrows the Spool and the ScanWriter (they outlive it).
// Thread-safety: run() on one thread; stop() from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "vslide/acquire/scan_dir.h"
#include "vslide/acquire/scan_writer.h"
#include "vslide/acquire/spool.h"

namespace vslide::acquire {

struct ProxyResult {
  FinishReport report;
  bool ended_by_scanner = false;
};

class SlideProxy {
 public:
  SlideProxy(const ScanSettings& settings, Spool* spool, ScanWriter* writer);
  ~SlideProxy();

  // Rebuilds the acknowledged set from the file and the spool and requeues
  // what the file lacks. Returns true when the spool holds the scan's "end"
  // (or "abort"): the scan only needs finishing.
  Result<bool> restore();

  // Binds the socket and warms up the receive path (a few plane-sized
  // messages sent to itself and dropped, so that the scan's first fields
  // land in memory already used); returns the endpoint
  // ("tcp://127.0.0.1:41234").
  Result<std::string> bind();

  // Serves the scanner until the scan ends and the file is finished in
  // `final_state` (kFailed on "abort" or an idle timeout), then replies
  // "finished". REQUIRES: bind() succeeded.
  Result<ProxyResult> run(SlideState final_state);

  // Finishes without serving (recovery): the writer drains and finishes.
  Result<FinishReport> finish_now(SlideState state);

  size_t acknowledged() const { return acked_.size(); }

 private:
  void warm_up();

  struct Impl;
  std::unique_ptr<Impl> impl_;
  ScanSettings settings_;
  Spool* spool_;
  ScanWriter* writer_;
  std::map<TileKey, uint64_t> acked_;  // key -> checksum of the accepted bytes (0: unknown)
  std::optional<std::string> end_kind_;  // "end" or "abort" once spooled
};

}  // namespace vslide::acquire
