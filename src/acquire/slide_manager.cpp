#include "vslide/acquire/slide_manager.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "vslide/acquire/file_ops.h"
#include "vslide/remote/curve.h"

namespace vslide::acquire {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kReadyTimeoutMs = 30000;
constexpr int64_t kMaxRequestBytes = 1 << 20;

// A loopback peer: `shutdown` is taken only from the local machine.
bool from_loopback(zmq::message_t& frame) {
  const char* address = nullptr;
  try {
    address = frame.gets("Peer-Address");
  } catch (const zmq::error_t&) {
  }
  if (address == nullptr) return true;  // ipc:// or inproc://: local by construction
  const std::string a(address);
  return a.rfind("127.", 0) == 0 || a == "::1" || a.rfind("::ffff:127.", 0) == 0;
}

double now_unix_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string new_slide_id() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  char tail[16];
  std::snprintf(tail, sizeof(tail), "%06x", unsigned(rd() & 0xffffff));
  return std::string("vs-") + stamp + "-" + tail;
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

void log(const char* fmt, const std::string& a, const std::string& b = "") {
  std::fprintf(stderr, fmt, a.c_str(), b.c_str());
  std::fputc('\n', stderr);
}

}  // namespace

struct SlideManager::Impl {
  zmq::context_t ctx{1};
  std::unique_ptr<remote::ZapAuthenticator> zap;  // with CURVE; destroyed after sock, before ctx
  zmq::socket_t sock{ctx, zmq::socket_type::router};
};

SlideManager::SlideManager(const ManagerOptions& options) : options_(options), impl_(std::make_unique<Impl>()) {}

SlideManager::~SlideManager() = default;

Result<std::unique_ptr<SlideManager>> SlideManager::start(const ManagerOptions& options) {
  std::unique_ptr<SlideManager> m(new SlideManager(options));
  ManagerOptions& o = m->options_;
  if (o.data_dir.empty()) return Status::invalid_argument("manager: --data-dir is required");
  if (o.curve_secret_key_file.empty() != o.authorized_keys_dir.empty()) {
    return Status::invalid_argument("manager: CURVE needs both --curve-secret-key and --authorized-keys");
  }
  std::error_code ec;
  // The data and spool folders themselves may be new, but not a whole path
  // from the root: a mistyped --data-dir or --spool-dir must not create
  // folders the user never asked for.
  for (const auto& [what, dir] : {std::pair<const char*, const std::string&>{"data folder", o.data_dir},
                                  std::pair<const char*, const std::string&>{"spool folder", o.spool_dir}}) {
    if (dir.empty()) continue;
    fs::path folder = fs::absolute(dir, ec).lexically_normal();
    if (!folder.has_filename()) folder = folder.parent_path();  // "data/" names "data"
    const fs::path parent = folder.parent_path();
    if (!fs::exists(dir, ec) && !fs::is_directory(parent, ec)) {
      return Status::not_found(std::string("manager: ") + what + " " + dir + ": its parent folder " +
                               parent.string() + " does not exist (create it first)");
    }
  }
  if (Status st = create_dirs_durably(scans_root(o.data_dir)); !st.ok()) {
    return Status::io_error("manager: data folder " + o.data_dir + ": " + st.message());
  }
  o.data_dir = fs::absolute(o.data_dir).string();
  if (o.catalog_url.empty()) o.catalog_url = "sqlite://" + (fs::path(o.data_dir) / "catalog.sqlite").string();
  if (!o.spool_dir.empty()) o.spool_dir = fs::absolute(o.spool_dir).string();
  if (o.writer_binary.empty()) o.writer_binary = fs::read_symlink("/proc/self/exe", ec).string();
  auto catalog = open_catalog(o.catalog_url);
  if (!catalog.ok()) return catalog.status().with_context("manager");
  m->catalog_ = std::move(catalog).value();
  if (!o.curve_secret_key_file.empty()) {
    // Absolute: the writers read them from their scan folder's settings.
    o.curve_secret_key_file = fs::absolute(o.curve_secret_key_file).string();
    o.authorized_keys_dir = fs::absolute(o.authorized_keys_dir).string();
    auto keys = remote::read_key_file(o.curve_secret_key_file);
    if (!keys.ok()) return keys.status().with_context("manager");
    std::vector<remote::ZapDomain> domains{{remote::kScannerZapDomain, o.authorized_keys_dir, {}}};
    auto zap = remote::ZapAuthenticator::start(m->impl_->ctx, std::move(domains),
                                               [](const std::string& line) { log("manager: %s%s", line); });
    if (!zap.ok()) return zap.status().with_context("manager");
    m->impl_->zap = std::move(zap).value();
    VSLIDE_RETURN_IF_ERROR(remote::set_curve_server(m->impl_->sock, *keys, remote::kScannerZapDomain)
                               .with_context("manager: " + o.curve_secret_key_file));
  }
  try {
    m->impl_->sock.set(zmq::sockopt::linger, 0);
    m->impl_->sock.set(zmq::sockopt::maxmsgsize, kMaxRequestBytes);  // a scan spec is a few KB
    m->impl_->sock.bind(o.bind);
    m->endpoint_ = m->impl_->sock.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::io_error("manager: bind " + o.bind + ": " + e.what());
  }
  VSLIDE_RETURN_IF_ERROR(m->recover_scans());
  return m;
}

