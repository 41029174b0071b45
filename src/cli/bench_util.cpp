#include "bench_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "progress.h"
#include "vslide/simulate/scanner.h"

namespace vslide::cli {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p * double(v.size() - 1) + 0.5;
  return v[std::min(v.size() - 1, size_t(rank))];
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

Status evict_from_page_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::io_error(path + ": open to evict from the page cache: " + std::strerror(errno));
  Status s;
  // Dirty pages cannot be dropped: write them first.
  if (::fdatasync(fd) != 0) s = Status::io_error(path + ": fdatasync: " + std::strerror(errno));
  if (const int rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); rc != 0 && s.ok()) {
    s = Status::io_error(path + ": posix_fadvise(DONTNEED): " + std::strerror(rc));
  }
  ::close(fd);
  return s;
}

double resident_fraction(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st {};
  double out = -1;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      const size_t page = size_t(::sysconf(_SC_PAGESIZE));
      const size_t pages = (size_t(st.st_size) + page - 1) / page;
      std::vector<unsigned char> vec(pages);
      if (::mincore(p, size_t(st.st_size), vec.data()) == 0) {
        size_t in = 0;
        for (unsigned char c : vec) in += c & 1;
        out = double(in) / double(pages);
      }
      ::munmap(p, size_t(st.st_size));
    }
  }
  ::close(fd);
  return out;
}

Status write_scanner_planes(const SyntheticScanner& scanner, SlideWriter& slide, int threads, bool quiet) {
  const ScanConfig& config = scanner.config();
  const auto& fields = scanner.fields();
  const size_t n = fields.size() * size_t(config.channels);
  ProgressBar bar("bench slide", n, !quiet);
  std::atomic<size_t> next{0}, done{0};
  std::mutex mu;
  Status first;
  auto worker = [&] {
    Image16 img(config.tile_width, config.tile_height);
    for (size_t i; (i = next++) < n;) {
      const auto& f = fields[i / size_t(config.channels)];
      const TileKey key{f.row, f.col, int32_t(i % size_t(config.channels))};
      scanner.render_into(key, img.data());
      Status s = slide.write_plane(key, img.view());
      std::lock_guard lock(mu);
      if (!s.ok() && first.ok()) first = s;
      bar.update(++done);
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < std::max(1, threads); ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  bar.finish();
  return first;
}

}  // namespace vslide::cli
