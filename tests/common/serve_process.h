// `vslide serve ARGS --json` (the tile dealer) as a child process for tests:
// reads the endpoint from its start-up line, stops it with SIGTERM.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace vslide::testing {

class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args);
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // The bound endpoint, or empty when the server did not start.
  const std::string& endpoint() const { return endpoint_; }

 private:
  pid_t pid_ = -1;
  std::string endpoint_;
};

}  // namespace vslide::testing
