// A program that leaks a vslide object on purpose. Under the sanitizer build
// LeakSanitizer must report it and fail the process: the proof that the
// suppressions in lsan.supp hide only third-party libraries, never vslide.
#include <cstdio>
#include <thread>

#include "vslide/core/image.h"

int main() {
  // Leaked on a thread that has ended, so that no stale copy of the pointer
  // on the main thread's stack (which LeakSanitizer scans at exit) keeps it
  // reachable.
  std::thread([] {
    auto* leaked = new vslide::Image16(64, 64);
    std::printf("leaked an Image16 of %zu pixels\n", leaked->pixel_count());
  }).join();
  return 0;
}