Status SlideManager::recover_scans() {
  for (const std::string& dir : list_scan_dirs(options_.data_dir)) {
    auto settings = read_scan_settings(dir);
    if (!settings.ok()) {
      log("manager: skipping %s: %s", dir, settings.status().to_string());
      continue;
    }
    ScanEntry entry;
    entry.slide_id = settings->slide_id;
    entry.scan_dir = dir;
    entry.scanner_key = settings->scanner_key;
    if (auto state = finished_state(dir)) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      continue;
    }
    if (writer_alive(dir)) {
      auto pid = read_scan_file(dir, "writer.pid");
      entry.pid = pid ? pid_t(std::atoi(pid->c_str())) : -1;
      entry.child = false;
      entry.mode = WriterMode::kResume;
      log("manager: adopted the live writer of scan %s (pid %s)", entry.slide_id, pid ? *pid : "?");
      scans_[entry.slide_id] = entry;
      continue;
    }
    log("manager: scan %s has no writer: recovering it%s", entry.slide_id, "");
    auto spawned = spawn_writer(entry, WriterMode::kRecover, /*wait_ready=*/false);
    if (!spawned.ok()) {
      log("manager: cannot recover %s: %s", entry.slide_id, spawned.status().to_string());
      continue;
    }
    scans_[entry.slide_id] = entry;
  }
  return Status();
}

Result<std::string> SlideManager::spawn_writer(ScanEntry& entry, WriterMode mode, bool wait_ready) {
  // A dead writer's endpoint must not be handed out while the new one starts.
  std::error_code stale;
  fs::remove(fs::path(entry.scan_dir) / "proxy.endpoint", stale);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::io_error("manager: pipe: " + std::string(std::strerror(errno)));
  std::string log_path = (fs::path(entry.scan_dir) / "writer.log").string();
  std::string mode_text(writer_mode_name(mode));
  std::vector<std::string> args = {options_.writer_binary, "slide-writer", "--scan-dir", entry.scan_dir,
                                   "--mode",               mode_text,      "--ready-fd", "3"};
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::io_error("manager: fork: " + std::string(std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: own session (outlives the manager), log file as stdout/stderr,
    // the ready pipe as fd 3. Only async-signal-safe calls until exec.
    ::setsid();
    int logfd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (logfd >= 0) {
      ::dup2(logfd, 1);
      ::dup2(logfd, 2);
    }
    ::dup2(fds[1], 3);  // dup2 clears FD_CLOEXEC on the copy
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(options_.writer_binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  entry.pid = pid;
  entry.child = true;
  entry.mode = mode;
  std::string line;
  if (wait_ready) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kReadyTimeoutMs);
    char buf[256];
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      int n = ::poll(&p, 1, 100);
      if (n <= 0) continue;
      ssize_t r = ::read(fds[0], buf, sizeof(buf));
      if (r <= 0) break;  // the writer exited before it was ready
      line.append(buf, size_t(r));
    }
  }
  ::close(fds[0]);
  if (!wait_ready) return std::string();
  if (line.rfind("ready ", 0) != 0 || line.find('\n') == std::string::npos) {
    auto tail = read_scan_file(entry.scan_dir, "writer.log").value_or("");
    if (tail.size() > 400) tail = tail.substr(tail.size() - 400);
    return Status::unavailable("manager: the slide writer of " + entry.slide_id + " did not start: " + tail);
  }
  return line.substr(6, line.find('\n') - 6);
}

