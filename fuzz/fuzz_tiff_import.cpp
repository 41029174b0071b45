// TIFF import: any bytes as a .tif file. An error or an image whose size the
// file could hold, never an allocation the file does not justify (run with
// -rss_limit_mb) and never a crash.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "vslide/storage/tiff_io.h"

using namespace vslide;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                                  "/vslide-fuzz-tiff-" + std::to_string(::getpid()) + ".tif";
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) return 0;
  const bool written = ::write(fd, data, size) == ssize_t(size);
  ::close(fd);
  if (!written) return 0;
  if (auto dir = TiffDirectory::open(path); dir.ok()) {
    for (int page = 0; page < 4; ++page) (void)read_tiff_page(*dir, page);
  }
  (void)read_tiff16(path);
  return 0;
}
