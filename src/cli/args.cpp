#include "args.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>

namespace vslide::cli {

namespace {
template <typename T>
bool parse_number(const std::string& s, T* out) {
  if constexpr (std::is_floating_point_v<T>) {
    try {
      size_t pos = 0;
      // stod skips leading blanks and reads "nan"/"inf": refuse both.
      if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
      T v = T(std::stod(s, &pos));
      if (pos != s.size() || !std::isfinite(v)) return false;
      *out = v;
      return true;
    } catch (...) {
      return false;
    }
  } else {
    T v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return false;
    *out = v;
    return true;
  }
}
}  // namespace

ArgParser::ArgParser(std::string usage, std::string description)
    : usage_(std::move(usage)), description_(std::move(description)) {}

ArgParser& ArgParser::positional(std::string name, std::string help, std::string* out, bool required) {
  Spec s;
  s.name = std::move(name);
  s.help = std::move(help);
  s.required = required;
  s.set = [out](const std::string& v) { *out = v; return true; };
  positionals_.push_back(std::move(s));
  return *this;
}

ArgParser& ArgParser::option(std::string name, std::string meta, std::string help, std::string* out) {
  options_.push_back({std::move(name), std::move(meta), std::move(help), false, false, false, false,
                      [out](const std::string& v) { *out = v; return true; }});
  return *this;
}
ArgParser& ArgParser::option(std::string name, std::string meta, std::string help, int* out) {
  options_.push_back({std::move(name), std::move(meta), std::move(help), false, false, false, false,
                      [out](const std::string& v) { return parse_number(v, out); }});
  return *this;
}
ArgParser& ArgParser::option(std::string name, std::string meta, std::string help, int64_t* out) {
  options_.push_back({std::move(name), std::move(meta), std::move(help), false, false, false, false,
                      [out](const std::string& v) { return parse_number(v, out); }});
  return *this;
}
ArgParser& ArgParser::option(std::string name, std::string meta, std::string help, double* out) {
  options_.push_back({std::move(name), std::move(meta), std::move(help), false, false, false, false,
                      [out](const std::string& v) { return parse_number(v, out); }});
  return *this;
}
template <typename T>
ArgParser& ArgParser::ranged(std::string name, std::string meta, std::string help, T* out, T min, T max) {
  std::string range = std::is_floating_point_v<T> ? "a number in " : "an integer in ";
  if constexpr (std::is_floating_point_v<T>) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "[%g, %g]", double(min), double(max));
    range += buf;
  } else {
    range += std::to_string(min) + ".." + std::to_string(max);
  }
  Spec s;
  s.name = std::move(name);
  s.meta = std::move(meta);
  s.help = std::move(help);
  s.expect = range;
  s.set = [out, min, max](const std::string& v) {
    T x{};
    if (!parse_number(v, &x) || x < min || x > max) return false;
    *out = x;
    return true;
  };
  options_.push_back(std::move(s));
  return *this;
}

ArgParser& ArgParser::option(std::string name, std::string meta, std::string help, int* out, int min, int max) {
  return ranged(std::move(name), std::move(meta), std::move(help), out, min, max);
}
ArgParser& ArgParser::option(std::string name, std::string meta, std::string help, int64_t* out, int64_t min,
                             int64_t max) {
  return ranged(std::move(name), std::move(meta), std::move(help), out, min, max);
}
ArgParser& ArgParser::option(std::string name, std::string meta, std::string help, double* out, double min,
                             double max) {
  return ranged(std::move(name), std::move(meta), std::move(help), out, min, max);
}

ArgParser& ArgParser::multi(std::string name, std::string meta, std::string help,
                            std::vector<std::string>* out) {
  options_.push_back({std::move(name), std::move(meta), std::move(help), false, false, true, false,
                      [out](const std::string& v) { out->push_back(v); return true; }});
  return *this;
}
ArgParser& ArgParser::flag(std::string name, std::string help, bool* out) {
  options_.push_back({std::move(name), "", std::move(help), true, false, false, false,
                      [out](const std::string&) { *out = true; return true; }});
  return *this;
}

