// FaultFs: the test side of tests/acquire/faultfs.c (see harness.h).
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "harness.h"

namespace vslide::testing {

namespace fs = std::filesystem;

FaultFs::FaultFs(const std::string& root, const std::string& state_dir) : root_(root), state_(state_dir) {
  fs::create_directories(root_);
  fs::create_directories(fs::path(state_) / "shadow");
  fs::create_directories(fs::path(state_) / "dirs");
  write_space(-1, used());
  sync_all();
}

std::vector<std::string> FaultFs::env(const std::string& match) const {
  std::vector<std::string> e = {std::string("LD_PRELOAD=") + VSLIDE_FAULTFS_LIB, "VSLIDE_FAULTFS_ROOT=" + root_,
                                "VSLIDE_FAULTFS_STATE=" + state_,
                                // The sanitizer build: the shim may come before the ASan runtime.
                                "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0"};
  if (!match.empty()) e.push_back("VSLIDE_FAULTFS_MATCH=" + match);
  return e;
}

int64_t FaultFs::used() const {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root_, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) total += int64_t(it->file_size(ec));
  }
  return total;
}

void FaultFs::write_space(int64_t limit, int64_t used) {
  std::ofstream out(fs::path(state_) / "space", std::ios::binary | std::ios::trunc);
  int64_t v[2] = {limit, used};
  out.write(reinterpret_cast<const char*>(v), sizeof(v));
}

void FaultFs::set_free(int64_t bytes) {
  const int64_t now = used();
  write_space(bytes < 0 ? -1 : now + bytes, now);
}

namespace {

uint64_t inode_of(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? uint64_t(st.st_ino) : 0;
}

struct Entry {
  char type;
  uint64_t ino;
  std::string name;
};

std::vector<Entry> read_entries(const fs::path& file) {
  std::vector<Entry> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    Entry e;
    ls >> e.type >> e.ino;
    ls.get();
    std::getline(ls, e.name);
    if (!e.name.empty()) out.push_back(e);
  }
  return out;
}

}  // namespace

void FaultFs::sync_all() {
  std::function<void(const fs::path&)> walk = [&](const fs::path& dir) {
    std::ofstream list(fs::path(state_) / "dirs" / std::to_string(inode_of(dir)), std::ios::trunc);
    for (const auto& e : fs::directory_iterator(dir)) {
      const uint64_t ino = inode_of(e.path());
      if (e.is_directory()) {
        list << "d " << ino << " " << e.path().filename().string() << "\n";
        walk(e.path());
      } else if (e.is_regular_file()) {
        list << "f " << ino << " " << e.path().filename().string() << "\n";
        fs::copy_file(e.path(), fs::path(state_) / "shadow" / std::to_string(ino),
                      fs::copy_options::overwrite_existing);
      }
    }
  };
  walk(root_);
}

std::string FaultFs::power_cut() {
  const fs::path fresh = root_ + ".after-power-cut";
  fs::remove_all(fresh);
  fs::create_directory(fresh);
  std::ostringstream lost;
  std::function<void(uint64_t, const fs::path&, const fs::path&)> build = [&](uint64_t dir_ino, const fs::path& was,
                                                                             const fs::path& out) {
    std::set<std::string> kept;
    for (const Entry& e : read_entries(fs::path(state_) / "dirs" / std::to_string(dir_ino))) {
      kept.insert(e.name);
      if (e.type == 'd') {
        fs::create_directory(out / e.name);
        build(e.ino, was / e.name, out / e.name);
      } else if (e.type == 'f') {
        const fs::path shadow = fs::path(state_) / "shadow" / std::to_string(e.ino);
        if (fs::exists(shadow)) {
          fs::copy_file(shadow, out / e.name);
        } else {
          std::ofstream(out / e.name).flush();  // named, never synced: empty
        }
      }
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(was, ec)) {
      if (!kept.count(e.path().filename().string())) lost << " " << e.path().lexically_relative(root_).string();
    }
  };
  build(inode_of(root_), root_, fresh);
  fs::remove_all(root_);
  fs::rename(fresh, root_);
  fs::remove_all(fs::path(state_) / "shadow");
  fs::remove_all(fs::path(state_) / "dirs");
  fs::create_directories(fs::path(state_) / "shadow");
  fs::create_directories(fs::path(state_) / "dirs");
  write_space(-1, used());
  sync_all();
  return lost.str();
}

std::vector<uint64_t> fault_seeds() {
  int n = 3;
  if (const char* s = std::getenv("VSLIDE_SEEDS")) n = std::max(1, std::atoi(s));
  std::vector<uint64_t> seeds;
  for (int i = 1; i <= n; ++i) seeds.push_back(uint64_t(i));
  return seeds;
}

}  // namespace vslide::testing