void SlideManager::on_writer_gone(ScanEntry& entry, bool permanent) {
  if (auto state = finished_state(entry.scan_dir)) {
    log("manager: scan %s finished: %s", entry.slide_id, std::string(slide_state_name(*state)));
    std::error_code ec;
    fs::remove_all(entry.scan_dir, ec);
    scans_.erase(entry.slide_id);
    return;
  }
  if (!permanent && entry.restarts >= options_.max_restarts && !entry.abandoned) {
    // One last writer finishes the file as failed (every acknowledged plane
    // in it, and a file that opens); the scanner is told "failed".
    log("manager: giving up on scan %s: finishing it as failed%s", entry.slide_id, "");
    entry.abandoned = true;
    Status st = write_scan_file(entry.scan_dir, kAbandonedMarker, "the writer died too often\n");
    if (st.ok()) {
      auto r = spawn_writer(entry, WriterMode::kRecover, /*wait_ready=*/false);
      if (r.ok()) return;
      st = r.status();
    }
    log("manager: cannot finish scan %s: %s", entry.slide_id, st.to_string());
  }
  if (entry.abandoned || permanent) {
    log("manager: giving up on scan %s; its scan folder is kept at %s", entry.slide_id, entry.scan_dir);
    if (auto r = catalog_->get(entry.slide_id); r.ok()) {
      r->state = SlideState::kFailed;
      r->end_unix_s = now_unix_s();
      (void)catalog_->update(*r);
    }
    scans_.erase(entry.slide_id);
    return;
  }
  WriterMode mode = entry.mode == WriterMode::kRecover ? WriterMode::kRecover : WriterMode::kResume;
  ++entry.restarts;
  log("manager: the writer of scan %s died; restarting it (%s)", entry.slide_id, std::string(writer_mode_name(mode)));
  auto r = spawn_writer(entry, mode, mode != WriterMode::kRecover);
  if (!r.ok()) log("manager: restart of %s failed: %s", entry.slide_id, r.status().to_string());
}

void SlideManager::supervise() {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    for (auto& [id, entry] : scans_) {
      if (entry.child && entry.pid == pid) {
        bool permanent = WIFEXITED(status) && WEXITSTATUS(status) == kExitPermanent;
        if (WIFEXITED(status) && WEXITSTATUS(status) == kExitStorage && !finished_state(entry.scan_dir)) {
          // Disk full: not the writer's fault; try again in a moment, forever
          // (the scanner is told why through the restart's Unavailable).
          if (entry.storage_restarts++ % 60 == 0) {
            log("manager: the writer of scan %s cannot write its file (disk full?); restarting it every second%s",
                entry.slide_id, "");
          }
          entry.restart_at = std::chrono::steady_clock::now() + std::chrono::seconds(1);
          entry.pid = -1;
          break;
        }
        on_writer_gone(entry, permanent);
        break;
      }
    }
  }
  for (auto& [id, entry] : scans_) {
    if (entry.restart_at && std::chrono::steady_clock::now() >= *entry.restart_at) {
      entry.restart_at.reset();
      WriterMode mode = entry.mode == WriterMode::kRecover ? WriterMode::kRecover : WriterMode::kResume;
      auto r = spawn_writer(entry, mode, false);
      if (!r.ok()) log("manager: restart of %s failed: %s", entry.slide_id, r.status().to_string());
    }
  }
  // Writers adopted from a previous manager are not our children: watch their lock.
  std::vector<std::string> gone;
  for (auto& [id, entry] : scans_) {
    if (!entry.child && !writer_alive(entry.scan_dir)) gone.push_back(id);
  }
  for (const auto& id : gone) {
    auto it = scans_.find(id);
    if (it != scans_.end()) on_writer_gone(it->second, false);
  }
}

