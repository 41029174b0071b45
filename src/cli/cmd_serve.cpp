// vslide serve: the tile dealer. Serves slides by path and by catalog id,
// bound to an address or behind a broker (--connect).
#include <signal.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <iostream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "vslide/catalog/catalog.h"
#include "vslide/remote/protocol.h"
#include "vslide/remote/tile_server.h"

namespace vslide::cli {
namespace {

// Options that take a value: their next argument is not a slide path.
constexpr const char* kValueOptions[] = {"--catalog", "--bind", "--connect", "--workers", "--curve-secret-key",
                                         "--authorized-keys", "--max-queue", "--delay-ms", "--heartbeat-ms",
                                         "--send-buffer-kib", "--broker-key"};

void log_line(const std::string& line) {
  static std::mutex mutex;
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::lock_guard lock(mutex);
  std::cerr << stamp << " vslide serve: " << line << std::endl;
}

int run_serve(int argc, char** argv) {
  // Slide paths may appear anywhere among the options; pull them out first.
  std::vector<std::string> slides;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 || a == "-h") {
      rest.push_back(argv[i]);
      bool takes_value = a.find('=') == std::string::npos &&
                         std::find_if(std::begin(kValueOptions), std::end(kValueOptions),
                                      [&](const char* o) { return a == o; }) != std::end(kValueOptions);
      if (takes_value && i + 1 < argc) rest.push_back(argv[++i]);
    } else {
      slides.push_back(a);
    }
  }
  std::string catalog_url, curve_key, authorized, broker_key;
  remote::TileServerOptions options;
  bool recompress = false, json = false;
  int max_queue = int(options.max_queue);
  int send_buffer_kib = options.send_buffer_bytes >> 10;
  ArgParser p("vslide serve [SLIDE.h5 ...] [--catalog URL] (--bind ADDR | --connect ADDR) [--workers N]\n"
              "             [--curve-secret-key FILE (--authorized-keys DIR | --broker-key FILE)] [--json]",
              "Serves slides over ZeroMQ (docs/PROTOCOL.md) until SIGINT or SIGTERM. Slides are found by the\n"
              "slide id in their header, by their file name without .h5, and (with --catalog) by catalog id.\n"
              "Prints the bound address (with the real port when ADDR ends in :*) on stdout.");
  p.option("--catalog", "URL", "look up unknown slide ids in this catalog (sqlite:// or postgresql://)", &catalog_url);
  p.option("--bind", "ADDR", "address clients connect to, e.g. tcp://127.0.0.1:5555", &options.bind);
  p.option("--connect", "ADDR", "join a broker's backend instead of binding", &options.connect);
  p.option("--workers", "N", "worker threads (default 2)", &options.workers, 1, 256);
  p.option("--max-queue", "N", "requests that may wait for a worker before 'busy' replies", &max_queue, 1, 1 << 20);
  p.option("--curve-secret-key", "FILE", "server key pair file (vslide keygen): enables CURVE", &curve_key);
  p.option("--authorized-keys", "DIR", "folder of authorised client public key files (re-read at every\n"
           "connection: a removed key is refused from the next one)", &authorized);
  p.option("--broker-key", "FILE", "with --connect and --curve-secret-key: the broker's public key file", &broker_key);
  p.option("--heartbeat-ms", "N", "broker heartbeat interval (with --connect)", &options.heartbeat_ms, 10, 60000);
  p.option("--send-buffer-kib", "N", "kernel send buffer of the socket tiles leave on, in KiB (default 256;\n"
           "0 = autotuning, for long links)", &send_buffer_kib, 0, 1 << 20);
  p.option("--delay-ms", "N", "fault injection: answer every request N ms late", &options.fault_delay_ms, 0, 600000);
  p.flag("--recompress", "decode and re-encode tiles before sending (the paper's path; for benchmarks)", &recompress);
  p.flag("--json", "print the start-up line as JSON", &json);
  if (int rc = p.parse(int(rest.size()), rest.data()); rc >= 0) return rc;
  if (options.bind.empty() == options.connect.empty()) return p.usage_error("give exactly one of --bind and --connect");
  if (slides.empty() && catalog_url.empty()) return p.usage_error("nothing to serve: give slide files or --catalog");
  if (max_queue < 1) return p.usage_error("--max-queue must be at least 1");
  options.max_queue = size_t(max_queue);
  if (!kib_to_bytes(send_buffer_kib, &options.send_buffer_bytes)) return p.usage_error("--send-buffer-kib out of range");
  options.curve_secret_key_file = curve_key;
  options.authorized_keys_dir = authorized;
  options.broker_public_key_file = broker_key;
  if (!options.bind.empty()) {
    if (Status s = remote::check_bind_address(options.bind); !s.ok()) return p.usage_error("--bind " + s.message());
  } else if (Status s = remote::check_connect_address(options.connect); !s.ok()) {
    return p.usage_error("--connect " + s.message());
  }
  options.mode = recompress ? remote::ServeMode::kRecompress : remote::ServeMode::kStored;
  options.log = log_line;

  auto library = std::make_shared<remote::SlideLibrary>();
  for (const auto& path : slides) {
    if (Status s = library->add_file(path); !s.ok()) {
      std::cerr << "vslide serve: " << s.message() << "\n";
      return 1;
    }
  }
  if (!catalog_url.empty()) {
    auto catalog = open_catalog(catalog_url);
    if (!catalog.ok()) {
      std::cerr << "vslide serve: " << catalog.status().message() << "\n";
      return 1;
    }
    std::shared_ptr<Catalog> shared(std::move(catalog).value());
    library->set_resolver([shared](const std::string& id) -> Result<std::string> {
      auto record = shared->get(id);
      if (!record.ok()) return record.status();
      return record->path;
    });
  }

  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = remote::TileServer::start(library, options);
  if (!server.ok()) {
    std::cerr << "vslide serve: " << server.status().message() << "\n";
    return 1;
  }
  std::vector<std::string> ids;
  for (const auto& e : library->list()) ids.push_back(e.slide_id);
  if (json) {
    std::cout << nlohmann::json{{"endpoint", (*server)->endpoint()}, {"mode", options.bind.empty() ? "dealer" : "bound"},
                                {"slides", ids}, {"catalog", redact_catalog_url(catalog_url)}}.dump() << std::endl;
  } else {
    std::cout << "vslide serve: " << (options.bind.empty() ? "dealer for broker " : "serving at ")
              << (*server)->endpoint() << " (" << ids.size() << " slide(s)"
              << (catalog_url.empty() ? "" : " + catalog " + redact_catalog_url(catalog_url)) << ")" << std::endl;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log_line(std::string("stopping on ") + strsignal(sig) + "; served " + (*server)->status().dump());
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("serve", "serve slides over ZeroMQ (the tile dealer)", vslide::cli::run_serve);
