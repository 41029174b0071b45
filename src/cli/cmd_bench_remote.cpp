// vslide bench remote: the tile dealer on loopback against local reads, and
// against a server that decompresses and recompresses (the paper's path).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "args.h"
#include "bench_scratch.h"
#include "command.h"
#include "progress.h"
#include "vslide/remote/remote_slide.h"
#include "vslide/remote/tile_server.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p / 100.0 * double(v.size() - 1) + 0.5))];
}

// Fluorescence-like 12-bit content: dim noisy background, bright round cells.
Image16 synthetic_tile(int width, int height, uint64_t seed) {
  Image16 img(width, height);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&] { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; };
  for (size_t i = 0; i < img.pixel_count(); ++i) {
    uint64_t r = next();
    img.data()[i] = uint16_t(150 + (r & 63) + ((r >> 6) & 31));
  }
  const int cells = std::max(1, width * height / 90000);
  for (int c = 0; c < cells; ++c) {
    const int cx = int(next() % uint64_t(width)), cy = int(next() % uint64_t(height));
    const int radius = 15 + int(next() % 25), peak = 800 + int(next() % 2200);
    for (int y = std::max(0, cy - radius); y < std::min(height, cy + radius); ++y)
      for (int x = std::max(0, cx - radius); x < std::min(width, cx + radius); ++x) {
        const int d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        if (d2 < radius * radius) {
          const int v = img.at(x, y) + peak * (radius * radius - d2) / (radius * radius);
          img.at(x, y) = uint16_t(std::min(v, 4095));
        }
      }
  }
  return img;
}

Status write_bench_slide(const std::string& path, const std::string& id, int rows, int cols, int width, int height,
                         const CodecSpec& codec, bool quiet) {
  MosaicGeometry g;
  g.rows = rows;
  g.cols = cols;
  g.tile_width = width;
  g.tile_height = height;
  SlideHeader h;
  h.slide_id = id;
  h.name = "bench remote";
  CreateOptions opt;
  opt.codec = codec;
  opt.overwrite = true;
  VSLIDE_ASSIGN_OR_RETURN(auto slide, Hdf5Slide::create(path, h, g, default_channels(1), opt));
  ProgressBar bar("writing " + path, uint64_t(rows * cols), !quiet);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      VSLIDE_RETURN_IF_ERROR(slide->write_field(FieldOfView{r, c, c * 400.0, r * 340.0, 0, 0}));
      VSLIDE_RETURN_IF_ERROR(slide->write_plane(TileKey{r, c, 0, 0, 0, 0}, synthetic_tile(width, height, uint64_t(r * cols + c))));
      bar.add();
    }
  bar.finish();
  return slide->finish();
}

struct Latency {
  double p50 = 0, p99 = 0, mean = 0;
};

// Latency of several read paths over the same tiles, sample by sample in
// turn (path 0 tile n, path 1 tile n, ..., then tile n+1), so that every path
// sees the same machine load: on a shared machine load swings over seconds.
// The order rotates from one sample to the next (sample i starts with path
// i mod P), so that every path takes every place in the round equally: the
// place matters on this machine; with a fixed order the same remote path
// measured 0.1-0.3x (of local) slower right after the local read than one
// place later (docs/PERFORMANCE.md, "remote").
Result<std::vector<Latency>> measure_interleaved(int samples, int tiles, int cols,
                                                 const std::vector<std::function<Status(const TileKey&)>>& paths) {
  std::vector<std::vector<double>> ms(paths.size());
  for (int i = 0; i < samples; ++i) {
    const int n = i % tiles;
    const TileKey key{n / cols, n % cols, 0, 0, 0, 0};
    for (size_t q = 0; q < paths.size(); ++q) {
      const size_t p = (q + size_t(i)) % paths.size();
      auto t0 = Clock::now();
      if (Status s = paths[p](key); !s.ok()) return s;
      ms[p].push_back(ms_since(t0));
    }
  }
  std::vector<Latency> out;
  for (const auto& v : ms) {
    double sum = 0;
    for (double x : v) sum += x;
    out.push_back(Latency{percentile(v, 50), percentile(v, 99), sum / double(v.size())});
  }
  return out;
}

