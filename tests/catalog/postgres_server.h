// A throwaway PostgreSQL server for the catalog tests: initdb into a fresh
// temp folder (owned by the postgres user when the tests run as root, since
// initdb refuses root), its own free port, its unix socket inside that folder,
// no TCP listener. Started once per test program, stopped at exit.
#pragma once

#include <string>

namespace vslide::testing {

class PostgresServer {
 public:
  // Starts the server or returns an error text (never skips silently: the
  // caller fails the test with that text).
  static PostgresServer* instance(std::string* error);

  // A fresh, empty database on the server; returns its connection URL.
  std::string create_database(std::string* error);
  void stop();

 private:
  PostgresServer() = default;
  std::string dir_;
  int port_ = 0;
  bool running_ = false;
  int next_db_ = 0;
};

}  // namespace vslide::testing
