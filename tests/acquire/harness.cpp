#include "harness.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <thread>

#include "vslide/acquire/scan_dir.h"
#include "vslide/acquire/simulated_scan.h"
#include "vslide/catalog/catalog.h"
#include "vslide/storage/hdf5_slide.h"

extern char** environ;

namespace vslide::testing {

Proc::Proc(const std::vector<std::string>& args, const std::string& log, const std::vector<std::string>& env) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<std::string> full = {vslide_binary()};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  if (posix_spawn(&pid_, full[0].c_str(), &fa, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&fa);
}

Proc::~Proc() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
  }
}

void Proc::kill9() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    reaped_ = true;
  }
}

bool Proc::running() {
  if (pid_ <= 0 || reaped_) return false;
  if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

int Proc::wait(double timeout_s) {
  double deadline = now_s() + timeout_s;
  while (running()) {
    if (now_s() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (pid_ <= 0) return -1;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

ManagerFixture::ManagerFixture(const std::string& dir, std::vector<std::string> extra)
    : endpoint("tcp://127.0.0.1:" + std::to_string(free_port())),
      data_dir(dir),
      catalog("sqlite://" + dir + "/catalog.sqlite"),
      log(dir + "/../manager.log"),
      extra_args(std::move(extra)) {}

ManagerFixture::~ManagerFixture() {
  proc_.reset();
  for (const auto& dir : acquire::list_scan_dirs(data_dir)) {
    auto pid = acquire::read_scan_file(dir, "writer.pid");
    if (pid && acquire::writer_alive(dir)) ::kill(pid_t(std::atoi(pid->c_str())), SIGKILL);
  }
}

void ManagerFixture::start() {
  std::vector<std::string> args = {"manager", "start", "--bind", endpoint, "--data-dir", data_dir,
                                   "--max-buffer-mb", "64"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  proc_ = std::make_unique<Proc>(args, log, env);
  double deadline = now_s() + 20;
  while (now_s() < deadline) {
    if (status(0.5).ok()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Result<nlohmann::json> ManagerFixture::status(double timeout_s) {
  acquire::ScannerOptions so;
  so.manager = endpoint;
  so.curve_secret_key_file = curve_key_file;
  so.manager_key_file = manager_key_file;
  acquire::ScannerClient client(so);
  return client.ask_manager(nlohmann::json{{"type", "status"}}, timeout_s);
}

pid_t ManagerFixture::writer_pid() {
  auto s = status();
  if (!s.ok() || (*s)["scans"].empty()) return -1;
  return (*s)["scans"][0]["pid"].get<pid_t>();
}

std::string ManagerFixture::slide_id() {
  auto s = status();
  if (!s.ok() || (*s)["scans"].empty()) return "";
  return (*s)["scans"][0]["slide_id"];
}

std::string outside_address() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* a = list; a != nullptr && found.empty(); a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, text, sizeof(text));
    if (std::string(text).rfind("127.", 0) != 0) found = text;
  }
  freeifaddrs(list);
  return found;
}

ScanConfig small_scan(uint64_t seed, int rows, int cols, int channels) {
  ScanConfig c;
  c.rows = rows;
  c.cols = cols;
  c.channels = channels;
  c.tile_width = 256;
  c.tile_height = 256;
  c.seed = seed;
  return c;
}

std::vector<std::string> scan_args(const std::string& manager, const ScanConfig& c) {
  return {"scan",     "--manager", manager, "--simulate", "--rows", std::to_string(c.rows), "--cols",
          std::to_string(c.cols), "--channels", std::to_string(c.channels), "--tile",
          std::to_string(c.tile_width) + "x" + std::to_string(c.tile_height), "--seed", std::to_string(c.seed),
          "--quiet"};
}

std::vector<TileKey> read_ack_log(const std::string& path) {
  std::vector<TileKey> keys;
  std::ifstream in(path);
  TileKey k;
  while (in >> k.row >> k.col >> k.channel >> k.z >> k.t) keys.push_back(k);
  return keys;
}

std::vector<TileKey> all_keys(const ScanConfig& c) {
  SyntheticScanner scanner(c);
  std::vector<TileKey> keys;
  for (const auto& p : acquire::planes_in_order(scanner)) keys.push_back(p.key);
  return keys;
}

std::string check_planes(const std::string& path, const ScanConfig& c, const std::vector<TileKey>& keys) {
  auto slide = Hdf5Slide::open(path, OpenMode::kRead);
  if (!slide.ok()) return slide.status().to_string();
  SyntheticScanner scanner(c);
  for (const TileKey& k : keys) {
    auto got = (*slide)->read(k);
    if (!got.ok()) return k.to_string() + ": " + got.status().to_string();
    if (!(*got == scanner.render(k))) return k.to_string() + ": pixels differ from the scanner's";
  }
  return "";
}

std::string wait_slide_id(ManagerFixture& m, double timeout_s) {
  double deadline = now_s() + timeout_s;
  while (now_s() < deadline) {
    std::string id = m.slide_id();
    if (!id.empty()) return id;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

Result<SlideRecord> record_of(const ManagerFixture& m, const std::string& id) {
  auto cat = open_catalog(m.catalog);
  if (!cat.ok()) return cat.status();
  return (*cat)->get(id);
}

Result<SlideRecord> wait_final(const ManagerFixture& m, const std::string& id, double timeout_s) {
  double deadline = now_s() + timeout_s;
  for (;;) {
    auto r = record_of(m, id);
    if (r.ok() && r->state != SlideState::kScanning) return r;
    if (now_s() > deadline) return r.ok() ? Status::deadline_exceeded("still scanning") : r.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

size_t wait_acks(const std::string& ack_log, size_t n, double timeout_s) {
  double deadline = now_s() + timeout_s;
  size_t have = 0;
  while ((have = read_ack_log(ack_log).size()) < n && now_s() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return have;
}

}  // namespace vslide::testing
