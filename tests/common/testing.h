// Helpers shared by the test programs: temp folders, running the CLI.
#pragma once

#include <filesystem>
#include <string>

namespace vslide::testing {

// A fresh folder under $TMPDIR removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `sh -c command` and captures its output.
CommandResult run_command(const std::string& command);

// Path of the built vslide binary.
std::string vslide_binary();
// Folder of the real 16-bit images (../shared/data/real).
std::string real_data_dir();

}  // namespace vslide::testing