Status SlideManager::run() {
  auto& sock = impl_->sock;
  auto last_supervise = std::chrono::steady_clock::now();
  while (!stop_) {
    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return Status::io_error("manager: poll: " + std::string(e.what()));
    }
    if (std::chrono::steady_clock::now() - last_supervise > std::chrono::milliseconds(200)) {
      supervise();
      last_supervise = std::chrono::steady_clock::now();
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(sock, std::back_inserter(parts), zmq::recv_flags::dontwait)) continue;
    json reply;
    if (parts.size() < 2) {
      reply = error_reply(Status::invalid_argument("manager: message without a JSON frame"));
    } else {
      auto& body = parts.back();
      auto msg = parse_message(std::span(static_cast<const uint8_t*>(body.data()), body.size()), "manager");
      // With CURVE every peer here passed the ZAP handler: its key is authorised.
      const std::string peer_key = impl_->zap ? remote::curve_peer_key(body) : std::string();
      if (msg.ok() && (*msg)["type"] == "shutdown" && peer_key.empty() && !from_loopback(body)) {
        reply = error_reply(Status::failed_precondition(
            "manager: shutdown is taken only from an authorised key or from the local machine"));
      } else {
        reply = msg.ok() ? handle(*msg, peer_key) : error_reply(msg.status());
      }
    }
    // Echo every frame before the body (identity, and the empty delimiter of REQ peers).
    std::vector<zmq::message_t> out;
    for (size_t i = 0; i + 1 < parts.size(); ++i) out.push_back(std::move(parts[i]));
    if (parts.size() < 2) out.clear(), out.push_back(std::move(parts[0]));
    out.emplace_back(reply.dump());
    (void)zmq::send_multipart(sock, out, zmq::send_flags::dontwait);
  }
  return Status();
}

json SlideManager::handle(const json& request, const std::string& peer_key) {
  const std::string type = request["type"];
  if (type == "begin_scan") return begin_scan(request, peer_key);
  if (type == "resume_scan") return resume_scan(request, peer_key);
  if (type == "status") return status_reply();
  if (type == "shutdown") {
    stop_ = true;
    return json{{"type", "ok"}, {"running_scans", scans_.size()}};
  }
  return error_reply(Status::invalid_argument("manager: unknown request type '" + type + "'"));
}

json SlideManager::begin_scan(const json& request, const std::string& peer_key) {
  if (!request.contains("spec")) return error_reply(Status::invalid_argument("begin_scan: no \"spec\""));
  if (options_.max_scans > 0 && scans_.size() >= size_t(options_.max_scans)) {
    return error_reply(Status::resource_exhausted("begin_scan: " + std::to_string(scans_.size()) +
                                                  " scans are running (--max-scans " +
                                                  std::to_string(options_.max_scans) + "); retry when one ends"));
  }
  auto spec = scan_spec_from_json(request["spec"]);
  if (!spec.ok()) return error_reply(spec.status().with_context("begin_scan"));
  ScanSettings s;
  s.slide_id = new_slide_id();
  if (!spec->header.slide_id.empty()) spec->header.attributes["scanner_slide_id"] = spec->header.slide_id;
  spec->header.slide_id = s.slide_id;
  if (spec->header.date.empty()) spec->header.date = iso_now();
  s.spec = *spec;
  s.slide_path = (fs::path(options_.data_dir) / (s.slide_id + ".h5")).string();
  s.catalog_url = options_.catalog_url;
  std::string scan_dir = scan_dir_for(options_.data_dir, s.slide_id);
  s.spool_dir = options_.spool_dir.empty() ? scan_dir : (fs::path(options_.spool_dir) / s.slide_id).string();
  s.spare_dir = (options_.spool_dir.empty() ? fs::path(options_.data_dir) / "spool-spares"
                                            : fs::path(options_.spool_dir) / "spares")
                    .string();
  s.bind_host = endpoint_host(endpoint_);
  s.file_codec = options_.file_codec;
  s.max_buffer_bytes = options_.max_buffer_bytes;
  s.spool_capacity_bytes = options_.spool_capacity_bytes;
  s.sync = options_.sync;
  s.writer_threads = options_.writer_threads;
  s.idle_timeout_s = options_.idle_timeout_s;
  s.recover_wait_s = options_.recover_wait_s;
  s.created_unix_s = now_unix_s();
  s.curve_secret_key_file = options_.curve_secret_key_file;
  s.authorized_keys_dir = options_.authorized_keys_dir;
  s.scanner_key = peer_key;
  Status st = write_scan_settings(scan_dir, s);
  if (!st.ok()) {
    std::error_code ec;
    fs::remove_all(scan_dir, ec);  // nothing of this scan was acknowledged
    return error_reply(st.with_context("begin_scan"));
  }

  SlideRecord rec;
  rec.id = s.slide_id;
  rec.name = s.spec.header.name;
  rec.path = s.slide_path;
  rec.host = host_name();
  rec.state = SlideState::kScanning;
  rec.header_json = json(s.spec.header).dump();
  for (const auto& c : s.spec.channels) rec.channel_names.push_back(c.name);
  rec.start_unix_s = s.created_unix_s;
  st = catalog_->add(rec);
  if (!st.ok()) {
    std::error_code ec;
    fs::remove_all(scan_dir, ec);
    return error_reply(st.with_context("begin_scan"));
  }

  ScanEntry entry;
  entry.slide_id = s.slide_id;
  entry.scan_dir = scan_dir;
  entry.scanner_key = peer_key;
  auto endpoint = spawn_writer(entry, WriterMode::kNew, /*wait_ready=*/true);
  if (!endpoint.ok()) {
    rec.state = SlideState::kFailed;
    rec.end_unix_s = now_unix_s();
    (void)catalog_->update(rec);
    if (entry.pid > 0) ::kill(entry.pid, SIGKILL);
    return error_reply(endpoint.status());
  }
  scans_[s.slide_id] = entry;
  log("manager: scan %s begun, proxy at %s", s.slide_id, *endpoint);
  return json{{"type", "scan"}, {"slide_id", s.slide_id}, {"proxy", *endpoint}, {"path", s.slide_path}};
}

