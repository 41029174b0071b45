// vslide broker: many tile dealers behind one address.
#include <signal.h>

#include <cstring>
#include <ctime>
#include <iostream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "vslide/remote/broker.h"

namespace vslide::cli {
namespace {

void broker_log(const std::string& line) {
  static std::mutex mutex;
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::lock_guard lock(mutex);
  std::cerr << stamp << " vslide broker: " << line << std::endl;
}

int run_broker(int argc, char** argv) {
  remote::BrokerOptions options;
  bool json = false;
  int max_queue = int(options.max_queue);
  int send_buffer_kib = options.send_buffer_bytes >> 10;
  ArgParser p("vslide broker --frontend ADDR --backend ADDR [--heartbeat-ms N] [--json]\n"
              "              [--curve-secret-key FILE [--authorized-keys DIR] [--dealer-keys DIR]]",
              "Load-balances clients over tile dealers started with `vslide serve ... --connect BACKEND`.\n"
              "A dealer that stops answering heartbeats is dropped and its requests go to another.\n"
              "Runs until SIGINT or SIGTERM; prints the bound addresses on stdout.");
  p.option("--frontend", "ADDR", "address clients connect to", &options.frontend);
  p.option("--backend", "ADDR", "address dealers connect to", &options.backend);
  p.option("--heartbeat-ms", "N", "heartbeat interval (default 250)", &options.heartbeat_ms, 10, 60000);
  p.option("--max-queue", "N", "requests that may wait for a dealer before 'busy' replies", &max_queue, 1, 1 << 20);
  p.option("--curve-secret-key", "FILE", "the broker's key pair file (vslide keygen), for CURVE on either side",
           &options.curve_secret_key_file);
  p.option("--authorized-keys", "DIR", "CURVE on the frontend: folder of authorised client public key files",
           &options.authorized_keys_dir);
  p.option("--dealer-keys", "DIR", "CURVE on the backend: folder of authorised dealer public key files\n"
           "(required with --authorized-keys unless the backend is ipc://)", &options.dealer_keys_dir);
  p.option("--send-buffer-kib", "N", "kernel send buffer of the frontend in KiB (default 256; 0 = autotuning,\n"
           "for long links)", &send_buffer_kib, 0, 1 << 20);
  p.flag("--json", "print the addresses as JSON", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (options.frontend.empty() || options.backend.empty()) return p.usage_error("--frontend and --backend are required");
  if (options.heartbeat_ms < 10) return p.usage_error("--heartbeat-ms must be at least 10");
  if (max_queue < 1) return p.usage_error("--max-queue must be at least 1");
  options.max_queue = size_t(max_queue);
  if (!kib_to_bytes(send_buffer_kib, &options.send_buffer_bytes)) return p.usage_error("--send-buffer-kib out of range");
  options.log = broker_log;

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto broker = remote::Broker::start(options);
  if (!broker.ok()) {
    std::cerr << "vslide broker: " << broker.status().message() << "\n";
    return 1;
  }
  if (json) {
    std::cout << nlohmann::json{{"frontend", (*broker)->frontend_endpoint()},
                                {"backend", (*broker)->backend_endpoint()}}.dump() << std::endl;
  } else {
    std::cout << "vslide broker: frontend " << (*broker)->frontend_endpoint() << " backend "
              << (*broker)->backend_endpoint() << std::endl;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  broker_log(std::string("stopping on ") + strsignal(sig) + "; " + (*broker)->status().dump());
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("broker", "load-balance clients over several tile dealers", vslide::cli::run_broker);