// Each of `clients` threads opens its own RemoteSlide and reads `per_client`
// tiles (stored chunks when `decode` is false). Returns raw-pixel MB/s.
Result<double> measure_throughput(const std::string& url, int clients, int per_client, int tiles, int cols,
                                  size_t plane_bytes, bool decode, bool tune_allocator) {
  std::vector<std::unique_ptr<remote::RemoteSlide>> slides;
  remote::RemoteSlideOptions opt;
  opt.cache_bytes = 0;
  opt.timeout_ms = 30000;
  opt.tune_allocator = tune_allocator;
  for (int c = 0; c < clients; ++c) {
    VSLIDE_ASSIGN_OR_RETURN(auto s, remote::RemoteSlide::open(url, opt));
    slides.push_back(std::move(s));
  }
  std::atomic<int> errors{0};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < per_client; ++i) {
        const int n = (c * 7 + i) % tiles;
        const TileKey k{n / cols, n % cols, 0, 0, 0, 0};
        bool ok = decode ? slides[size_t(c)]->read(k).ok() : slides[size_t(c)]->read_chunk(k).ok();
        if (!ok) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = ms_since(t0) / 1000.0;
  if (errors > 0) return Status::unavailable(url + ": " + std::to_string(errors.load()) + " failed reads");
  return double(clients) * per_client * double(plane_bytes) / 1e6 / seconds;
}

std::unique_ptr<remote::TileServer> start_server(const std::string& path, remote::ServeMode mode, int workers,
                                                 int send_buffer_bytes, const std::string& bind = "tcp://127.0.0.1:*") {
  auto library = std::make_shared<remote::SlideLibrary>();
  if (Status s = library->add_file(path); !s.ok()) {
    std::cerr << "vslide bench remote: " << s.message() << "\n";
    return nullptr;
  }
  remote::TileServerOptions o;
  o.bind = bind;
  o.workers = workers;
  o.send_buffer_bytes = send_buffer_bytes;
  o.mode = mode;
  o.log = [](const std::string&) {};
  auto server = remote::TileServer::start(library, o);
  if (!server.ok()) {
    std::cerr << "vslide bench remote: " << server.status().message() << "\n";
    return nullptr;
  }
  return std::move(server).value();
}

