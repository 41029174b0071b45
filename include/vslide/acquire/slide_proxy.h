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
// Authentication: with the settings' CURVE key pair file, the socket is a
// CURVE server whose ZAP handler admits the keys of the manager's
// authorised-keys folder (re-read at every handshake), and messages are
// taken only from the connection whose key is settings.scanner_key (the
// scanner that began the scan): any other peer's hello, field, end or
// abort is answered FailedPrecondition and changes nothing.
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
#include <vector>

#include <nlohmann/json.hpp>

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
  // "finished". With `first_contact_s` > 0 (recovery of a scan whose
  // writer died), a scan no scanner speaks to within that many seconds is
  // finished at once in `final_state`; a scanner that does speak finishes
  // its scan. REQUIRES: bind() succeeded.
  Result<ProxyResult> run(SlideState final_state, double first_contact_s = 0);

  // Finishes without serving (recovery): the writer drains and finishes.
  Result<FinishReport> finish_now(SlideState state);

  size_t acknowledged() const { return acked_.size(); }

 private:
  // The parts of run() (slide_proxy_run.cpp), one batch at a time:
  //   receive_batch  - messages off the socket, each checked (validate_field)
  //                    and, when it is a new field or the end, appended to
  //                    the spool;
  //   commit_batch   - one spool commit for the batch; only then are the
  //                    batch's keys acknowledged (acked_);
  //   reply_batch    - the replies: acks for what was committed, errors for
  //                    what was not (the scanner sends it again);
  //   hand_off       - committed fields to the writer.
  struct Reply;
  struct RunState;
  Status set_up_curve();
  void warm_up();
  std::vector<Reply> receive_batch(RunState& rs);
  void receive_one(RunState& rs, Reply& r, size_t* batch_bytes);
  void validate_field(RunState& rs, const nlohmann::json& msg, Reply& r, size_t* batch_bytes);
  void spool_end(const std::string& type, const nlohmann::json& seq, Reply& r);
  Status commit_batch(RunState& rs, std::vector<Reply>& batch);
  void reply_batch(std::vector<Reply>& batch, const Status& committed);
  void hand_off(Reply& r);
  void start_finish(RunState& rs, SlideState state);
  void tell_finished(RunState& rs);
  nlohmann::json finished_body(const RunState& rs) const;
  nlohmann::json state_body(const RunState& rs) const;

  struct Impl;
  std::unique_ptr<Impl> impl_;
  ScanSettings settings_;
  Spool* spool_;
  ScanWriter* writer_;
  // key -> checksum of the accepted bytes (0: unknown); only keys whose
  // spool record is committed. Proxy thread only.
  std::map<TileKey, uint64_t> acked_;
  // Keys appended to the spool in the batch being received, not committed yet.
  std::map<TileKey, uint64_t> batch_keys_;
  std::optional<std::string> end_kind_;  // "end" or "abort" once committed
};

}  // namespace vslide::acquire
