// The benchmarks never destroy a user's data (issue 15, "Never destroy a
// user's data"): `bench storage|acquire --dir DIR` work in a fresh subfolder
// of DIR and remove only that; `bench render --slide FILE` refuses a file the
// bench did not make and leaves it as it was.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/testing.h"

namespace vslide {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::TempDir;

std::string vslide() { return testing::vslide_binary(); }

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A folder that holds a user's files, some in a subfolder.
struct UserFolder {
  explicit UserFolder(const TempDir& tmp) : dir(tmp.path() / "my-data") {
    fs::create_directories(dir / "keep");
    std::ofstream(dir / "notes.txt") << "my notes";
    std::ofstream(dir / "keep" / "slide.h5") << "not really a slide, but mine";
  }
  void expect_untouched() const {
    ASSERT_TRUE(fs::is_directory(dir));
    EXPECT_EQ(read_all(dir / "notes.txt"), "my notes");
    EXPECT_EQ(read_all(dir / "keep" / "slide.h5"), "not really a slide, but mine");
    size_t entries = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      ++entries;
      EXPECT_EQ(e.path().string().find("vslide-bench"), std::string::npos) << "left behind: " << e.path();
    }
    EXPECT_EQ(entries, 3u);  // notes.txt, keep/, keep/slide.h5
  }
  fs::path dir;
};

TEST(BenchSafety, StorageWorksInItsOwnSubfolderAndKeepsTheUsersFiles) {
  TempDir tmp;
  UserFolder user(tmp);
  auto r = run_command(vslide() + " bench storage --tiles 2 --gzip-tiles 1 --repeat 1 --cold-samples 1 --threads 2 "
                       "--tile 64x48 --layouts linear --dir " + user.dir.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Every read path gave back what was written, and said so.
  EXPECT_NE(r.output.find("identical"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("DIFFERS"), std::string::npos) << r.output;
  user.expect_untouched();
}

TEST(BenchSafety, StorageRefusesAFolderThatDoesNotExist) {
  TempDir tmp;
  const fs::path missing = tmp.path() / "no" / "such" / "folder";
  auto r = run_command(vslide() + " bench storage --tiles 1 --gzip-tiles 1 --repeat 1 --tile 64x48 --dir " +
                       missing.string());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not an existing folder"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp.path() / "no"));
}

TEST(BenchSafety, AcquireWorksInItsOwnSubfolderAndKeepsTheUsersFiles) {
  TempDir tmp;
  UserFolder user(tmp);
  auto r = run_command(vslide() + " bench acquire --rows 1 --cols 2 --channels 1 --tile 64x48 --distinct-frames 2 "
                       "--skip-gzip --skip-power --skip-live --dir " + user.dir.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("compressed BEFORE the clock starts"), std::string::npos) << r.output;
  user.expect_untouched();
}

TEST(BenchSafety, RenderRefusesASlideItDidNotMake) {
  TempDir tmp;
  const std::string slide = tmp.file("mine.h5");
  auto sim = run_command(vslide() + " simulate " + slide + " --rows 2 --cols 2 --channels 1 --tile 64x48 --quiet");
  ASSERT_EQ(sim.exit_code, 0) << sim.output;
  const std::string before = read_all(slide);
  auto r = run_command(vslide() + " bench render --slide " + slide + " --runs 1 --no-baseline --json");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not a slide `vslide bench render` made"), std::string::npos) << r.output;
  EXPECT_EQ(read_all(slide), before) << "bench render changed a slide it did not make";
  // --fresh does not change that.
  r = run_command(vslide() + " bench render --fresh --slide " + slide + " --runs 1 --no-baseline --json");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_all(slide), before);
}

TEST(BenchSafety, RenderRefusesAFileThatIsNotASlide) {
  TempDir tmp;
  const std::string path = tmp.file("thesis.h5");
  std::ofstream(path) << "chapter one";
  auto r = run_command(vslide() + " bench render --slide " + path + " --runs 1 --no-baseline --json");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_all(path), "chapter one");
}

TEST(BenchSafety, ViewRefusesASlideOrFileItDidNotMake) {
  TempDir tmp;
  const std::string slide = tmp.file("mine.h5");
  auto sim = run_command(vslide() + " simulate " + slide + " --rows 2 --cols 2 --channels 1 --tile 64x48 --quiet");
  ASSERT_EQ(sim.exit_code, 0) << sim.output;
  const std::string before = read_all(slide);
  auto r = run_command(vslide() + " bench view --slide " + slide + " --json");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not a slide `vslide bench view` made"), std::string::npos) << r.output;
  EXPECT_EQ(read_all(slide), before) << "bench view changed a slide it did not make";
  const std::string text = tmp.file("thesis.h5");
  std::ofstream(text) << "chapter one";
  r = run_command(vslide() + " bench view --slide " + text + " --json");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_all(text), "chapter one");
}

}  // namespace
}  // namespace vslide