json SlideManager::resume_scan(const json& request, const std::string& peer_key) {
  std::string id = request.value("slide_id", "");
  if (id.empty()) return error_reply(Status::invalid_argument("resume_scan: no \"slide_id\""));
  auto it = scans_.find(id);
  if (it != scans_.end() && it->second.scanner_key != peer_key) {
    return error_reply(Status::failed_precondition("resume_scan " + id +
                                                   ": only the scanner that began the scan (its CURVE key) may resume it"));
  }
  if (it != scans_.end()) {
    // A recovering writer serves the scanner too (for recover_wait_s) once
    // its proxy is up, so that a live scanner can finish its scan.
    auto endpoint = read_scan_file(it->second.scan_dir, "proxy.endpoint");
    if (!endpoint || !writer_alive(it->second.scan_dir)) {
      std::string why = "its writer is (re)starting; retry";
      if (it->second.restart_at) why = "its writer cannot write the slide file (disk full?); retrying";
      return error_reply(Status::unavailable("resume_scan " + id + ": " + why));
    }
    auto path = catalog_->get(id);
    return json{{"type", "scan"}, {"slide_id", id}, {"proxy", *endpoint}, {"path", path.ok() ? path->path : ""}};
  }
  auto rec = catalog_->get(id);
  if (!rec.ok()) return error_reply(rec.status().with_context("resume_scan"));
  if (rec->state == SlideState::kScanning) {
    return error_reply(Status::unavailable("resume_scan " + id + ": scanning but no writer known yet; retry"));
  }
  return json{{"type", "finished"},  {"slide_id", id},         {"path", rec->path},
              {"state", std::string(slide_state_name(rec->state))}, {"planes", rec->tile_count}};
}

json SlideManager::status_reply() const {
  json scans = json::array();
  for (const auto& [id, e] : scans_) {
    scans.push_back(json{{"slide_id", id},
                         {"pid", e.pid},
                         {"adopted", !e.child},
                         {"mode", std::string(writer_mode_name(e.mode))},
                         {"restarts", e.restarts},
                         {"proxy", read_scan_file(e.scan_dir, "proxy.endpoint").value_or("")}});
  }
  return json{{"type", "status"},
              {"pid", ::getpid()},
              {"data_dir", options_.data_dir},
              {"catalog", catalog_->describe()},
              {"scans", scans}};
}

}  // namespace vslide::acquire
