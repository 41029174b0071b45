// vslide manager: the slide server's long-lived process (start), and the
// small clients that ask it for its state (status) or to stop (stop).
#include <csignal>
#include <cstdio>
#include <iostream>

#include "args.h"
#include "command.h"
#include "vslide/acquire/scanner_client.h"
#include "vslide/acquire/slide_manager.h"
#include "vslide/remote/protocol.h"

namespace vslide::cli {
namespace {

acquire::SlideManager* g_manager = nullptr;

extern "C" void on_stop_signal(int) {
  if (g_manager) g_manager->request_stop();
}

int run_manager(int argc, char** argv) {
  acquire::ManagerOptions o;
  std::string action = "start", connect = "tcp://127.0.0.1:5560", codec_s = "blosc-lz4-bitshuffle",
              durability = "process", curve_key, manager_key;
  int64_t max_buffer_mb = 2048, spool_max_mb = 65536;
  bool json_out = false;
  ArgParser p("vslide manager [start] --bind tcp://127.0.0.1:5560 --data-dir DIR [--catalog URL] ...\n"
              "             [--curve-secret-key MANAGER.key_secret --authorized-keys DIR]\n"
              "       vslide manager status|stop [--manager tcp://127.0.0.1:5560] [--json]\n"
              "             [--curve-secret-key MINE.key_secret --manager-key MANAGER.key]",
              "The slide manager: starts one slide writer process (slide proxy + writer) per scan, keeps\n"
              "it running, and records every slide in the catalog. On start it recovers unfinished scans\n"
              "(marked `recovered`). `stop` asks a running manager to exit; running scans go on; it is\n"
              "taken only from the local machine or, with CURVE, from an authorised key. With CURVE the\n"
              "manager and every scan's proxy admit only the scanner keys in --authorized-keys, and a\n"
              "scan takes fields only from the key that began it (docs/ACQUISITION.md).");
  p.positional("ACTION", "start (default), status or stop", &action, /*required=*/false);
  p.option("--bind", "ENDPOINT", "where scanners reach the manager (default tcp://127.0.0.1:5560)", &o.bind);
  p.option("--data-dir", "DIR", "folder of the slide files (and the default catalog)", &o.data_dir);
  p.option("--catalog", "URL",
           "sqlite:///path, postgresql://... or 'host=H dbname=D ...' (default sqlite://DATA/catalog.sqlite)",
           &o.catalog_url);
  p.option("--spool-dir", "DIR", "folder for the proxies' spools (default: DATA/.scans)", &o.spool_dir);
  // Every number ranged up front (issue 16): a cap of 0 or -1 must not turn
  // the cap off, nor 100000 writer threads reach the first scan.
  p.option("--max-buffer-mb", "MB", "per scan: fields held in memory before they spill (default 2048)",
           &max_buffer_mb, 0, int64_t(1) << 24);
  p.option("--spool-max-mb", "MB", "per scan: spool size before back-pressure (default 65536)", &spool_max_mb, 1,
           int64_t(1) << 30);
  p.option("--codec", "C", "codec of the slide files (default blosc-lz4-bitshuffle; gzip = the paper's)", &codec_s);
  p.option("--durability", "D", "process (default: survives any process kill) or power (fdatasync group "
           "commit: survives power loss)", &durability);
  p.option("--writer-threads", "N", "compression/write threads per writer (default 2)", &o.writer_threads, 1, 256);
  p.option("--idle-timeout", "S", "finish a scan whose scanner is silent this long as failed (default 3600; 0 = never)",
           &o.idle_timeout_s, 0.0, 1e7);
  p.option("--max-restarts", "N", "restarts of a dying writer before its scan fails (default 5)", &o.max_restarts, 0,
           1000);
  p.option("--max-scans", "N", "scans running at once before begin_scan is refused (default 8)", &o.max_scans, 1,
           1024);
  p.option("--recover-wait", "S", "a scan recovered at start-up waits this long for its scanner (default 10)",
           &o.recover_wait_s, 0.0, 86400.0);
  p.option("--curve-secret-key", "FILE", "start: the manager's key pair file (vslide keygen): enables CURVE on the "
           "manager and its proxies; status/stop: this client's key pair file", &curve_key);
  p.option("--authorized-keys", "DIR", "start: folder of authorised scanner public key files (re-read at every "
           "connection: a removed key is refused from the next one)", &o.authorized_keys_dir);
  p.option("--manager-key", "FILE", "status/stop with CURVE: the manager's public key file", &manager_key);
  p.option("--manager", "ENDPOINT", "status/stop: the manager to ask (default tcp://127.0.0.1:5560)", &connect);
  p.flag("--json", "status: machine-readable output", &json_out);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;

  if (action == "status" || action == "stop") {
    if (Status s = remote::check_connect_address(connect); !s.ok()) return p.usage_error("--manager " + s.message());
    acquire::ScannerOptions so;
    so.manager = connect;
    so.curve_secret_key_file = curve_key;
    so.manager_key_file = manager_key;
    acquire::ScannerClient client(so);
    auto r = client.ask_manager(nlohmann::json{{"type", action == "stop" ? "shutdown" : "status"}}, 5);
    if (r.ok()) {
      if (Status st = acquire::status_from_reply(*r); !st.ok()) r = st;
    }
    if (!r.ok()) {
      std::cerr << "vslide manager " << action << ": " << r.status().to_string() << "\n";
      return 1;
    }
    if (json_out || action == "stop") {
      std::cout << r->dump(2) << "\n";
      return 0;
    }
    std::printf("manager pid %d  data %s  catalog %s\n", (*r)["pid"].get<int>(),
                (*r)["data_dir"].get<std::string>().c_str(), (*r)["catalog"].get<std::string>().c_str());
    for (const auto& s : (*r)["scans"]) {
      std::printf("  %s  pid %d  %s%s  restarts %d  proxy %s\n", s["slide_id"].get<std::string>().c_str(),
                  s["pid"].get<int>(), s["mode"].get<std::string>().c_str(), s["adopted"].get<bool>() ? " (adopted)" : "",
                  s["restarts"].get<int>(), s["proxy"].get<std::string>().c_str());
    }
    return 0;
  }
  if (action != "start") return p.usage_error("unknown action '" + action + "' (start, status, stop)");
  if (o.data_dir.empty()) return p.usage_error("--data-dir is required");
  if (Status s = remote::check_bind_address(o.bind); !s.ok()) return p.usage_error("--bind " + s.message());
  if (!manager_key.empty()) return p.usage_error("--manager-key is for status and stop");
  if (curve_key.empty() != o.authorized_keys_dir.empty()) {
    return p.usage_error("CURVE needs both --curve-secret-key and --authorized-keys");
  }
  o.curve_secret_key_file = curve_key;
  if (max_buffer_mb < 0 || spool_max_mb <= 0) return p.usage_error("buffer and spool sizes must be positive");
  o.max_buffer_bytes = uint64_t(max_buffer_mb) << 20;
  o.spool_capacity_bytes = uint64_t(spool_max_mb) << 20;
  auto codec = CodecSpec::parse(codec_s);
  if (!codec.ok()) return p.usage_error(codec.status().message());
  o.file_codec = *codec;
  auto sync = acquire::parse_sync_mode(durability);
  if (!sync.ok()) return p.usage_error(sync.status().message());
  o.sync = *sync;

  auto manager = acquire::SlideManager::start(o);
  if (!manager.ok()) {
    std::cerr << "vslide manager: " << manager.status().to_string() << "\n";
    return 1;
  }
  g_manager = manager->get();
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::fprintf(stderr, "vslide manager: listening on %s, data %s\n", (*manager)->endpoint().c_str(),
               o.data_dir.c_str());
  Status st = (*manager)->run();
  g_manager = nullptr;
  if (!st.ok()) {
    std::cerr << "vslide manager: " << st.to_string() << "\n";
    return 1;
  }
  std::fprintf(stderr, "vslide manager: stopped (running scans go on in their writer processes)\n");
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("manager", "the slide manager: one slide writer per scan, catalog, recovery (start|status|stop)",
               vslide::cli::run_manager);
