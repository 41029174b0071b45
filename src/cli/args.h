// A small declarative argument parser shared by every verb.
//
//   ArgParser p("vslide info SLIDE [--json]", "Prints a slide's header, geometry and storage.");
//   p.positional("SLIDE", "slide file or tcp:// URL", &slide);
//   p.flag("--json", "machine-readable output", &json);
//   if (int rc = p.parse(argc, argv); rc >= 0) return rc;
//
// parse() returns -1 to go on, 0 after printing --help, 2 after a usage error
// (printed to stderr with the usage line). Options take "--name VALUE" or
// "--name=VALUE"; repeated options fill a vector.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vslide::cli {

class ArgParser {
 public:
  ArgParser(std::string usage, std::string description);

  ArgParser& positional(std::string name, std::string help, std::string* out, bool required = true);
  ArgParser& option(std::string name, std::string meta, std::string help, std::string* out);
  ArgParser& option(std::string name, std::string meta, std::string help, int* out);
  ArgParser& option(std::string name, std::string meta, std::string help, int64_t* out);
  ArgParser& option(std::string name, std::string meta, std::string help, double* out);
  ArgParser& multi(std::string name, std::string meta, std::string help, std::vector<std::string>* out);
  ArgParser& flag(std::string name, std::string help, bool* out);

  int parse(int argc, char** argv);
  void print_help() const;
  // Prints "vslide: error: MESSAGE" and the usage line to stderr; returns 2.
  int usage_error(const std::string& message) const;

 private:
  struct Spec {
    std::string name, meta, help;
    bool is_flag = false, required = false, is_multi = false, seen = false;
    std::function<bool(const std::string&)> set;  // false: bad value
  };
  Spec* find(const std::string& name);

  std::string usage_, description_;
  std::vector<Spec> options_;
  std::vector<Spec> positionals_;
};

// Parses "WIDTHxHEIGHT" (e.g. "2560x2160"); false when malformed or not positive.
bool parse_size(const std::string& text, int* width, int* height);

// An option counted in KiB (e.g. --send-buffer-kib) as bytes; false when negative or above 1 GiB.
bool kib_to_bytes(int kib, int* bytes);

}  // namespace vslide::cli
