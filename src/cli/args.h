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
//
// Numbers are strict: an integer option refuses "1.5", "1e3" and anything
// outside its type; a real option refuses NaN, infinities and trailing text.
// The ranged overloads (min, max inclusive) refuse a value outside the range
// with a message that states it ("--rows: 99999999 is outside 1..100000"),
// so every verb validates its options up front, before it allocates or connects.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vslide/core/status.h"

namespace vslide::cli {

class ArgParser {
 public:
  ArgParser(std::string usage, std::string description);

  ArgParser& positional(std::string name, std::string help, std::string* out, bool required = true);
  ArgParser& option(std::string name, std::string meta, std::string help, std::string* out);
  ArgParser& option(std::string name, std::string meta, std::string help, int* out);
  ArgParser& option(std::string name, std::string meta, std::string help, int64_t* out);
  ArgParser& option(std::string name, std::string meta, std::string help, double* out);
  ArgParser& option(std::string name, std::string meta, std::string help, int* out, int min, int max);
  ArgParser& option(std::string name, std::string meta, std::string help, int64_t* out, int64_t min,
                    int64_t max);
  ArgParser& option(std::string name, std::string meta, std::string help, double* out, double min, double max);
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
    std::string expect = {};                       // what a good value is, for the error message
  };
  template <typename T>
  ArgParser& ranged(std::string name, std::string meta, std::string help, T* out, T min, T max);
  Spec* find(const std::string& name);

  std::string usage_, description_;
  std::vector<Spec> options_;
  std::vector<Spec> positionals_;
};

// Strict number parsing as the options do it (exported for verbs that parse lists).
bool parse_int(const std::string& text, int64_t* out);
bool parse_real(const std::string& text, double* out);  // finite only

// True when `output` names the same file as `input` (the same inode, or the
// same normalised path when the output does not exist yet): a verb refuses to
// overwrite its own input ("--out s.h5" for s.h5).
bool same_file(const std::string& input, const std::string& output);

// Runs `write(tmp)` on a temporary name beside `path` and renames it onto
// `path` only when it succeeded; on failure the temporary file is removed, so
// a full disk never leaves a partial output that looks complete. The
// temporary file is created new (O_EXCL, O_NOFOLLOW) under an unguessable
// name before `write` opens it, so a link planted in a shared folder is never
// written through.
Status write_then_rename(const std::string& path, const std::function<Status(const std::string&)>& write);

// Creates a new, empty file beside `path`, named `path + tag + 16 random hex
// digits` (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0666 less the umask), and returns
// its name; IOError naming `path` when none can be made.
Result<std::string> create_temporary_beside(const std::string& path, const std::string& tag);

// Parses "WIDTHxHEIGHT" (e.g. "2560x2160"); false when malformed or not positive.
bool parse_size(const std::string& text, int* width, int* height);

// An option counted in KiB (e.g. --send-buffer-kib) as bytes; false when negative or above 1 GiB.
bool kib_to_bytes(int kib, int* bytes);

}  // namespace vslide::cli
