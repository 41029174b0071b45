#include "write_aside.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace vslide::cli {

namespace fs = std::filesystem;

namespace {

Status errno_status(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT) return Status::resource_exhausted(what + ": disk full (" + std::strerror(err) + ")");
  return Status::io_error(what + ": " + std::strerror(err));
}

// In-kernel copy (a reflink where the file system shares extents).
Status copy_contents(int in, int out, uint64_t size, const std::string& what) {
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL) && done == 0) break;  // plain copy below
    if (n < 0) return errno_status(what, errno);
    if (n == 0) return Status::io_error(what + ": the file shrank while it was copied");
    done += uint64_t(n);
  }
  std::vector<char> buf(1 << 20);
  while (done < size) {
    ssize_t r = ::pread(in, buf.data(), buf.size(), off_t(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return errno_status(what + ": read", r < 0 ? errno : EIO);
    for (ssize_t w = 0; w < r;) {
      ssize_t n = ::pwrite(out, buf.data() + w, size_t(r - w), off_t(done + uint64_t(w)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status(what, errno);
      w += n;
    }
    done += uint64_t(r);
  }
  return Status();
}

}  // namespace

Result<WriteAside> WriteAside::begin(const std::string& path) {
  const fs::path p(path);
  const std::string temp = (p.parent_path() / ("." + p.filename().string() + ".vslide-aside")).string();
  int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return errno_status(path + ": open", errno);
  struct stat st {};
  if (::fstat(in, &st) != 0) {
    int err = errno;
    ::close(in);
    return errno_status(path + ": fstat", err);
  }
  ::unlink(temp.c_str());  // a stale copy from a run that crashed
  int out = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0777);
  if (out < 0) {
    int err = errno;
    ::close(in);
    return errno_status(temp + ": create", err);
  }
  WriteAside aside(path, temp);
  Status copied = copy_contents(in, out, uint64_t(st.st_size), "copying " + path + " to " + temp);
  ::close(in);
  if (::close(out) != 0 && copied.ok()) copied = errno_status(temp + ": close", errno);
  if (!copied.ok()) return copied.with_context("the slide is untouched");
  return aside;
}

void exit_without_closing(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

void WriteAside::abandon(int code) {
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
  exit_without_closing(code);
}

WriteAside::~WriteAside() {
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

Status WriteAside::commit() {
  int fd = ::open(temp_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status(temp_ + ": open", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return errno_status(temp_ + ": fsync", err);
  if (::rename(temp_.c_str(), path_.c_str()) != 0) return errno_status(path_ + ": rename", errno);
  temp_.clear();
  std::string dir = fs::path(path_).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    rc = ::fsync(dfd);
    err = errno;
    ::close(dfd);
    if (rc != 0) return errno_status(dir + ": fsync", err);
  }
  return Status();
}

}  // namespace vslide::cli
