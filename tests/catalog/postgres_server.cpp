#include "postgres_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "common/testing.h"

namespace vslide::testing {
namespace {

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

int free_tcp_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// Runs a command as the postgres user when we are root, else as ourselves.
std::string as_pg_user(const std::string& cmd) {
  if (geteuid() == 0) return "runuser -u postgres -- " + cmd;
  return cmd;
}

struct Stopper {
  ~Stopper() {
    if (auto* s = PostgresServer::instance(nullptr)) s->stop();
  }
};

}  // namespace

PostgresServer* PostgresServer::instance(std::string* error) {
  static std::mutex mu;
  static PostgresServer* server = nullptr;
  static std::string start_error;
  static bool tried = false;
  std::lock_guard lock(mu);
  if (error == nullptr) return server;  // the stopper's query
  if (tried) {
    *error = start_error;
    return server;
  }
  tried = true;
  auto* s = new PostgresServer();
  char tmpl[] = "/tmp/vslide-pg-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    start_error = "mkdtemp failed";
    *error = start_error;
    return nullptr;
  }
  s->dir_ = tmpl;
  s->port_ = free_tcp_port();
  if (geteuid() == 0) {
    auto r = run_command("chown postgres:postgres " + s->dir_);
    if (r.exit_code != 0) start_error = "chown postgres " + s->dir_ + ": " + r.output;
  }
  if (start_error.empty()) {
    auto r = run_command(as_pg_user(std::string(kPgBin) + "/initdb -A trust -U postgres -D " + s->dir_ +
                                    "/data"));
    if (r.exit_code != 0) start_error = "initdb in " + s->dir_ + " failed: " + r.output;
  }
  if (start_error.empty()) {
    auto r = run_command(as_pg_user(std::string(kPgBin) + "/pg_ctl -D " + s->dir_ + "/data -l " + s->dir_ +
                                    "/log -w -t 60 -o \"-p " + std::to_string(s->port_) + " -k " + s->dir_ +
                                    " -c listen_addresses='' -c fsync=off\" start"));
    if (r.exit_code != 0) start_error = "pg_ctl start in " + s->dir_ + " failed: " + r.output;
  }
  if (!start_error.empty()) {
    *error = start_error;
    return nullptr;
  }
  s->running_ = true;
  server = s;
  static Stopper stopper;
  *error = "";
  return server;
}

std::string PostgresServer::create_database(std::string* error) {
  std::string name = "catalog_test_" + std::to_string(getpid()) + "_" + std::to_string(next_db_++);
  auto r = run_command(as_pg_user(std::string(kPgBin) + "/createdb -h " + dir_ + " -p " +
                                  std::to_string(port_) + " -U postgres " + name));
  if (r.exit_code != 0) {
    *error = "createdb " + name + " failed: " + r.output;
    return "";
  }
  return "postgresql:///" + name + "?host=" + dir_ + "&port=" + std::to_string(port_) + "&user=postgres";
}

void PostgresServer::stop() {
  if (!running_) return;
  running_ = false;
  auto r = run_command(as_pg_user(std::string(kPgBin) + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop"));
  (void)r;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace vslide::testing
