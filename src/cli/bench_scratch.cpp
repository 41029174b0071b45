#include "bench_scratch.h"

#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <vector>

namespace vslide::cli {

Result<BenchScratch> BenchScratch::create(const std::string& parent_in, const std::string& name) {
  std::string parent = parent_in;
  if (parent.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    parent = tmp && *tmp ? tmp : "/tmp";
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(parent, ec)) {
    return Status::invalid_argument("--dir " + parent + ": not an existing folder (the bench works in a fresh "
                                    "subfolder of it and never creates or removes the folder itself)");
  }
  std::string tmpl = (std::filesystem::path(parent) / ("vslide-bench-" + name + "-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    return Status::io_error("--dir " + parent + ": cannot create a scratch folder in it: " +
                            std::generic_category().message(errno));
  }
  return BenchScratch(std::filesystem::path(buf.data()));
}

BenchScratch::~BenchScratch() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void mark_bench_slide(SlideHeader* header, const std::string& bench) {
  header->attributes[kBenchSlideAttribute] = bench;
}

bool is_bench_slide(const SlideHeader& header, const std::string& bench) {
  auto it = header.attributes.find(kBenchSlideAttribute);
  return it != header.attributes.end() && it->second == bench;
}

}  // namespace vslide::cli
