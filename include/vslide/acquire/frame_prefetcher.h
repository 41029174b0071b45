// FramePrefetcher: makes a scanner's frames (render + compress, or just
// compress) on worker threads ahead of the sender, so that the camera side
// of `vslide scan` runs at the speed of all cores, not of one.
//
// Frames are requested in increasing index order (indices may be skipped:
// planes a resumed scan need not send); workers stay at most `lookahead`
// frames ahead of the last request. Ownership: owns its threads.
// Thread-safety: get() from one consumer thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "vslide/core/status.h"

namespace vslide::acquire {

class FramePrefetcher {
 public:
  using Bytes = std::shared_ptr<const std::vector<uint8_t>>;
  using MakeFn = std::function<Result<Bytes>(size_t index)>;

  FramePrefetcher(size_t count, MakeFn make, int threads, size_t lookahead);
  ~FramePrefetcher();

  // The frame at `index`; waits for it. REQUIRES: index >= every earlier request.
  Result<Bytes> get(size_t index);

 private:
  void worker();

  MakeFn make_;
  size_t count_, lookahead_;
  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  size_t next_ = 0;      // next index a worker takes
  size_t consumer_ = 0;  // lowest index still wanted
  bool stop_ = false;
  std::map<size_t, Result<Bytes>> ready_;
  std::vector<std::thread> threads_;
};

}  // namespace vslide::acquire
