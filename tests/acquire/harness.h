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
#include "vslide/core/tile.h"
#include "vslide/simulate/scanner.h"

namespace vslide::testing {

// A child process running the vslide binary; output goes to `log`.
class Proc {
 public:
  Proc(const std::vector<std::string>& args, const std::string& log);
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
  std::unique_ptr<Proc> proc_;
};

ScanConfig small_scan(uint64_t seed, int rows = 3, int cols = 4, int channels = 2);
// Arguments of `vslide scan` for this config.
std::vector<std::string> scan_args(const std::string& manager, const ScanConfig& c);

// Keys of an ack log ("row col channel z t" lines).
std::vector<TileKey> read_ack_log(const std::string& path);
// Every key of the config's scan, in order.
std::vector<TileKey> all_keys(const ScanConfig& c);

// Opens the slide and checks that each key reads back equal to the
// simulator's rendering; returns a description of the first mismatch, "" when all match.
std::string check_planes(const std::string& path, const ScanConfig& c, const std::vector<TileKey>& keys);

}  // namespace vslide::testing
