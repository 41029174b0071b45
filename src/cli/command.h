// The `vslide` command: one verb per job, each in its own cmd_*.cpp file,
// registered at static-initialisation time with VSLIDE_COMMAND. The cli files
// are compiled into the executable itself (not a static library), so every
// registrar object is linked in.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace vslide::cli {

// argv[0] is the verb itself ("info"), argv[1..] its arguments.
using CommandFn = std::function<int(int argc, char** argv)>;

struct Command {
  std::string name;
  std::string summary;  // one line for `vslide --help`
  CommandFn run;
};

std::map<std::string, Command>& command_registry();

struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string summary, CommandFn fn) {
    command_registry()[name] = Command{name, std::move(summary), std::move(fn)};
  }
};

// `vslide bench NAME`: each benchmark registers itself the same way.
std::map<std::string, Command>& bench_registry();

struct BenchRegistrar {
  BenchRegistrar(std::string name, std::string summary, CommandFn fn) {
    bench_registry()[name] = Command{name, std::move(summary), std::move(fn)};
  }
};

}  // namespace vslide::cli

#define VSLIDE_CLI_CONCAT_INNER_(a, b) a##b
#define VSLIDE_CLI_CONCAT_(a, b) VSLIDE_CLI_CONCAT_INNER_(a, b)
#define VSLIDE_COMMAND(name, summary, fn) \
  static ::vslide::cli::CommandRegistrar VSLIDE_CLI_CONCAT_(vslide_cmd_, __COUNTER__)(name, summary, fn)
#define VSLIDE_BENCH(name, summary, fn) \
  static ::vslide::cli::BenchRegistrar VSLIDE_CLI_CONCAT_(vslide_bench_, __COUNTER__)(name, summary, fn)
