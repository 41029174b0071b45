// ScannerClient: the microscope's side of the protocol, what `vslide scan`
// and `vslide bench acquire` (and a real driver) use to stream a scan.
//
// It asks the manager to begin (or resume) a scan, says hello to the scan's
// slide proxy to learn which planes are already acknowledged, streams the
// others with up to `window` fields in flight (a field is forgotten only
// when acknowledged), retries on "busy" (back-pressure), and when the proxy
// falls silent for reply_timeout_s it asks the manager for the scan's
// current proxy (a restarted writer), reconnects, says hello again and
// resends whatever is not acknowledged. It then sends "end" and waits for the
// finished file.
//
// Ownership: owns its ZeroMQ context and sockets. Thread-safety: one thread.
// Failure modes: Unavailable when the manager (or, past reconnect_timeout_s,
// any proxy) cannot be reached; ResourceExhausted when the server stores
// nothing for stall_timeout_s (disk full), saying how many planes are
// missing and how to resume; IOError when the ack log fails; per-field rejections (wrong size, duplicate
// with other pixels, ...) do not stop the scan: they are counted, and the
// first few messages kept, in the ScanReport.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vslide/acquire/protocol.h"

namespace vslide::acquire {

struct ScannerOptions {
  std::string manager = "tcp://127.0.0.1:5560";
  int window = 16;                  // fields in flight
  double fps = 0;                   // fields (planes) per second; 0 = as fast as possible
  double reply_timeout_s = 3;       // silence that means "the proxy died"
  double reconnect_timeout_s = 60;  // give up after this long without any proxy
  double finish_timeout_s = 600;    // wait this long for the finished file
  double stall_timeout_s = 60;      // give up when nothing is stored (busy: disk or spool full) this long
  // Appends "row col channel z t" per acknowledged plane. A file that cannot
  // be opened fails begin()/resume(); a line that cannot be written fails stream().
  std::string ack_log;
  // CURVE (a manager started with --curve-secret-key): the scanner's own key
  // pair file (`vslide keygen`; its public half must be in the manager's
  // authorised-keys folder) and the manager's public key file, which is also
  // its proxies' key. Both or neither; a bad file fails every call.
  std::string curve_secret_key_file;
  std::string manager_key_file;
};

struct ScanTarget {
  std::string slide_id;
  std::string proxy;
  std::string path;
  bool finished = false;  // resume of a scan that was already finished
  std::string state;      // its final state then
};

// One plane to send, in acquisition order.
struct PlaneToSend {
  FieldOfView field;
  TileKey key;
};

// Supplies a plane's encoded pixels (codec = the ScanSpec's codec).
using FrameFn = std::function<Result<std::shared_ptr<const std::vector<uint8_t>>>(size_t index)>;

struct ScanProgress {
  size_t sent = 0, acked = 0, total = 0;
  uint64_t backlog_fields = 0, buffered_bytes = 0, spool_bytes = 0;
  uint64_t raw_bytes_acked = 0;
};
using ProgressFn = std::function<void(const ScanProgress&)>;

struct ScanReport {
  std::string slide_id, path, state;
  size_t planes_acked = 0;           // by this client (excludes those acked before a resume)
  size_t planes_skipped = 0;         // already acknowledged before this client started
  size_t rejected = 0;               // error replies
  std::vector<std::string> errors;   // the first rejections' messages
  size_t busy_replies = 0, reconnects = 0;
  int64_t planes_in_file = 0;
  size_t planes_total = 0;           // planes of the scan
  size_t planes_missing = 0;         // of those, not in the finished slide
  double seconds = 0;                // first send to last ack
  double finish_seconds = 0;         // last ack to finished file
  std::vector<double> ack_latency_ms;  // per acknowledged plane, send -> ack
};

class ScannerClient {
 public:
  explicit ScannerClient(ScannerOptions options);
  ~ScannerClient();

  Result<ScanTarget> begin(const ScanSpec& spec);
  Result<ScanTarget> resume(const std::string& slide_id);
  // Any request to the manager ({"type":"status"}, ...); returns the reply.
  Result<nlohmann::json> ask_manager(const nlohmann::json& request, double timeout_s);

  // Streams the planes not yet acknowledged, ends the scan, waits for the file.
  Result<ScanReport> stream(const ScanTarget& target, const ScanSpec& spec, const std::vector<PlaneToSend>& planes,
                            const FrameFn& frame, const ProgressFn& progress = nullptr);
  // Sends "abort" (the slide is finished as failed).
  Status abort(const ScanTarget& target);

 private:
  Status log_ack(const TileKey& key);

  struct Impl;
  ScannerOptions options_;
  Status ack_log_status_;  // why the ack log could not be opened
  Status curve_status_;    // why the CURVE key files could not be read
  std::unique_ptr<Impl> impl_;
};

}  // namespace vslide::acquire
