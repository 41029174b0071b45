// Scratch space for `vslide bench ...`: a fresh folder the bench creates
// inside the one the user names (--dir), and the only thing it removes.
//
// A user who points a bench at a folder of their own keeps every file in it:
// the bench works in DIR/vslide-bench-NAME-XXXXXX (mkdtemp, so never an
// existing folder) and removes that folder, recursively, when done. DIR
// itself must already exist; the bench never creates or removes it.
//
// Bench slides carry the header attribute kBenchSlideAttribute so that a
// bench that reuses a slide between runs (bench render --slide) can tell its
// own file from a user's and refuse to write to the latter.
#pragma once

#include <filesystem>
#include <string>
#include <utility>

#include "vslide/core/slide_header.h"
#include "vslide/core/status.h"

namespace vslide::cli {

inline constexpr const char* kBenchSlideAttribute = "vslide_bench";

class BenchScratch {
 public:
  // Creates PARENT/vslide-bench-NAME-XXXXXX. PARENT empty: $TMPDIR, else /tmp.
  // InvalidArgument when PARENT is not an existing folder.
  static Result<BenchScratch> create(const std::string& parent, const std::string& name);
  BenchScratch(BenchScratch&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  BenchScratch& operator=(BenchScratch&& o) noexcept {
    std::swap(path_, o.path_);
    return *this;
  }
  BenchScratch(const BenchScratch&) = delete;
  ~BenchScratch();  // removes the folder it created, nothing else

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  explicit BenchScratch(std::filesystem::path p) : path_(std::move(p)) {}
  std::filesystem::path path_;
};

// Marks a header as a bench slide's (`bench` names the benchmark).
void mark_bench_slide(SlideHeader* header, const std::string& bench);
// True when the header says the slide was made by `vslide bench <bench>`.
bool is_bench_slide(const SlideHeader& header, const std::string& bench);

}  // namespace vslide::cli
