// vslide scan: plays the microscope. Asks the slide manager for a scan,
// streams every colour field to the scan's slide proxy, ends the scan and
// prints the slide id and file. See docs/ACQUISITION.md.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include "args.h"
#include "scan_options.h"
#include "command.h"
#include "vslide/remote/protocol.h"
#include "progress.h"
#include "vslide/acquire/frame_prefetcher.h"
#include "vslide/acquire/scanner_client.h"
#include "vslide/acquire/simulated_scan.h"

namespace vslide::cli {
namespace {

int run_scan(int argc, char** argv) {
  acquire::ScannerOptions so;
  ScanArgs scan;
  std::string codec_s = "blosc-lz4-bitshuffle", name, resume_id;
  int threads = 0;
  bool simulate = false, json_out = false, quiet = false;
  ArgParser p("vslide scan --manager tcp://HOST:PORT --simulate [--rows 10 --cols 12 --channels 4 ...]",
              "Plays the microscope: begins a scan at the slide manager, streams every colour field\n"
              "(JSON metadata + Blosc-compressed pixels) to the scan's slide proxy, ends the scan and\n"
              "prints the slide id and file. --resume ID continues a scan after a crash of the scanner,\n"
              "sending only the planes the proxy has not acknowledged (same simulate options).");
  p.option("--manager", "ENDPOINT", "slide manager (default tcp://127.0.0.1:5560)", &so.manager);
  p.flag("--simulate", "use the synthetic scanner (the only camera this build has)", &simulate);
  add_scan_options(p, &scan);
  p.option("--name", "TEXT", "slide name (e.g. \"plate 3 well B4\")", &name);
  p.option("--fps", "F", "planes per second; 0 = as fast as possible (default 0)", &so.fps, 0.0, 1e6);
  p.option("--codec", "C", "wire codec: blosc-lz4-bitshuffle (default), blosc-zstd-bitshuffle, none", &codec_s);
  p.option("--window", "N", "planes in flight before waiting for acknowledgements (default 16)", &so.window, 1, 4096);
  p.option("--threads", "N", "render/compress threads (default: one per core)", &threads, 0, 1024);
  p.option("--reply-timeout", "S", "proxy silence that triggers a reconnect (default 3)", &so.reply_timeout_s, 0.05, 3600.0);
  p.option("--reconnect-timeout", "S", "give up after this long without a proxy (default 60)",
           &so.reconnect_timeout_s, 0.05, 86400.0);
  p.option("--resume", "ID", "continue scan ID after a scanner crash", &resume_id);
  p.option("--curve-secret-key", "FILE", "this scanner's key pair file (vslide keygen; its public key in the "
           "manager's --authorized-keys folder): CURVE to the manager and the scan's proxy", &so.curve_secret_key_file);
  p.option("--manager-key", "FILE", "with --curve-secret-key: the manager's public key file", &so.manager_key_file);
  p.option("--ack-log", "FILE", "append \"row col channel z t\" per acknowledged plane", &so.ack_log);
  p.option("--stall-timeout", "S", "give up when the server stores nothing (disk full) this long (default 60)",
           &so.stall_timeout_s);
  p.flag("--json", "print the result as JSON", &json_out);
  p.flag("--quiet", "no progress bar", &quiet);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (!simulate) {
    return p.usage_error("--simulate is required: this build has no camera driver "
                         "(a real driver speaks the protocol in docs/ACQUISITION.md)");
  }
  if (int rc = finish_scan_options(p, &scan); rc >= 0) return rc;
  if (so.window < 1 || so.window > 4096) return p.usage_error("--window must be 1-4096");
  if (Status s = remote::check_connect_address(so.manager); !s.ok()) return p.usage_error("--manager " + s.message());
  if (so.curve_secret_key_file.empty() != so.manager_key_file.empty()) {
    return p.usage_error("CURVE needs both --curve-secret-key and --manager-key");
  }
  if (!(so.reply_timeout_s > 0) || !(so.reconnect_timeout_s > 0) || !(so.stall_timeout_s > 0) || so.fps < 0) {
    return p.usage_error("--reply-timeout, --reconnect-timeout and --stall-timeout must be positive, --fps >= 0");
  }
  const ScanConfig& cfg = scan.config;
  auto codec = CodecSpec::parse(codec_s);
  if (!codec.ok()) return p.usage_error(codec.status().message());
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));

  SyntheticScanner scanner(cfg);
  acquire::ScanSpec spec = acquire::scan_spec_for(scanner, *codec);
  if (!name.empty()) spec.header.name = name;
  auto planes = acquire::planes_in_order(scanner);

  acquire::ScannerClient client(so);
  auto target = resume_id.empty() ? client.begin(spec) : client.resume(resume_id);
  if (!target.ok()) {
    std::cerr << "vslide scan: " << target.status().to_string() << "\n";
    return 1;
  }
  if (!quiet && !json_out) {
    std::cerr << "vslide scan: slide " << target->slide_id << " -> " << target->path << " via "
              << (target->proxy.empty() ? "(finished)" : target->proxy) << "\n";
  }
  acquire::FramePrefetcher frames(
      planes.size(),
      [&](size_t i) { return acquire::render_encoded(scanner, planes[i].key, *codec); }, threads,
      size_t(so.window + 2 * threads));
  ProgressBar bar("scan", planes.size(), !quiet && !json_out);
  auto t0 = std::chrono::steady_clock::now();
  auto report = client.stream(
      *target, spec, planes, [&](size_t i) { return frames.get(i); },
      [&](const acquire::ScanProgress& pr) {
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        char note[160];
        std::snprintf(note, sizeof(note), "sent %zu acked %zu  %.0f MB/s  backlog %llu fields, spool %llu MB",
                      pr.sent, pr.acked, s > 0 ? double(pr.raw_bytes_acked) / 1e6 / s : 0.0,
                      (unsigned long long)pr.backlog_fields, (unsigned long long)(pr.spool_bytes >> 20));
        bar.update(pr.acked, note);
      });
  bar.finish();
  if (!report.ok()) {
    std::cerr << "vslide scan: slide " << target->slide_id << ": " << report.status().to_string() << "\n";
    return 1;
  }
  for (const auto& e : report->errors) std::cerr << "vslide scan: rejected: " << e << "\n";
  if (json_out) {
    nlohmann::json j{{"slide_id", report->slide_id}, {"path", report->path},
                     {"state", report->state},       {"planes_acked", report->planes_acked},
                     {"planes_skipped", report->planes_skipped}, {"rejected", report->rejected},
                     {"reconnects", report->reconnects}, {"busy_replies", report->busy_replies},
                     {"planes_in_file", report->planes_in_file}, {"seconds", report->seconds},
                     {"planes_total", report->planes_total}, {"planes_missing", report->planes_missing},
                     {"errors", report->errors}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("slide %s  %s  state %s  %zu planes acknowledged (%zu already), %zu rejected, %.1f s\n",
                report->slide_id.c_str(), report->path.c_str(), report->state.c_str(), report->planes_acked,
                report->planes_skipped, report->rejected, report->seconds);
  }
  // Success means every plane of the scan is in a finished slide (complete,
  // or recovered after a crash on the server); failed never is.
  const bool whole = (report->state == "complete" || report->state == "recovered") && report->planes_missing == 0;
  if (!whole) {
    std::cerr << "vslide scan: slide " << report->slide_id << " is " << report->state << ": "
              << report->planes_missing << " of " << report->planes_total << " planes missing\n";
  }
  return report->rejected == 0 && whole ? 0 : 1;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("scan", "play the microscope: stream a (simulated) scan to the slide manager",
               vslide::cli::run_scan);