int run_bench_remote(int argc, char** argv) {
  std::string size = "2560x2160", codec_name = "blosc-lz4-bitshuffle", dir = "";
  int tile_parts = remote::RemoteSlideOptions{}.tile_parts;
  int send_buffer_kib = remote::kDefaultSendBufferBytes >> 10;
  int tiles_side = 4, samples = 300, per_client = 24, workers = 2, load_clients = 64, load_requests = 200;
  std::string load_size = "512x512";
  bool json_out = false;
  ArgParser p("vslide bench remote [--json] [--tile WxH] [--codec NAME] [--samples N] [--workers N]",
              "Loopback tile dealer against local reads: latency p50/p99 (target remote <= 1.5x local),\n"
              "throughput in MB/s of raw pixels with 1 and 4 clients (target >= 1000 with 4), both for a\n"
              "server sending stored chunks and for one that decompresses and recompresses (the paper's\n"
              "path, the baseline); then a load run of many clients with zero errors allowed.");
  p.option("--tile", "WxH", "tile size (default 2560x2160)", &size);
  p.option("--codec", "NAME", "codec of the bench slide (default blosc-lz4-bitshuffle)", &codec_name);
  p.option("--samples", "N", "latency samples per path (default 300)", &samples);
  p.option("--per-client", "N", "tiles each throughput client reads (default 24)", &per_client);
  p.option("--workers", "N", "server worker threads (default 2)", &workers);
  p.option("--tile-parts", "N", "parts the remote client streams each tile in (default 4, RemoteSlideOptions::tile_parts;\n"
           "1 = one request per tile)", &tile_parts);
  p.option("--send-buffer-kib", "N", "servers' kernel send buffer in KiB (default 256, TileServerOptions::send_buffer_bytes;\n"
           "0 = autotuning); a server with an autotuned buffer is measured beside it", &send_buffer_kib);
  p.option("--load-clients", "N", "clients in the load run (default 64)", &load_clients);
  p.option("--load-requests", "N", "requests per load client (default 200)", &load_requests);
  p.option("--load-tile", "WxH", "tile size in the load run (default 512x512)", &load_size);
  p.option("--dir", "DIR",
           "existing folder in which the bench makes (and afterwards removes) its own fresh subfolder "
           "vslide-bench-remote-XXXXXX; nothing else in DIR is touched (default $TMPDIR or /tmp)",
           &dir);
  p.flag("--json", "print the results as JSON", &json_out);
  bool no_tune = false;
  p.flag("--no-allocator-tuning", "leave glibc's malloc thresholds alone (RemoteSlideOptions::tune_allocator)", &no_tune);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  int width = 0, height = 0, lw = 0, lh = 0;
  if (!parse_size(size, &width, &height)) return p.usage_error("bad --tile '" + size + "'");
  if (!parse_size(load_size, &lw, &lh)) return p.usage_error("bad --load-tile '" + load_size + "'");
  if (samples < 1 || per_client < 1 || workers < 1 || load_clients < 1 || load_requests < 1 || tile_parts < 1) {
    return p.usage_error("counts must be positive");
  }
  int send_buffer = 0;
  if (!kib_to_bytes(send_buffer_kib, &send_buffer)) return p.usage_error("--send-buffer-kib out of range");
  if (Status s = remote::check_send_buffer(send_buffer, "--send-buffer-kib"); !s.ok()) return p.usage_error(s.message());
  auto codec = CodecSpec::parse(codec_name);
  if (!codec.ok()) return p.usage_error(codec.status().message());
  auto fail = [](const Status& s) {
    std::cerr << "vslide bench remote: " << s.message() << "\n";
    return 1;
  };
  // A fresh subfolder of --dir holds the bench slides and sockets; only it is removed.
  auto scratch = BenchScratch::create(dir, "remote");
  if (!scratch.ok()) return fail(scratch.status());
  dir = scratch->path().string();
  const std::string tag = std::to_string(::getpid());
  const std::string path = dir + "/vslide-bench-remote-" + tag + ".h5";
  const std::string load_path = dir + "/vslide-bench-remote-load-" + tag + ".h5";

  const int tiles = tiles_side * tiles_side;
  if (Status s = write_bench_slide(path, "vs-bench-remote", tiles_side, tiles_side, width, height, *codec, json_out); !s.ok()) return fail(s);
  if (Status s = write_bench_slide(load_path, "vs-bench-load", 8, 8, lw, lh, *codec, json_out); !s.ok()) return fail(s);
  if (!no_tune) remote::tune_allocator_for_tiles();  // before any measurement, local ones included
  auto local = Hdf5Slide::open(path);
  if (!local.ok()) return fail(local.status());
  const size_t plane_bytes = (*local)->geometry().plane_bytes();
  const double ratio = double((*local)->bytes_raw()) / double(std::max<uint64_t>(1, (*local)->bytes_stored()));

  // Warm the page cache and the allocator.
  for (int n = 0; n < tiles; ++n) (void)(*local)->read(TileKey{n / tiles_side, n % tiles_side, 0, 0, 0, 0});

  json out{{"allocator_tuning", !no_tune}, {"tile", size}, {"codec", codec->name()}, {"compression_ratio", ratio},
           {"workers", workers}, {"tile_parts", tile_parts}, {"send_buffer_kib", send_buffer_kib}};
  ProgressBar bar("bench remote", 2, !json_out);
  for (auto mode : {remote::ServeMode::kStored, remote::ServeMode::kRecompress}) {
    const bool stored = mode == remote::ServeMode::kStored;
    const char* name = stored ? "stored" : "recompress";
    auto server = start_server(path, mode, workers, send_buffer);
    if (!server) return 1;
    const std::string url = server->endpoint() + "/vs-bench-remote";
    remote::RemoteSlideOptions opt;  // defaults: large tiles streamed in parts
    opt.cache_bytes = 0;
    opt.timeout_ms = 30000;
    opt.tune_allocator = !no_tune;
    opt.tile_parts = tile_parts;
    auto remote = remote::RemoteSlide::open(url, opt);
    if (!remote.ok()) return fail(remote.status());
    // The same client asking for each tile in one request, for comparison.
    remote::RemoteSlideOptions single_opt = opt;
    single_opt.tile_parts = 1;
    auto single = remote::RemoteSlide::open(url, single_opt);
    if (!single.ok()) return fail(single.status());
    // Stored mode only: the same server's slide over a Unix socket, for clients on its host.
    std::unique_ptr<remote::TileServer> ipc_server;
    std::unique_ptr<remote::RemoteSlide> ipc;
    // Stored mode only: the same over TCP from a server whose send buffer the
    // kernel autotunes (up to 4 MiB), the setting before TileServerOptions::send_buffer_bytes.
    std::unique_ptr<remote::TileServer> autotuned_server;
    std::unique_ptr<remote::RemoteSlide> autotuned;
    if (stored) {
      ipc_server = start_server(path, mode, workers, send_buffer, "ipc://" + dir + "/vslide-bench-remote-" + tag + ".sock");
      if (!ipc_server) return 1;
      auto r = remote::RemoteSlide::open(ipc_server->endpoint() + "/vs-bench-remote", opt);
      if (!r.ok()) return fail(r.status());
      ipc = std::move(r).value();
      if (send_buffer != 0) {
        autotuned_server = start_server(path, mode, workers, 0);
        if (!autotuned_server) return 1;
        auto a = remote::RemoteSlide::open(autotuned_server->endpoint() + "/vs-bench-remote", opt);
        if (!a.ok()) return fail(a.status());
        autotuned = std::move(a).value();
      }
    }
    for (int n = 0; n < tiles; ++n) {
      (void)(*remote)->read(TileKey{n / tiles_side, n % tiles_side, 0, 0, 0, 0});
      (void)(*single)->read(TileKey{n / tiles_side, n % tiles_side, 0, 0, 0, 0});
      if (ipc) (void)ipc->read(TileKey{n / tiles_side, n % tiles_side, 0, 0, 0, 0});
      if (autotuned) (void)autotuned->read(TileKey{n / tiles_side, n % tiles_side, 0, 0, 0, 0});
    }
    // Every path decodes into a fresh Image16 with one Blosc thread, from a
    // warm page cache (local) or a warm server (remote), over the same tiles.
    auto lat = measure_interleaved(samples, tiles, tiles_side,
                                   {[&](const TileKey& k) { return (*local)->read(k).status(); },
                                    [&](const TileKey& k) { return (*remote)->read(k).status(); },
                                    [&](const TileKey& k) { return (*single)->read(k).status(); },
                                    // Transport alone: the stored chunk, not decoded.
                                    [&](const TileKey& k) { return (*local)->read_chunk(k).status(); },
                                    [&](const TileKey& k) { return (*remote)->read_chunk(k).status(); },
                                    [&](const TileKey& k) { return ipc ? ipc->read(k).status() : Status(); },
                                    [&](const TileKey& k) { return autotuned ? autotuned->read(k).status() : Status(); }});
    if (!lat.ok()) return fail(lat.status());
    const Latency &loc = (*lat)[0], &rem = (*lat)[1], &one = (*lat)[2], &loc_chunk = (*lat)[3], &rem_chunk = (*lat)[4],
                  &unix_socket = (*lat)[5], &autotuned_tcp = (*lat)[6];
    auto t1 = measure_throughput(url, 1, per_client, tiles, tiles_side, plane_bytes, false, !no_tune);
    auto t4 = measure_throughput(url, 4, per_client, tiles, tiles_side, plane_bytes, false, !no_tune);
    auto t4d = measure_throughput(url, 4, per_client / 2 + 1, tiles, tiles_side, plane_bytes, true, !no_tune);
    if (!t1.ok()) return fail(t1.status());
    if (!t4.ok()) return fail(t4.status());
    if (!t4d.ok()) return fail(t4d.status());
    if (stored) {
      out["local"] = json{{"p50_ms", loc.p50}, {"p99_ms", loc.p99}, {"chunk_p50_ms", loc_chunk.p50},
                          {"chunk_p99_ms", loc_chunk.p99}};
    }
    if (stored) {
      out["ipc"] = json{{"p50_ms", unix_socket.p50}, {"p99_ms", unix_socket.p99},
                        {"p50_vs_local", unix_socket.p50 / loc.p50}, {"p99_vs_local", unix_socket.p99 / loc.p99}};
      if (autotuned) {
        out["autotuned_send_buffer"] =
            json{{"p50_ms", autotuned_tcp.p50}, {"p99_ms", autotuned_tcp.p99}, {"p50_vs_local", autotuned_tcp.p50 / loc.p50},
                 {"p99_vs_local", autotuned_tcp.p99 / loc.p99}};
      }
    }
    out[name] = json{{"p50_ms", rem.p50}, {"p99_ms", rem.p99}, {"p50_vs_local", rem.p50 / loc.p50},
                     {"p99_vs_local", rem.p99 / loc.p99}, {"local_p50_ms", loc.p50}, {"local_p99_ms", loc.p99},
                     {"one_request_p50_ms", one.p50}, {"one_request_p99_ms", one.p99},
                     {"one_request_p50_vs_local", one.p50 / loc.p50}, {"one_request_p99_vs_local", one.p99 / loc.p99},
                     {"chunk_p50_ms", rem_chunk.p50}, {"chunk_p99_ms", rem_chunk.p99},
                     {"chunks_1_client_MBps", *t1}, {"chunks_4_clients_MBps", *t4}, {"decoded_4_clients_MBps", *t4d}};
    bar.add();
  }
  bar.finish();
  out["stored_vs_recompress_4_clients"] =
      out["stored"]["chunks_4_clients_MBps"].get<double>() / out["recompress"]["chunks_4_clients_MBps"].get<double>();

  // Load run: many clients, small tiles, no error allowed.
  {
    auto server = start_server(load_path, remote::ServeMode::kStored, workers, send_buffer);
    if (!server) return 1;
    const std::string url = server->endpoint() + "/vs-bench-load";
    std::vector<std::unique_ptr<remote::RemoteSlide>> clients;
    remote::RemoteSlideOptions opt;
    opt.cache_bytes = 0;
    opt.timeout_ms = 30000;
    opt.tune_allocator = !no_tune;
    for (int c = 0; c < load_clients; ++c) {
      auto r = remote::RemoteSlide::open(url, opt);
      if (!r.ok()) return fail(r.status());
      clients.push_back(std::move(r).value());
    }
    std::vector<std::vector<double>> lat(static_cast<size_t>(load_clients));
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    auto t0 = Clock::now();
    for (int c = 0; c < load_clients; ++c) {
      threads.emplace_back([&, c] {
        for (int i = 0; i < load_requests; ++i) {
          const int n = (c * 13 + i) % 64;
          auto t = Clock::now();
          if (!clients[size_t(c)]->read_chunk(TileKey{n / 8, n % 8, 0, 0, 0, 0}).ok()) ++errors;
          lat[size_t(c)].push_back(ms_since(t));
        }
      });
    }
    for (auto& t : threads) t.join();
    const double seconds = ms_since(t0) / 1000.0;
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    const double n = double(load_clients) * load_requests;
    out["load"] = json{{"clients", load_clients}, {"requests_per_client", load_requests}, {"tile", load_size},
                       {"errors", errors.load()}, {"p50_ms", percentile(all, 50)}, {"p99_ms", percentile(all, 99)},
                       {"requests_per_s", n / seconds},
                       {"MBps", n * double(lw) * double(lh) * 2 / 1e6 / seconds}};
  }

  if (json_out) {
    std::cout << out.dump(2) << "\n";
  } else {
    const auto& st = out["stored"];
    const auto& rc = out["recompress"];
    std::printf("vslide bench remote: %s tiles, %s (ratio %.2f), %d server workers, %d KiB send buffer, loopback\n",
                size.c_str(), codec->name().c_str(), ratio, workers, send_buffer_kib);
    const auto& lo = out["local"];
    std::printf("  latency p50 / p99 (ms)      local %7.2f / %7.2f\n", lo["p50_ms"].get<double>(),
                lo["p99_ms"].get<double>());
    std::printf("                              remote %6.2f / %7.2f   (%.2fx / %.2fx local; target <= 1.5x; %d parts)\n",
                st["p50_ms"].get<double>(), st["p99_ms"].get<double>(), st["p50_vs_local"].get<double>(),
                st["p99_vs_local"].get<double>(), tile_parts);
    std::printf("                              one request per tile %6.2f / %7.2f  (%.2fx / %.2fx local)\n",
                st["one_request_p50_ms"].get<double>(), st["one_request_p99_ms"].get<double>(),
                st["one_request_p50_vs_local"].get<double>(), st["one_request_p99_vs_local"].get<double>());
    std::printf("                              ipc:// %6.2f / %7.2f   (%.2fx / %.2fx local; same-host clients)\n",
                out["ipc"]["p50_ms"].get<double>(), out["ipc"]["p99_ms"].get<double>(),
                out["ipc"]["p50_vs_local"].get<double>(), out["ipc"]["p99_vs_local"].get<double>());
    if (out.contains("autotuned_send_buffer")) {
      const auto& at = out["autotuned_send_buffer"];
      std::printf("                              autotuned send buffer %5.2f / %7.2f  (%.2fx / %.2fx local; the server before)\n",
                  at["p50_ms"].get<double>(), at["p99_ms"].get<double>(), at["p50_vs_local"].get<double>(),
                  at["p99_vs_local"].get<double>());
    }
    std::printf("                              recompress %6.2f / %7.2f  (%.2fx / %.2fx its local %.2f / %.2f)\n",
                rc["p50_ms"].get<double>(), rc["p99_ms"].get<double>(), rc["p50_vs_local"].get<double>(),
                rc["p99_vs_local"].get<double>(), rc["local_p50_ms"].get<double>(), rc["local_p99_ms"].get<double>());
    std::printf("  stored chunk only, p50 / p99 (ms): local %.2f / %.2f, remote %.2f / %.2f, recompress %.2f / %.2f\n",
                lo["chunk_p50_ms"].get<double>(), lo["chunk_p99_ms"].get<double>(), st["chunk_p50_ms"].get<double>(),
                st["chunk_p99_ms"].get<double>(), rc["chunk_p50_ms"].get<double>(), rc["chunk_p99_ms"].get<double>());
    std::printf("  throughput, raw MB/s        stored: 1 client %7.0f, 4 clients %7.0f (target >= 1000), 4 decoding %7.0f\n",
                st["chunks_1_client_MBps"].get<double>(), st["chunks_4_clients_MBps"].get<double>(),
                st["decoded_4_clients_MBps"].get<double>());
    std::printf("                              recompress: 1 client %7.0f, 4 clients %7.0f, 4 decoding %7.0f\n",
                rc["chunks_1_client_MBps"].get<double>(), rc["chunks_4_clients_MBps"].get<double>(),
                rc["decoded_4_clients_MBps"].get<double>());
    std::printf("  stored / recompress, 4 clients: %.1fx\n", out["stored_vs_recompress_4_clients"].get<double>());
    const auto& ld = out["load"];
    std::printf("  load: %d clients x %d requests of %s tiles: %d errors, p50 %.2f ms, p99 %.2f ms, %.0f req/s\n",
                load_clients, load_requests, load_size.c_str(), ld["errors"].get<int>(), ld["p50_ms"].get<double>(),
                ld["p99_ms"].get<double>(), ld["requests_per_s"].get<double>());
  }
  return out["load"]["errors"].get<int>() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_BENCH("remote", "tile dealer on loopback vs local reads and a recompressing server", vslide::cli::run_bench_remote);
