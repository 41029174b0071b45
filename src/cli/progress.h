// A progress bar on stderr for anything that may take more than a second.
// It stays silent for the first second, when stderr is not a terminal (it
// then prints one line every ~5 s instead), or when disabled (--json).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vslide::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total, bool enabled = true);
  ~ProgressBar();

  // Sets the count done so far and an optional short note ("312 MB/s").
  void update(uint64_t done, const std::string& note = "");
  void add(uint64_t n = 1, const std::string& note = "") { update(done_ + n, note); }
  // Draws the final state (when anything was drawn) and ends the line.
  void finish();

 private:
  void draw(bool final);

  std::string label_;
  uint64_t total_, done_ = 0;
  bool enabled_, tty_, drawn_ = false, finished_ = false;
  std::string note_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace vslide::cli
