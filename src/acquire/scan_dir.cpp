#include "vslide/acquire/scan_dir.h"

#include "vslide/acquire/file_ops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vslide::acquire {

namespace fs = std::filesystem;
using nlohmann::json;

json scan_settings_to_json(const ScanSettings& s) {
  return json{{"slide_id", s.slide_id},
              {"slide_path", s.slide_path},
              {"catalog", s.catalog_url},
              {"spool_dir", s.spool_dir},
              {"spare_dir", s.spare_dir},
              {"bind_host", s.bind_host},
              {"spec", scan_spec_to_json(s.spec)},
              {"file_codec", s.file_codec.family == CodecFamily::kNone
                                 ? std::string("none")
                                 : s.file_codec.name() + ":" + std::to_string(s.file_codec.level)},
              {"max_buffer_bytes", s.max_buffer_bytes},
              {"spool_capacity_bytes", s.spool_capacity_bytes},
              {"sync", std::string(sync_mode_name(s.sync))},
              {"writer_threads", s.writer_threads},
              {"idle_timeout_s", s.idle_timeout_s},
              {"recover_wait_s", s.recover_wait_s},
              {"created_unix_s", s.created_unix_s},
              {"curve_secret_key_file", s.curve_secret_key_file},
              {"authorized_keys_dir", s.authorized_keys_dir},
              {"scanner_key", s.scanner_key}};
}

Result<ScanSettings> scan_settings_from_json(const json& j) {
  try {
    ScanSettings s;
    s.slide_id = j.at("slide_id").get<std::string>();
    s.slide_path = j.at("slide_path").get<std::string>();
    s.catalog_url = j.at("catalog").get<std::string>();
    s.spool_dir = j.at("spool_dir").get<std::string>();
    s.spare_dir = j.value("spare_dir", std::string());
    s.bind_host = j.at("bind_host").get<std::string>();
    auto spec = scan_spec_from_json(j.at("spec"));
    if (!spec.ok()) return spec.status();
    s.spec = *spec;
    auto codec = CodecSpec::parse(j.at("file_codec").get<std::string>());
    if (!codec.ok()) return codec.status();
    s.file_codec = *codec;
    s.max_buffer_bytes = j.at("max_buffer_bytes").get<uint64_t>();
    s.spool_capacity_bytes = j.at("spool_capacity_bytes").get<uint64_t>();
    auto sync = parse_sync_mode(j.at("sync").get<std::string>());
    if (!sync.ok()) return sync.status();
    s.sync = *sync;
    s.writer_threads = j.at("writer_threads").get<int>();
    s.idle_timeout_s = j.at("idle_timeout_s").get<double>();
    s.recover_wait_s = j.value("recover_wait_s", 10.0);
    s.created_unix_s = j.at("created_unix_s").get<double>();
    s.curve_secret_key_file = j.value("curve_secret_key_file", std::string());
    s.authorized_keys_dir = j.value("authorized_keys_dir", std::string());
    s.scanner_key = j.value("scanner_key", std::string());
    if (s.curve_secret_key_file.empty() != s.authorized_keys_dir.empty() ||
        s.curve_secret_key_file.empty() != s.scanner_key.empty()) {
      return Status::invalid_argument("scan settings: CURVE needs the key pair file, the authorised keys folder "
                                      "and the scanner's key together");
    }
    return s;
  } catch (const std::exception& e) {
    return Status::invalid_argument(std::string("scan settings: ") + e.what());
  }
}

std::string scans_root(const std::string& data_dir) { return (fs::path(data_dir) / ".scans").string(); }

std::string scan_dir_for(const std::string& data_dir, const std::string& slide_id) {
  return (fs::path(scans_root(data_dir)) / slide_id).string();
}

Status write_scan_file(const std::string& scan_dir, const std::string& name, const std::string& text) {
  std::string path = (fs::path(scan_dir) / name).string();
  std::string tmp = path + ".tmp";
  // Owner only: scan.json holds the catalog URL, and a postgresql:// URL may
  // hold its password (fchmod too, for a .tmp left by a crash with a wider mode).
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io_error(tmp + ": " + std::strerror(errno));
  if (::fchmod(fd, 0600) != 0) {
    Status st = Status::io_error(tmp + ": chmod: " + std::strerror(errno));
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  const char* p = text.data();
  size_t n = text.size();
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      Status st = Status::io_error(tmp + ": write: " + std::strerror(errno));
      ::close(fd);
      ::unlink(tmp.c_str());
      return st;
    }
    p += w;
    n -= size_t(w);
  }
  if (::fsync(fd) != 0) {
    Status st = Status::io_error(tmp + ": fsync: " + std::strerror(errno));
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::io_error(path + ": rename: " + std::strerror(errno));
  return sync_dir(scan_dir);
}

std::optional<std::string> read_scan_file(const std::string& scan_dir, const std::string& name) {
  std::ifstream in(fs::path(scan_dir) / name, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status write_scan_settings(const std::string& scan_dir, const ScanSettings& s) {
  VSLIDE_RETURN_IF_ERROR(create_dirs_durably(scan_dir));
  return write_scan_file(scan_dir, "scan.json", scan_settings_to_json(s).dump(2));
}

Result<ScanSettings> read_scan_settings(const std::string& scan_dir) {
  auto text = read_scan_file(scan_dir, "scan.json");
  if (!text) return Status::not_found(scan_dir + "/scan.json: missing");
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Status::corruption(scan_dir + "/scan.json: not JSON");
  auto s = scan_settings_from_json(j);
  if (!s.ok()) return s.status().with_context(scan_dir + "/scan.json");
  return s;
}

std::optional<SlideState> finished_state(const std::string& scan_dir) {
  auto text = read_scan_file(scan_dir, "finished");
  if (!text) return std::nullopt;
  auto st = parse_slide_state(*text);
  if (!st.ok()) return std::nullopt;
  return *st;
}

std::vector<std::string> list_scan_dirs(const std::string& data_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(scans_root(data_dir), ec)) {
    if (e.is_directory(ec)) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<WriterLock> WriterLock::acquire(const std::string& scan_dir) {
  std::string path = (fs::path(scan_dir) / "writer.lock").string();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::io_error(path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return Status::unavailable(path + ": another slide writer holds this scan");
  }
  return WriterLock(fd);
}

WriterLock& WriterLock::operator=(WriterLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

WriterLock::~WriterLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool writer_alive(const std::string& scan_dir) {
  auto lock = WriterLock::acquire(scan_dir);
  return !lock.ok() && lock.status().code() == StatusCode::kUnavailable;
}

}  // namespace vslide::acquire
