// vslide: one command, one verb per job. See `vslide --help`.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <fstream>
#include <iostream>
#include <string>

#include "command.h"
#include "vslide/core/large_buffer.h"

namespace vslide::cli {

std::map<std::string, Command>& command_registry() {
  static std::map<std::string, Command> registry;
  return registry;
}

std::map<std::string, Command>& bench_registry() {
  static std::map<std::string, Command> registry;
  return registry;
}

namespace {

void print_usage() {
  std::cout << "usage: vslide VERB [ARGS...]\n\n"
               "vslide: high-content digital microscopy on HDF5, ZeroMQ and OpenGL.\n\nverbs:\n";
  for (const auto& [name, cmd] : command_registry()) {
    std::printf("  %-14s %s\n", name.c_str(), cmd.summary.c_str());
  }
  std::cout << "\n`vslide VERB --help` describes each verb.\n";
}

int run_bench(int argc, char** argv) {
  auto& benches = bench_registry();
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::cout << "usage: vslide bench NAME [OPTIONS]\n\nBenchmarks that measure their baseline in the "
                 "same run and print ratios.\n\nbenchmarks:\n";
    for (const auto& [name, b] : benches) std::printf("  %-14s %s\n", name.c_str(), b.summary.c_str());
    return argc < 2 ? 2 : 0;
  }
  auto it = benches.find(argv[1]);
  if (it == benches.end()) {
    std::cerr << "vslide bench: unknown benchmark '" << argv[1] << "' (see vslide bench --help)\n";
    return 2;
  }
  return it->second.run(argc - 1, argv + 1);
}

// Runs this program again, once, with glibc's malloc asking for transparent
// huge pages: see huge_page_malloc_tunables (core/large_buffer.h) for why.
// Acknowledgement p99 of `vslide bench acquire` went from 19-24 ms to
// 9-15 ms. VSLIDE_HUGE_PAGE_MALLOC=0 turns it off; children inherit the
// setting and do not execute again.
void exec_with_huge_page_malloc(char** argv) {
  const char* opt = std::getenv("VSLIDE_HUGE_PAGE_MALLOC");
  if (opt != nullptr && std::strcmp(opt, "0") == 0) return;
  const char* current = std::getenv("GLIBC_TUNABLES");
  std::string modes;
  {
    std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");  // closed before the exec
    std::getline(thp, modes);
  }
  auto tunables = vslide::huge_page_malloc_tunables(current != nullptr ? current : "", modes);
  if (!tunables || ::setenv("GLIBC_TUNABLES", tunables->c_str(), 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // The exec failed: carry on with the pages as they are.
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("bench", "run a benchmark (storage, acquire, remote, render)", vslide::cli::run_bench);

int main(int argc, char** argv) {
  using namespace vslide::cli;
  exec_with_huge_page_malloc(argv);
  // Tiles and chunks are megabytes each. By default glibc serves such blocks
  // with a fresh mmap and gives them back on free, so every tile's buffer is
  // page-faulted in anew: on the virtual machines this runs on that costs
  // ~15 us a page, ~17 ms for a 4.8 MB chunk, far more than copying it
  // (docs/PERFORMANCE.md, "acquire"). Keep blocks up to 32 MB on the heap
  // and keep up to 1 GB of freed heap mapped for the next tile.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::cout << "vslide 0.1.0\n";
    return 0;
  }
  auto& reg = command_registry();
  auto it = reg.find(argv[1]);
  if (it == reg.end()) {
    std::cerr << "vslide: unknown verb '" << argv[1] << "' (see vslide --help)\n";
    return 2;
  }
  // Every verb ends with a message and a non-zero code, whatever escapes it
  // (a filesystem_error, bad_alloc, a library's exception): never terminate().
  try {
    return it->second.run(argc - 1, argv + 1);
  } catch (const std::bad_alloc&) {
    std::cerr << "vslide " << argv[1] << ": out of memory\n";
  } catch (const std::exception& e) {
    std::cerr << "vslide " << argv[1] << ": error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "vslide " << argv[1] << ": error: unknown exception\n";
  }
  return 1;
}
