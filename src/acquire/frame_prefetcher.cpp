#include "vslide/acquire/frame_prefetcher.h"

#include <algorithm>

namespace vslide::acquire {

FramePrefetcher::FramePrefetcher(size_t count, MakeFn make, int threads, size_t lookahead)
    : make_(std::move(make)), count_(count), lookahead_(std::max<size_t>(1, lookahead)) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { worker(); });
}

FramePrefetcher::~FramePrefetcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void FramePrefetcher::worker() {
  for (;;) {
    size_t index;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || (next_ < count_ && next_ < consumer_ + lookahead_); });
      if (stop_) return;
      index = next_++;
    }
    Result<Bytes> frame = make_(index);
    {
      std::lock_guard lock(mu_);
      if (index >= consumer_) ready_.emplace(index, std::move(frame));
    }
    cv_.notify_all();
  }
}

Result<FramePrefetcher::Bytes> FramePrefetcher::get(size_t index) {
  if (index >= count_) return Status::out_of_range("frame " + std::to_string(index) + " of " + std::to_string(count_));
  std::unique_lock lock(mu_);
  consumer_ = std::max(consumer_, index);
  ready_.erase(ready_.begin(), ready_.lower_bound(index));  // frames skipped by the sender
  if (next_ < index) next_ = index;
  cv_.notify_all();
  cv_.wait(lock, [&] { return ready_.count(index) > 0; });
  auto it = ready_.find(index);
  Result<Bytes> out = std::move(it->second);
  ready_.erase(it);
  consumer_ = index + 1;
  cv_.notify_all();
  return out;
}

}  // namespace vslide::acquire
