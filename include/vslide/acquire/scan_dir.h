// The scan folder: everything a slide writer process needs to (re)start a
// scan, on disk, so that any process may die and another pick the scan up.
//
//   DATA/.scans/SLIDE_ID/scan.json       ScanSettings (written once, atomically)
//   DATA/.scans/SLIDE_ID/writer.lock     flock(2)ed by the live slide writer
//   DATA/.scans/SLIDE_ID/writer.log      the writer's stderr
//   DATA/.scans/SLIDE_ID/proxy.endpoint  the live proxy's tcp:// endpoint
//   DATA/.scans/SLIDE_ID/finished        the final state, once the file is finished
//   DATA/.scans/SLIDE_ID/abandoned       the manager gave up: finish as failed
//   SPOOL/SLIDE_ID/spool-NNNNNN.log      the proxy's spool (SPOOL defaults to DATA/.scans)
//
// Thread-safety: plain functions; the lock is an OS file lock, so it is
// released when its holder dies, however it dies.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "vslide/acquire/protocol.h"
#include "vslide/acquire/spool.h"

namespace vslide::acquire {

struct ScanSettings {
  std::string slide_id;
  std::string slide_path;              // the HDF5 file
  std::string catalog_url;
  std::string spool_dir;
  std::string spare_dir;  // retired spool segment files shared between scans ("" = none)
  std::string bind_host = "127.0.0.1"; // the proxy binds tcp://bind_host:* (a free port)
  ScanSpec spec;                       // as the scanner described it (slide_id set to ours)
  CodecSpec file_codec;                // codec of the slide file
  uint64_t max_buffer_bytes = 2048ull << 20;
  uint64_t spool_capacity_bytes = 64ull << 30;
  SyncMode sync = SyncMode::kProcess;
  int writer_threads = 2;
  double idle_timeout_s = 0;           // finish as failed after this long without a message; 0 = never
  double recover_wait_s = 10;          // recover mode: wait this long for the scanner to come back
  double created_unix_s = 0;
  // CURVE (docs/ACQUISITION.md, "Authentication"): the manager's key pair
  // file and folder of authorised scanner keys, both absolute, and the key of
  // the scanner that began the scan, the only peer the proxy takes messages
  // from. All empty: the proxy is plaintext and takes any peer.
  std::string curve_secret_key_file;
  std::string authorized_keys_dir;
  std::string scanner_key;
};
nlohmann::json scan_settings_to_json(const ScanSettings& s);
Result<ScanSettings> scan_settings_from_json(const nlohmann::json& j);

std::string scans_root(const std::string& data_dir);
std::string scan_dir_for(const std::string& data_dir, const std::string& slide_id);

// Writes scan.json through a temporary file, fsync and rename, and fsyncs
// the folders it created (all of it survives a power cut).
Status write_scan_settings(const std::string& scan_dir, const ScanSettings& s);
Result<ScanSettings> read_scan_settings(const std::string& scan_dir);

// Small text files in the scan folder, replaced atomically and durably
// (temporary file, fsync, rename, fsync of the folder), readable by their
// owner only (mode 0600: scan.json holds the catalog URL with any password).
Status write_scan_file(const std::string& scan_dir, const std::string& name, const std::string& text);
std::optional<std::string> read_scan_file(const std::string& scan_dir, const std::string& name);

// Written by the manager when it gives up on a scan (its writer died too
// often): the last writer finishes the slide as failed.
inline constexpr const char* kAbandonedMarker = "abandoned";

// The final state, when the writer finished the slide.
std::optional<SlideState> finished_state(const std::string& scan_dir);

// The folders under DATA/.scans, sorted.
std::vector<std::string> list_scan_dirs(const std::string& data_dir);

// The slide writer's exclusive lock on a scan folder. Unavailable when a live
// process holds it. Released by the destructor or by the holder's death.
class WriterLock {
 public:
  static Result<WriterLock> acquire(const std::string& scan_dir);
  WriterLock(WriterLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  WriterLock& operator=(WriterLock&& o) noexcept;
  ~WriterLock();

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// True when a live process holds the scan's writer lock.
bool writer_alive(const std::string& scan_dir);

}  // namespace vslide::acquire
