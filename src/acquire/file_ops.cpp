#include "vslide/acquire/file_ops.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace vslide::acquire {

namespace fs = std::filesystem;

ssize_t FileOps::pwrite(int fd, const void* data, size_t n, off_t offset) { return ::pwrite(fd, data, n, offset); }
int FileOps::fdatasync(int fd) { return ::fdatasync(fd); }
int FileOps::fsync(int fd) { return ::fsync(fd); }

FileOps* FileOps::posix() {
  static FileOps ops;
  return &ops;
}

namespace {
Status sync_path(const std::string& path, int flags, FileOps* ops, const char* what) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Status::io_error(path + ": open to fsync: " + std::strerror(errno));
  int rc = ops->fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::io_error(path + ": fsync " + what + ": " + std::strerror(err));
  return Status();
}
}  // namespace

Status sync_dir(const std::string& dir, FileOps* ops) {
  return sync_path(dir.empty() ? std::string(".") : dir, O_RDONLY | O_DIRECTORY, ops, "folder");
}

Status sync_file(const std::string& path, FileOps* ops) { return sync_path(path, O_RDONLY, ops, "file"); }

Status create_dirs_durably(const std::string& dir, FileOps* ops) {
  fs::path p = fs::absolute(dir);
  std::vector<fs::path> missing;
  for (fs::path q = p; !q.empty() && !fs::exists(q); q = q.parent_path()) {
    missing.push_back(q);
    if (q == q.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    std::error_code ec;
    if (!fs::create_directory(*it, ec) && ec) return Status::io_error(it->string() + ": create folder: " + ec.message());
    VSLIDE_RETURN_IF_ERROR(sync_dir(it->parent_path().string(), ops));
  }
  return Status();
}

}  // namespace vslide::acquire