ArgParser::Spec* ArgParser::find(const std::string& name) {
  for (auto& s : options_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

void ArgParser::print_help() const {
  std::cout << "usage: " << usage_ << "\n\n" << description_ << "\n";
  if (!positionals_.empty()) {
    std::cout << "\narguments:\n";
    for (const auto& p : positionals_) {
      std::printf("  %-28s %s\n", p.name.c_str(), p.help.c_str());
    }
  }
  std::cout << "\noptions:\n";
  for (const auto& o : options_) {
    std::string left = o.name + (o.meta.empty() ? "" : " " + o.meta);
    std::printf("  %-28s %s\n", left.c_str(), o.help.c_str());
  }
  std::printf("  %-28s %s\n", "--help, -h", "show this help and exit");
}

int ArgParser::usage_error(const std::string& message) const {
  std::cerr << "vslide: error: " << message << "\nusage: " << usage_ << "\n(try --help)\n";
  return 2;
}

int ArgParser::parse(int argc, char** argv) {
  size_t next_positional = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      print_help();
      return 0;
    }
    if (a.size() > 2 && a.rfind("--", 0) == 0) {
      std::string name = a, value;
      bool has_value = false;
      if (auto eq = a.find('='); eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
        has_value = true;
      }
      Spec* s = find(name);
      if (s == nullptr) return usage_error("unknown option " + name);
      if (s->is_flag) {
        if (has_value) return usage_error(name + " takes no value");
        s->set("");
      } else {
        if (!has_value) {
          if (i + 1 >= argc) return usage_error(name + " needs a value (" + s->meta + ")");
          value = argv[++i];
        }
        if (!s->set(value)) {
          return usage_error("bad value '" + value + "' for " + name + " " + s->meta +
                             (s->expect.empty() ? "" : " (expected " + s->expect + ")"));
        }
      }
      s->seen = true;
      continue;
    }
    if (next_positional >= positionals_.size()) return usage_error("unexpected argument '" + a + "'");
    positionals_[next_positional].set(a);
    positionals_[next_positional].seen = true;
    ++next_positional;
  }
  for (const auto& p : positionals_) {
    if (p.required && !p.seen) return usage_error("missing " + p.name);
  }
  return -1;
}

bool same_file(const std::string& input, const std::string& output) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(output, ec) && fs::exists(input, ec)) return fs::equivalent(input, output, ec) && !ec;
  return fs::weakly_canonical(input, ec) == fs::weakly_canonical(output, ec);
}

Result<std::string> create_temporary_beside(const std::string& path, const std::string& tag) {
  // New (O_EXCL), never through a link (O_NOFOLLOW), under a name nobody can
  // guess: with a name from the pid, a symlink planted in a shared folder made
  // the writer overwrite its target.
  std::random_device entropy;
  for (int attempt = 0;; ++attempt) {
    char suffix[20];
    std::snprintf(suffix, sizeof suffix, "%08x%08x", unsigned(entropy()), unsigned(entropy()));
    std::string tmp = path + tag + suffix;
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0) {
      ::close(fd);
      return tmp;
    }
    if (errno != EEXIST || attempt == 16) {
      return Status::io_error(path + ": cannot create a temporary file beside it: " + std::strerror(errno));
    }
  }
}

Status write_then_rename(const std::string& path, const std::function<Status(const std::string&)>& write) {
  VSLIDE_ASSIGN_OR_RETURN(const std::string tmp, create_temporary_beside(path, ".tmp-"));
  Status s = write(tmp);
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::io_error(path + ": cannot rename " + tmp + " into place: " + std::strerror(errno));
  }
  if (!s.ok()) std::remove(tmp.c_str());
  return s;
}

bool parse_int(const std::string& text, int64_t* out) { return parse_number(text, out); }
bool parse_real(const std::string& text, double* out) { return parse_number(text, out); }

bool parse_size(const std::string& text, int* width, int* height) {
  auto x = text.find('x');
  if (x == std::string::npos) return false;
  int w = 0, h = 0;
  if (!parse_number(text.substr(0, x), &w) || !parse_number(text.substr(x + 1), &h)) return false;
  if (w <= 0 || h <= 0 || w > 65536 || h > 65536) return false;
  *width = w;
  *height = h;
  return true;
}

bool kib_to_bytes(int kib, int* bytes) {
  if (kib < 0 || kib > (1 << 20)) return false;
  *bytes = kib << 10;
  return true;
}

}  // namespace vslide::cli
