// Process-level harness for the acquisition tests: runs `vslide manager`
// and `vslide scan` as real processes (so that they can be SIGKILLed), asks
// the manager for its state, and checks finished files plane by plane
// against the synthetic scanner.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/testing.h"
#include "vslide/acquire/scanner_client.h"
#include "vslide/catalog/catalog.h"
#include "vslide/core/tile.h"
#include "vslide/simulate/scanner.h"

namespace vslide::testing {

// A child process running the vslide binary; output goes to `log`.
class Proc {
 public:
  // `env`: "NAME=value" entries added to this process's environment.
  Proc(const std::vector<std::string>& args, const std::string& log, const std::vector<std::string>& env = {});
  ~Proc();  // SIGKILLs and reaps it if still running
  pid_t pid() const { return pid_; }
  void kill9();
  // Waits for exit; returns the exit code (128 + signal when killed), or -1 on timeout.
  int wait(double timeout_s);
  bool running();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

int free_port();
std::string read_text(const std::string& path);
// Seconds since the epoch, for deadlines.
double now_s();

// A manager on a free port with its own data folder.
struct ManagerFixture {
  explicit ManagerFixture(const std::string& data_dir, std::vector<std::string> extra = {});
  // Kills the manager and any writer still running in its data folder.
  ~ManagerFixture();
  void start();
  void kill9() { proc_.reset(); }
  // Status reply, or an error when the manager does not answer.
  Result<nlohmann::json> status(double timeout_s = 2);
  // Pid of the writer of the only (or first) running scan; -1 when none.
  pid_t writer_pid();
  std::string slide_id();  // of the first running scan, "" when none
  std::string endpoint, data_dir, catalog, log;
  std::vector<std::string> extra_args;
  std::vector<std::string> env;  // for the manager and the writers it starts
  // With a manager started with CURVE: the client key pair and manager key
  // files status() (and start()'s wait) ask with.
  std::string curve_key_file, manager_key_file;
  std::unique_ptr<Proc> proc_;
};

// The fault layer of tests/acquire/faultfs.c for one folder: a small disk
// (ENOSPC past a byte limit, optionally only for paths containing `match`)
// and a power cut (everything not fsynced is lost). Processes given env()
// run on it; this process is not.
class FaultFs {
 public:
  FaultFs(const std::string& root, const std::string& state_dir);
  // "LD_PRELOAD=...", "VSLIDE_FAULTFS_ROOT=...", ...
  std::vector<std::string> env(const std::string& match = "") const;
  // Bytes the files under the root take now.
  int64_t used() const;
  // Refuse growth beyond `bytes` more than used now (-1: no limit).
  void set_free(int64_t bytes);
  // Records the whole tree as durable (as at a clean boot).
  void sync_all();
  // The power cut: REQUIRES every process using the root killed. Rebuilds
  // the root from what was fsynced; returns a description of what was lost.
  std::string power_cut();

 private:
  void write_space(int64_t limit, int64_t used);
  std::string root_, state_;
};

// Seeds for the fault suites: 1..3, or 1..$VSLIDE_SEEDS (`make durability`).
std::vector<uint64_t> fault_seeds();

// A non-loopback IPv4 address of this machine, "" when it has none.
std::string outside_address();

ScanConfig small_scan(uint64_t seed, int rows = 3, int cols = 4, int channels = 2);
// Arguments of `vslide scan` for this config.
std::vector<std::string> scan_args(const std::string& manager, const ScanConfig& c);

// Keys of an ack log ("row col channel z t" lines).
std::vector<TileKey> read_ack_log(const std::string& path);
// Every key of the config's scan, in order.
std::vector<TileKey> all_keys(const ScanConfig& c);

// The first running scan's id, waiting up to timeout_s; "" when none.
std::string wait_slide_id(ManagerFixture& m, double timeout_s);
Result<SlideRecord> record_of(const ManagerFixture& m, const std::string& id);
// Waits until the catalog says the slide is no longer scanning.
Result<SlideRecord> wait_final(const ManagerFixture& m, const std::string& id, double timeout_s);
// Waits until the ack log has n lines; returns how many it has.
size_t wait_acks(const std::string& ack_log, size_t n, double timeout_s);

// Opens the slide and checks that each key reads back equal to the
// simulator's rendering; returns a description of the first mismatch, "" when all match.
std::string check_planes(const std::string& path, const ScanConfig& c, const std::vector<TileKey>& keys);

}  // namespace vslide::testing
