#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace vslide::cli {

ProgressBar::ProgressBar(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(uint64_t done, const std::string& note) {
  done_ = done;
  if (!note.empty()) note_ = note;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - start_ < std::chrono::seconds(1)) return;
  auto interval = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - last_draw_ < interval && done_ < total_) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::draw(bool final) {
  double frac = total_ > 0 ? double(done_) / double(total_) : 1.0;
  if (frac > 1) frac = 1;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (tty_) {
    constexpr int kWidth = 30;
    int fill = int(frac * kWidth);
    std::string bar(size_t(fill), '#');
    bar.append(size_t(kWidth - fill), '.');
    std::fprintf(stderr, "\r%s [%s] %llu/%llu %5.1f%% %.1fs %s\033[K", label_.c_str(), bar.c_str(),
                 (unsigned long long)done_, (unsigned long long)total_, frac * 100, secs, note_.c_str());
    if (final) std::fprintf(stderr, "\n");
  } else {
    std::fprintf(stderr, "%s: %llu/%llu (%.0f%%) %.1fs %s\n", label_.c_str(), (unsigned long long)done_,
                 (unsigned long long)total_, frac * 100, secs, note_.c_str());
  }
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_ && drawn_) draw(true);
}

}  // namespace vslide::cli
