// WriteAside: how the verbs that add a derived layer to an existing slide
// (pyramid, detect) never damage what was there. The slide is copied to a
// temporary file next to it (copy_file_range: a reflink or an in-kernel
// copy), the layer is written into the copy, and only when the copy is
// complete, flushed and fsynced does it replace the original by rename(2)
// (then the folder is fsynced). A failure at any point (disk full, a crash,
// a kill) leaves the original untouched and the temporary file removed (or,
// after a crash, a stale `.vslide-aside-*` file that the next run replaces).
//
// A reader that has the original open (a tile server's mapping) keeps
// reading the old inode safely; it sees the new layer when it reopens.
//
// Thread-safety: one object per verb run, one thread.
#pragma once

#include <string>

#include "vslide/core/status.h"

namespace vslide::cli {

// Ends the process with `code` at once, stdio flushed, skipping destructors
// and HDF5's own close at exit (see WriteAside::abandon).
[[noreturn]] void exit_without_closing(int code);

class WriteAside {
 public:
  // Copies `path` to its temporary sibling. ResourceExhausted when the disk
  // cannot hold the copy (the original is untouched).
  static Result<WriteAside> begin(const std::string& path);
  WriteAside(WriteAside&& o) noexcept : path_(std::move(o.path_)), temp_(std::move(o.temp_)) { o.temp_.clear(); }
  WriteAside& operator=(WriteAside&&) = delete;
  ~WriteAside();  // removes the temporary file unless committed

  // Where to write the layer.
  const std::string& temp_path() const { return temp_; }
  // REQUIRES: every handle on temp_path() closed. fsyncs it, renames it over
  // the original and fsyncs the folder.
  Status commit();
  // After a failed write: removes the copy and ends the process with `code`
  // without closing the HDF5 file (HDF5 1.10's close after a failed write,
  // e.g. ENOSPC, can crash; the copy is discarded anyway). Messages must be
  // printed before.
  [[noreturn]] void abandon(int code);

 private:
  WriteAside(std::string path, std::string temp) : path_(std::move(path)), temp_(std::move(temp)) {}
  std::string path_, temp_;
};

}  // namespace vslide::cli
