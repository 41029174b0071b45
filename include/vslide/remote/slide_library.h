// SlideLibrary: the slides one tile dealer serves, by id.
//
// Slides come from files given up front (add_file: served under the slide id
// in their header and under the file's stem, "scan.h5" -> "scan") and, for
// ids not known yet, from a resolver that maps an id to a file path (the
// catalog, wired in by `vslide serve --catalog URL`). Each file is opened once
// and shared by every worker thread: SlideSource reads are thread-safe.
//
// A slide opened from a file follows the file: find() compares the path's
// identity (device, inode, size, modification time) with the one it opened,
// one stat() per lookup, and when a writer has replaced the file (`vslide
// pyramid` and `detect` write a copy and rename it over the slide) it opens
// the new file and serves it from then on; requests in flight finish on the
// old one, whose mapping stays valid (the old inode lives until closed). A
// writer cannot append in place while the file is served: the server's open
// holds HDF5's shared file lock, so the writer's open fails.
//
// Thread-safety: every method is safe from many threads at once; lookups of
// known ids take a shared lock only. Failure modes: find() returns NotFound
// for an id nobody knows and the open error (naming the file) when the
// resolver's file cannot be opened.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "vslide/core/slide_source.h"

namespace vslide::remote {

class SlideLibrary {
 public:
  // Maps a slide id to a file path; NotFound when the id is unknown.
  using Resolver = std::function<Result<std::string>(const std::string& slide_id)>;
  // Opens a file as a slide (Hdf5Slide::open by default; tests may pass
  // their own). Must return a SlideSource safe for concurrent reads.
  using Opener = std::function<Result<std::shared_ptr<SlideSource>>(const std::string& path)>;

  SlideLibrary();
  explicit SlideLibrary(Opener opener);

  // Opens `path` now; fails when it cannot be opened or its id is taken by
  // another file.
  Status add_file(const std::string& path);
  // Serves an already-open slide under its header's id (and `alias` if set).
  Status add_source(std::shared_ptr<SlideSource> slide, const std::string& alias = "");
  void set_resolver(Resolver resolver);

  Result<std::shared_ptr<SlideSource>> find(const std::string& slide_id) const;

  struct Entry {
    std::string slide_id;
    std::string path;  // describe() of the source
    std::shared_ptr<SlideSource> slide;
  };
  // Slides opened so far (one entry per slide, not per alias), by id.
  std::vector<Entry> list() const;

 private:
  // REQUIRES: mutex_ held exclusively. const because find() opens slides lazily.
  Status add_locked(std::shared_ptr<SlideSource> slide, const std::string& alias) const;
  struct FileIdentity {
    std::string path;
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileIdentity&) const = default;
  };
  static bool identify(const std::string& path, FileIdentity* out);
  // The slide reopened when its file was replaced since it was opened; `slide` otherwise.
  std::shared_ptr<SlideSource> follow_file(std::shared_ptr<SlideSource> slide) const;

  Opener opener_;
  Resolver resolver_;
  mutable std::shared_mutex mutex_;
  // guarded by mutex_: id or alias -> slide; primary ids in `primary_`.
  mutable std::map<std::string, std::shared_ptr<SlideSource>> by_name_;
  mutable std::map<std::string, std::shared_ptr<SlideSource>> primary_;
  // guarded by mutex_: the file each file-backed slide was opened from.
  mutable std::map<const SlideSource*, FileIdentity> files_;
};

}  // namespace vslide::remote
