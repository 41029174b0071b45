// Runs work items on a few threads with a progress bar (CLI helper).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "progress.h"
#include "vslide/core/status.h"

namespace vslide::cli {

// Calls fn(i) for i in [0, n) on `threads` threads (0 = one per core).
// Stops handing out work after the first error when stop_on_error, and
// returns that error; otherwise every item runs and the first error returns.
inline Status parallel_for(size_t n, unsigned threads, const std::function<Status(size_t)>& fn,
                           ProgressBar* progress = nullptr, bool stop_on_error = true) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = unsigned(std::min<size_t>(threads, std::max<size_t>(n, 1)));
  std::atomic<size_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  auto worker = [&] {
    for (;;) {
      if (stop_on_error && failed.load()) return;
      size_t i = next++;
      if (i >= n) return;
      Status s = fn(i);
      if (!s.ok()) {
        std::lock_guard lock(mu);
        if (first.ok()) first = s;
        failed = true;
      }
      size_t d = ++done;
      if (progress != nullptr) {
        std::lock_guard lock(mu);
        progress->update(d);
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (progress != nullptr) progress->finish();
  return first;
}

}  // namespace vslide::cli
