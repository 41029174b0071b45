// SlideManager: the long-lived process of a slide server. A scanner asks it
// to begin a scan; it allocates the slide id and file, writes the scan
// folder, catalogues the slide as "scanning", starts one slide writer
// process for the scan (fork/exec of `vslide slide-writer`) and answers with
// the endpoint of that scan's slide proxy. Several scans run at once, each in
// its own writer process, so a batch never waits for the previous file.
//
// Supervision: a writer that dies before finishing is restarted in "resume"
// mode (it replays its spool; the scanner reconnects and sends what is
// missing), up to max_restarts times. Writers run in their own session, so
// they outlive the manager; a restarted manager adopts the live ones (their
// scan folder's lock is held) and starts a "recover" writer for every
// unfinished scan without one: it serves a scanner that is still alive for
// recover_wait_s (the scan then goes on), else completes the file as
// "recovered". A scan whose writer died more than max_restarts times gets
// one last writer that finishes the file as "failed".
//
// Ownership: owns its ZeroMQ socket and its children's bookkeeping.
// Thread-safety: run() on one thread; request_stop() from any thread or a
// signal handler. Failure modes: start() fails with IOError when the data
// folder or the socket cannot be set up, Unavailable when the catalog
// cannot be opened; bad requests get error replies, never a crash.
// Limits: requests above 1 MB are dropped by ZeroMQ (ZMQ_MAXMSGSIZE), at
// most max_scans scans run at once, and `shutdown` is taken only from an
// authenticated (CURVE) peer or a loopback/ipc one.
//
// Authentication: with curve_secret_key_file and authorized_keys_dir the
// socket is a CURVE server (ZAP domain "vslide-scanners") that admits only
// the public keys in that folder, re-read at every handshake (a key removed
// is refused from the next connection on); each scan's proxy uses the same
// key pair and folder and takes messages only from the key that began the
// scan, and resume_scan is answered only to that key.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <map>
#include <memory>
#include <string>

#include "vslide/acquire/scan_dir.h"
#include "vslide/acquire/writer_process.h"
#include "vslide/catalog/catalog.h"

namespace vslide::acquire {

struct ManagerOptions {
  std::string bind = "tcp://127.0.0.1:5560";
  std::string data_dir;
  std::string catalog_url;     // empty: sqlite://DATA/catalog.sqlite
  std::string spool_dir;       // empty: the scan folder itself
  uint64_t max_buffer_bytes = 2048ull << 20;
  uint64_t spool_capacity_bytes = 64ull << 30;
  SyncMode sync = SyncMode::kProcess;
  CodecSpec file_codec = CodecSpec::fast_default();
  int writer_threads = 2;
  double idle_timeout_s = 3600;  // a writer finishes a silent scan as failed after this; 0 = never
  int max_restarts = 5;
  double recover_wait_s = 10;  // a recovering writer waits this long for a live scanner
  int max_scans = 8;           // begin_scan is refused while this many scans run (0 = no cap)
  std::string writer_binary;   // the vslide executable; empty: /proc/self/exe
  // CURVE: the manager's key pair file (`vslide keygen`) and the folder of
  // authorised scanner public key files. Both or neither.
  std::string curve_secret_key_file;
  std::string authorized_keys_dir;
};

class SlideManager {
 public:
  static Result<std::unique_ptr<SlideManager>> start(const ManagerOptions& options);
  ~SlideManager();

  // Serves requests until a "shutdown" request or request_stop().
  Status run();
  void request_stop() { stop_ = true; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  struct ScanEntry {
    std::string slide_id, scan_dir;
    pid_t pid = -1;
    bool child = false;   // false: adopted from a previous manager
    WriterMode mode = WriterMode::kNew;
    int restarts = 0;
    bool abandoned = false;  // given up: its last writer finishes it as failed
    // Set when the writer left for a storage failure: restart it then.
    std::optional<std::chrono::steady_clock::time_point> restart_at;
    int storage_restarts = 0;
    std::string scanner_key;  // CURVE key of the scanner that began it ("" without CURVE)
  };
  struct Impl;

  explicit SlideManager(const ManagerOptions& options);
  Status recover_scans();
  Result<std::string> spawn_writer(ScanEntry& entry, WriterMode mode, bool wait_ready);
  void supervise();
  void on_writer_gone(ScanEntry& entry, bool permanent);
  // peer_key: the requester's CURVE key, "" without CURVE.
  nlohmann::json handle(const nlohmann::json& request, const std::string& peer_key);
  nlohmann::json begin_scan(const nlohmann::json& request, const std::string& peer_key);
  nlohmann::json resume_scan(const nlohmann::json& request, const std::string& peer_key);
  nlohmann::json status_reply() const;

  ManagerOptions options_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Catalog> catalog_;
  std::string endpoint_;
  std::map<std::string, ScanEntry> scans_;  // by slide id; run() thread only
  std::atomic<bool> stop_{false};
};

}  // namespace vslide::acquire
