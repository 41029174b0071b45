// Under `make asan`: a leak in vslide's own code still fails the run, while
// the third-party suppressions (lsan.supp) are in force.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace {

struct Outcome {
  int exit_code = -1;
  std::string output;
};

Outcome run(const std::string& command) {
  Outcome o;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return o;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) o.output.append(buf.data(), n);
  const int status = pclose(pipe);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return o;
}

TEST(SanitizerBuild, LeakInVslideCodeFailsTheProcess) {
#if VSLIDE_SANITIZE_BUILD
  const Outcome o = run(VSLIDE_LEAKY_PROGRAM);
  EXPECT_EQ(o.exit_code, 23) << o.output;
  EXPECT_NE(o.output.find("ERROR: LeakSanitizer: detected memory leaks"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("leaky_program.cpp"), std::string::npos) << o.output;
#else
  GTEST_SKIP() << "meaningful only in the sanitizer build (make asan)";
#endif
}

TEST(SanitizerBuild, CleanProgramPassesUnderTheSameOptions) {
#if VSLIDE_SANITIZE_BUILD
  const Outcome o = run(std::string(VSLIDE_BINARY) + " --help");
  EXPECT_EQ(o.exit_code, 0) << o.output;
  EXPECT_EQ(o.output.find("LeakSanitizer"), std::string::npos) << o.output;
#else
  GTEST_SKIP() << "meaningful only in the sanitizer build (make asan)";
#endif
}

}  // namespace
