#include "common/serve_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/testing.h"

extern char** environ;

namespace vslide::testing {

ServeProcess::ServeProcess(std::vector<std::string> args) {
  std::vector<std::string> all = {vslide_binary(), "serve", "--json"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe(fds) != 0) return;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string line;
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') line += c;
  close(fds[0]);
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_object() && j.contains("endpoint")) endpoint_ = j["endpoint"].get<std::string>();
}

ServeProcess::~ServeProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int st = 0;
  waitpid(pid_, &st, 0);
}

}  // namespace vslide::testing
