// Audit of issue 16: `vslide keygen` without --force checked that the key
// files were absent, then rename()d its temporary files over them, replacing a
// file created in between. write_key_files is that final step: tested here
// with the target already there, which is what it sees when one appears
// between the check and the move.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "common/testing.h"
#include "vslide/remote/curve.h"

namespace vslide {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Names in `dir` other than `expected`: temporary files left behind.
std::vector<std::string> others(const fs::path& dir, const std::set<std::string>& expected) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!expected.count(e.path().filename().string())) out.push_back(e.path().filename().string());
  }
  return out;
}

remote::CurveKeyPair keys() {
  auto k = remote::generate_curve_keypair();
  EXPECT_TRUE(k.ok()) << k.status().to_string();
  return *k;
}

TEST(KeyFiles, AnExistingSecretKeyFileIsNeverReplaced) {
  testing::TempDir dir;
  const std::string prefix = dir.file("k");
  write_text(prefix + ".key_secret", "someone else's\n");
  Status s = remote::write_key_files(keys(), prefix);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.to_string();
  EXPECT_NE(s.message().find(prefix + ".key_secret"), std::string::npos) << s.to_string();
  EXPECT_EQ(read_all(prefix + ".key_secret"), "someone else's\n");
  EXPECT_FALSE(fs::exists(prefix + ".key"));
  EXPECT_TRUE(others(dir.path(), {"k.key_secret"}).empty()) << others(dir.path(), {"k.key_secret"})[0];
}

TEST(KeyFiles, AnExistingPublicKeyFileIsNeverReplacedAndTheNewSecretGoes) {
  testing::TempDir dir;
  const std::string prefix = dir.file("k");
  write_text(prefix + ".key", "someone else's\n");
  Status s = remote::write_key_files(keys(), prefix);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.to_string();
  EXPECT_NE(s.message().find(prefix + ".key:"), std::string::npos) << s.to_string();
  EXPECT_EQ(read_all(prefix + ".key"), "someone else's\n");
  EXPECT_FALSE(fs::exists(prefix + ".key_secret"));
  EXPECT_TRUE(others(dir.path(), {"k.key"}).empty()) << others(dir.path(), {"k.key"})[0];
}

TEST(KeyFiles, ALinkPlantedAtTheNameIsLeftAsItIs) {
  testing::TempDir dir;
  const std::string prefix = dir.file("k");
  write_text(dir.file("target"), "x\n");
  ASSERT_EQ(::symlink(dir.file("target").c_str(), (prefix + ".key_secret").c_str()), 0);
  EXPECT_EQ(remote::write_key_files(keys(), prefix).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(fs::is_symlink(prefix + ".key_secret"));
  EXPECT_EQ(read_all(dir.file("target")), "x\n");
}

TEST(KeyFiles, ReplaceOverwritesAsKeygenForceDoes) {
  testing::TempDir dir;
  const std::string prefix = dir.file("k");
  write_text(prefix + ".key", "old\n");
  write_text(prefix + ".key_secret", "old\n");
  const remote::CurveKeyPair k = keys();
  ASSERT_TRUE(remote::write_key_files(k, prefix, /*replace=*/true).ok());
  auto secret = remote::read_key_file(prefix + ".key_secret");
  ASSERT_TRUE(secret.ok()) << secret.status().to_string();
  EXPECT_EQ(secret->secret_key, k.secret_key);
  struct stat st {};
  ASSERT_EQ(::stat((prefix + ".key_secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(remote::read_key_file(prefix + ".key")->public_key, k.public_key);
  EXPECT_TRUE(others(dir.path(), {"k.key", "k.key_secret"}).empty());
}

}  // namespace
}  // namespace vslide
