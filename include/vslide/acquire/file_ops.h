// FileOps: the few file-system calls the acquisition path's durability
// rests on, behind a small interface a test can replace (leveldb's Env):
// a test makes fdatasync fail once, or a write run out of space, and checks
// that nothing unstored is acknowledged and that a retry is stored.
//
// The process-level fault tests use an LD_PRELOAD shim instead
// (tests/acquire/faultfs.c: a small disk and a simulated power cut for every
// process of the pipeline, HDF5 and SQLite included).
//
// Thread-safety: the POSIX implementation is stateless; a test's
// implementation says its own.
#pragma once

#include <sys/types.h>

#include <string>

#include "vslide/core/status.h"

namespace vslide::acquire {

class FileOps {
 public:
  virtual ~FileOps() = default;
  // As the POSIX calls: -1 and errno on failure.
  virtual ssize_t pwrite(int fd, const void* data, size_t n, off_t offset);
  virtual int fdatasync(int fd);
  virtual int fsync(int fd);

  // The process-wide POSIX implementation.
  static FileOps* posix();
};

// fsyncs a folder, so that the names created, renamed or removed in it
// survive a power cut. IOError naming the folder on failure.
Status sync_dir(const std::string& dir, FileOps* ops = FileOps::posix());

// fsyncs a file by path (e.g. the HDF5 slide, whose descriptor HDF5 owns).
Status sync_file(const std::string& path, FileOps* ops = FileOps::posix());

// Creates `dir` and any missing parents, fsyncing each parent that gained
// an entry (the new folders survive a power cut).
Status create_dirs_durably(const std::string& dir, FileOps* ops = FileOps::posix());

}  // namespace vslide::acquire
