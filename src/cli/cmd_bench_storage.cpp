// vslide bench storage: the fast path against what stock HDF5 users get, same
// tiles, same run, each figure named for what it measures:
//  - write throughput (MB/s of raw pixels);
//  - single-tile read latency: one thread reads one tile at a time, p50/p99,
//    from the page cache and cold from disk (the file's pages evicted with
//    posix_fadvise(POSIX_FADV_DONTNEED) before each read);
//  - multi-thread read throughput: T threads read all tiles (page cache).
// Read paths: vslide's fast path (mapped chunks, own Blosc decode), stock
// HDF5 H5Dread of the *same* Blosc file through the registered filter 32001
// plugin (what h5py users get), HDF5 gzip (shuffle + deflate) at the
// paper-era level, and uncompressed H5Dread. Every path's read-back is
// compared with what was written.
#include <blosc.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

#include "args.h"
#include "bench_scratch.h"
#include "bench_util.h"
#include "command.h"
#include "parallel.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/codec.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/storage/pipeline_slide.h"
#include "vslide/storage/tiff_io.h"

namespace vslide::cli {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Thrown on the first failure; caught in run_bench_storage so the scratch folder is removed.
struct BenchFailure {
  Status status;
};
void check(const Status& s) {
  if (!s.ok()) throw BenchFailure{s};
}

template <typename Fn>
double median_of(int repeat, Fn fn) {
  std::vector<double> v;
  for (int i = 0; i < repeat; ++i) v.push_back(fn());
  return median(v);
}

struct Bench {
  int ntiles = 16, gzip_tiles = 3, repeat = 3, cold_samples = 6, gzip_level = 6;
  unsigned threads = 1;
  std::vector<Image16> tiles;
  std::vector<FieldOfView> fields;
  std::vector<Image16> out;  // read buffers, reused (as a tile cache reads)
  double tile_mb = 0;
  TileKey key(size_t i) const { return TileKey{fields[i].row, fields[i].col, 0, 0, 0, 0}; }
};

// One way of reading tile i into `out` (opened afresh by `open`, so a cold
// read can close the file, evict it and reopen it untimed).
struct ReadPath {
  std::string name, file;
  int tiles = 0;
  std::function<void()> open, close;
  std::function<Status(size_t i, Image16& out)> read;
  bool parallel_ok = true;
};

json measure_read(Bench& b, ReadPath& p) {
  json r;
  p.open();
  // Single-tile latency, page cache: one read at a time on one thread.
  std::vector<double> ms;
  for (int rep = 0; rep < b.repeat; ++rep) {
    for (int i = 0; i < p.tiles; ++i) {
      const auto t0 = Clock::now();
      check(p.read(size_t(i), b.out[size_t(i)]));
      ms.push_back(seconds_since(t0) * 1e3);
    }
  }
  size_t same = 0;
  for (int i = 0; i < p.tiles; ++i) same += b.out[size_t(i)] == b.tiles[size_t(i)];
  r["identical_tiles"] = same;
  r["tiles"] = p.tiles;
  r["read_back_equals_written"] = same == size_t(p.tiles);
  r["latency_ms_p50"] = percentile(ms, 0.5);
  r["latency_ms_p99"] = percentile(ms, 0.99);
  r["latency_samples"] = ms.size();
  // Multi-thread throughput, page cache.
  const double secs = median_of(b.repeat, [&] {
    const auto t0 = Clock::now();
    check(parallel_for(size_t(p.tiles), p.parallel_ok ? b.threads : 1,
                       [&](size_t i) { return p.read(i, b.out[i]); }));
    return seconds_since(t0);
  });
  r["throughput_mb_s"] = b.tile_mb * p.tiles / secs;
  r["throughput_threads"] = b.threads;
  // Cold from disk: close, evict the file's pages, reopen (untimed), read one tile.
  std::vector<double> cold;
  double resident = -1;
  for (int s = 0; s < b.cold_samples; ++s) {
    p.close();
    check(evict_from_page_cache(p.file));
    if (s == 0) resident = resident_fraction(p.file);
    p.open();
    const size_t i = size_t(s % p.tiles);
    const auto t0 = Clock::now();
    check(p.read(i, b.out[i]));
    cold.push_back(seconds_since(t0) * 1e3);
    if (!(b.out[i] == b.tiles[i])) r["read_back_equals_written"] = false;
  }
  p.close();
  r["cold_latency_ms_p50"] = percentile(cold, 0.5);
  r["cold_latency_ms_p99"] = percentile(cold, 0.99);
  r["cold_samples"] = cold.size();
  r["resident_after_eviction"] = resident;
  return r;
}

// Writes the fast-path slide, then measures every read path on it and on the HDF5 pipeline files.
json bench_layout(Bench& b, const SyntheticScanner& scanner, Layout layout, const fs::path& dir) {
  const std::string ln(layout_name(layout));
  const std::string path = (dir / ("fast-" + ln + ".h5")).string();
  const CodecSpec fast = *CodecSpec::parse("blosc-lz4-bitshuffle");
  const MosaicGeometry g = scanner.geometry();
  json L;
  const double write_s = median_of(b.repeat, [&] {
    const auto t0 = Clock::now();
    CreateOptions opt;
    opt.layout = layout;
    opt.codec = fast;
    opt.overwrite = true;  // a file of our own scratch folder
    auto s = Hdf5Slide::create(path, scanner.header(), g, scanner.channels(), opt);
    check(s.status());
    for (const auto& f : b.fields) check((*s)->write_field(f));
    check(parallel_for(size_t(b.ntiles), b.threads, [&](size_t i) { return (*s)->write_plane(b.key(i), b.tiles[i]); }));
    check((*s)->finish());
    return seconds_since(t0);
  });
  L["write"]["vslide fast path (Blosc lz4 bit-shuffle on " + std::to_string(b.threads) + " threads + H5Dwrite_chunk)"] =
      b.tile_mb * b.ntiles / write_s;

  std::vector<int64_t> slots(size_t(b.ntiles));
  {
    auto s = Hdf5Slide::open(path);
    check(s.status());
    for (int i = 0; i < b.ntiles; ++i) slots[size_t(i)] = (*s)->index()->find(b.fields[size_t(i)].row, b.fields[size_t(i)].col)->slot;
  }
  std::unique_ptr<Hdf5Slide> fast_slide;
  std::unique_ptr<PipelineSlide> pipe;
  auto pipe_path = [&](const std::string& name, const std::string& file, const std::string& dataset, int n) {
    ReadPath p{name, file, n, nullptr, nullptr, nullptr, true};
    p.open = [&, file, dataset] {
      auto ps = PipelineSlide::open(file, g, layout, dataset);
      check(ps.status());
      pipe = std::move(ps).value();
    };
    p.close = [&] { pipe.reset(); };
    p.read = [&](size_t i, Image16& out) -> Status {
      auto img = pipe->read(b.key(i), slots[i]);
      if (!img.ok()) return img.status();
      out = std::move(img).value();
      return Status();
    };
    return p;
  };
  std::vector<ReadPath> paths;
  paths.push_back(ReadPath{"vslide fast path (mapped chunks, own Blosc decode)", path, b.ntiles,
                           [&] {
                             auto s = Hdf5Slide::open(path);
                             check(s.status());
                             fast_slide = std::move(s).value();
                           },
                           [&] { fast_slide.reset(); },
                           [&](size_t i, Image16& out) {
                             return fast_slide->read_into(b.key(i), {out.data(), out.pixel_count()});
                           },
                           true});
  paths.push_back(pipe_path("stock HDF5 H5Dread, same Blosc file (filter 32001 plugin, as h5py)", path, "mosaic/level0",
                            b.ntiles));
  // The pipeline files (gzip at the paper-era level, and uncompressed), written through H5Dwrite.
  auto write_pipe = [&](const CodecSpec& codec, int n, const std::string& label) {
    const std::string pp = (dir / ("pipe-" + ln + "-" + codec.name() + ".h5")).string();
    const double ws = median_of(codec.family == CodecFamily::kGzip ? 1 : b.repeat, [&] {
      const auto t0 = Clock::now();
      auto ps = PipelineSlide::create(pp, g, layout, codec);
      check(ps.status());
      for (int i = 0; i < n; ++i) check((*ps)->write(b.key(size_t(i)), slots[size_t(i)], b.tiles[size_t(i)]));
      ps = Status::internal("closed");  // closing flushes HDF5's chunk cache: the last chunks compress here
      return seconds_since(t0);
    });
    L["write"][label + " (H5Dwrite, 1 thread)"] = b.tile_mb * n / ws;
    L["ratio"][label] = b.tile_mb * n * 1e6 / double(fs::file_size(pp));
    return pp;
  };
  const std::string gz_label = "stock HDF5 gzip-" + std::to_string(b.gzip_level) + " (shuffle + deflate)";
  const std::string gz = write_pipe(*CodecSpec::parse("gzip:" + std::to_string(b.gzip_level)), b.gzip_tiles, gz_label);
  const std::string raw = write_pipe(CodecSpec::none(), b.ntiles, "stock HDF5 uncompressed");
  paths.push_back(pipe_path("stock HDF5 H5Dread, " + gz_label.substr(11), gz, "pixels", b.gzip_tiles));
  paths.push_back(pipe_path("stock HDF5 H5Dread, uncompressed", raw, "pixels", b.ntiles));
  for (ReadPath& p : paths) L["read"][p.name] = measure_read(b, p);
  L["ratio"]["vslide Blosc lz4 bit-shuffle"] = b.tile_mb * b.ntiles * 1e6 / double(fs::file_size(path));
  return L;
}

void print_storage_report(const json& j) {
  const unsigned T = j["threads"].get<unsigned>();
  std::printf("bench storage: %d tiles of %.1f MB, %u threads, medians of %d runs (shared machine: +-30%%)\n",
              j["tiles"].get<int>(), j["tile_mb"].get<double>(), T, j["repeat"].get<int>());
  std::printf("references: memcpy %.0f MB/s (1 thread); raw Blosc lz4 bit-shuffle compress %.0f MB/s, decompress "
              "%.0f MB/s (%u threads, one tile each)\n",
              j["memcpy_mb_s_1_thread"].get<double>(), j["blosc_compress_mb_s"].get<double>(),
              j["blosc_decompress_mb_s"].get<double>(), T);
  for (auto& [ln, L] : j["layouts"].items()) {
    std::printf("\nlayout %s\n  write throughput, MB/s of raw pixels:\n", ln.c_str());
    for (auto& [name, v] : L["write"].items()) std::printf("    %-86s %8.0f\n", name.c_str(), v.get<double>());
    std::printf("  read, one %.1f MB tile at a time on 1 thread (latency, ms) and all tiles on %u threads (MB/s):\n",
                j["tile_mb"].get<double>(), T);
    std::printf("    %-70s %8s %8s %8s %8s %9s %s\n", "path", "p50", "p99", "cold p50", "cold p99", "MB/s",
                "read back");
    const json* fast = nullptr;
    for (auto& [name, r] : L["read"].items()) {
      if (name.rfind("vslide", 0) == 0) fast = &r;
      std::printf("    %-70s %8.2f %8.2f %8.2f %8.2f %9.0f %s\n", name.c_str(), r["latency_ms_p50"].get<double>(),
                  r["latency_ms_p99"].get<double>(), r["cold_latency_ms_p50"].get<double>(),
                  r["cold_latency_ms_p99"].get<double>(), r["throughput_mb_s"].get<double>(),
                  r["read_back_equals_written"].get<bool>() ? "identical" : "DIFFERS");
    }
    if (fast) {
      std::printf("  vslide fast path against each (p50 latency ratio | throughput ratio):\n");
      for (auto& [name, r] : L["read"].items()) {
        if (&r == fast) continue;
        std::printf("    %-70s %7.1fx | %7.1fx\n", name.c_str(),
                    r["latency_ms_p50"].get<double>() / (*fast)["latency_ms_p50"].get<double>(),
                    (*fast)["throughput_mb_s"].get<double>() / r["throughput_mb_s"].get<double>());
      }
      const double res = (*fast)["resident_after_eviction"].get<double>();
      std::printf("  cold: file evicted before each read (posix_fadvise DONTNEED); %s of the fast file still "
                  "in the page cache after eviction\n",
                  res < 0 ? "unknown share" : (std::to_string(int(res * 100 + 0.5)) + "%").c_str());
    }
    std::printf("  compression ratio:");
    for (auto& [name, v] : L["ratio"].items()) std::printf(" %s %.2f;", name.c_str(), v.get<double>());
    std::printf("\n");
  }
  if (j.contains("real_image_ratios")) {
    std::printf("\nreal images, compression ratio:\n");
    for (auto& [name, r] : j["real_image_ratios"].items()) {
      std::printf("  %-22s", name.c_str());
      for (auto& [c, v] : r.items()) std::printf(" %s %.2f", c.c_str(), v.get<double>());
      std::printf("\n");
    }
  }
}

int run(int argc, char** argv) {
  Bench b;
  int threads = 0;
  std::string tile = "2560x2160", dir_s, layouts_s = "linear,packed,grid";
  bool json_out = false;
  ArgParser p("vslide bench storage [--tiles N] [--dir DIR] [--json]",
              "Write and read the same synthetic tiles through vslide's fast path and through stock HDF5\n"
              "(H5Dread of the same Blosc file via the registered filter 32001 plugin, as h5py users get;\n"
              "gzip at the paper-era level; uncompressed). Named figures: write MB/s; single-tile read\n"
              "latency p50/p99 on one thread, from the page cache and cold from disk (the file's pages\n"
              "evicted with posix_fadvise DONTNEED before each read); multi-thread read throughput.\n"
              "Every path's read-back is compared with what was written.");
  p.option("--tiles", "N", "tiles per run (default 16)", &b.ntiles);
  p.option("--gzip-tiles", "N", "tiles for the slow gzip baseline (default 3)", &b.gzip_tiles);
  p.option("--gzip-level", "L", "deflate level of the baseline (default 6, the paper-era tools' level)", &b.gzip_level);
  p.option("--tile", "WxH",
           "tile size (default 2560x2160; a chunk is one tile, so tiles under 1 MB fit HDF5's default "
           "chunk cache and the stock-HDF5 figures then flatter it)",
           &tile);
  p.option("--repeat", "N", "runs per figure: medians, and latency samples per tile (default 3)", &b.repeat);
  p.option("--cold-samples", "N", "cold-from-disk reads per path (default 6)", &b.cold_samples);
  p.option("--threads", "N", "threads for writes and throughput, every path (default: one per core)", &threads);
  p.option("--layouts", "L,..", "layouts to measure (default linear,packed,grid)", &layouts_s);
  p.option("--dir", "DIR",
           "existing folder in which the bench makes (and afterwards removes) its own fresh subfolder "
           "vslide-bench-storage-XXXXXX; nothing else in DIR is touched (default $TMPDIR or /tmp)",
           &dir_s);
  p.flag("--json", "print one JSON object", &json_out);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  ScanConfig cfg;
  if (!parse_size(tile, &cfg.tile_width, &cfg.tile_height)) return p.usage_error("bad --tile");
  if (b.ntiles < 1 || b.ntiles > 4096 || b.gzip_tiles < 1 || b.repeat < 1 || b.cold_samples < 1 || threads < 0) {
    return p.usage_error("counts must be positive (--tiles at most 4096)");
  }
  if (b.gzip_level < 1 || b.gzip_level > 9) return p.usage_error("--gzip-level must be 1..9");
  std::vector<Layout> layouts;
  for (size_t s = 0; s <= layouts_s.size();) {
    const size_t e = std::min(layouts_s.find(',', s), layouts_s.size());
    auto l = parse_layout(layouts_s.substr(s, e - s));
    if (!l.ok()) return p.usage_error("--layouts: " + l.status().message());
    layouts.push_back(*l);
    s = e + 1;
  }
  b.gzip_tiles = std::min(b.gzip_tiles, b.ntiles);
  b.threads = threads > 0 ? unsigned(threads) : std::max(1u, std::thread::hardware_concurrency());
  // A fresh subfolder of --dir: the only thing the bench writes or removes.
  auto scratch = BenchScratch::create(dir_s, "storage");
  if (!scratch.ok()) {
    std::cerr << "vslide bench storage: " << scratch.status().message() << "\n";
    return 1;
  }
  try {
    cfg.cols = 4;
    cfg.rows = (b.ntiles + 3) / 4;
    cfg.channels = 1;
    cfg.sparse = 0;
    SyntheticScanner scanner(cfg);
    for (int i = 0; i < b.ntiles; ++i) {
      const auto& f = scanner.fields()[size_t(i)];
      b.fields.push_back(f);
      b.tiles.push_back(scanner.render(b.key(size_t(i))));
      b.out.emplace_back(cfg.tile_width, cfg.tile_height);
    }
    b.tile_mb = double(b.tiles[0].byte_size()) / 1e6;
    json j;
    j["tiles"] = b.ntiles;
    j["tile_mb"] = b.tile_mb;
    j["threads"] = b.threads;
    j["repeat"] = b.repeat;
    // References: memcpy and raw Blosc on b.threads threads, one tile each.
    std::vector<uint8_t> dst(b.tiles[0].byte_size());
    j["memcpy_mb_s_1_thread"] = b.tile_mb * b.ntiles / median_of(b.repeat, [&] {
      const auto t0 = Clock::now();
      for (const auto& t : b.tiles) std::memcpy(dst.data(), t.data(), t.byte_size());
      return seconds_since(t0);
    });
    const CodecSpec fast = *CodecSpec::parse("blosc-lz4-bitshuffle");
    std::vector<std::vector<uint8_t>> comp(size_t(b.ntiles));
    j["blosc_compress_mb_s"] = b.tile_mb * b.ntiles / median_of(b.repeat, [&] {
      const auto t0 = Clock::now();
      check(parallel_for(size_t(b.ntiles), b.threads, [&](size_t i) {
        auto enc = encode_chunk(fast, {reinterpret_cast<const uint8_t*>(b.tiles[i].data()), b.tiles[i].byte_size()});
        if (!enc.ok()) return enc.status();
        comp[i] = std::move(enc).value();
        return Status();
      }));
      return seconds_since(t0);
    });
    j["blosc_decompress_mb_s"] = b.tile_mb * b.ntiles / median_of(b.repeat, [&] {
      const auto t0 = Clock::now();
      check(parallel_for(size_t(b.ntiles), b.threads, [&](size_t i) {
        return decode_chunk(fast, comp[i], {reinterpret_cast<uint8_t*>(b.out[i].data()), b.out[i].byte_size()});
      }));
      return seconds_since(t0);
    });
    for (Layout l : layouts) j["layouts"][std::string(layout_name(l))] = bench_layout(b, scanner, l, scratch->path());
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(VSLIDE_REAL_DATA_DIR, ec)) {
      if (entry.path().extension() != ".tif") continue;
      auto img = read_tiff16(entry.path().string());
      if (!img.ok()) continue;
      std::span<const uint8_t> raw{reinterpret_cast<const uint8_t*>(img->data()), img->byte_size()};
      for (const char* c : {"blosc-lz4-bitshuffle", "blosc-lz4-shuffle", "blosc-zstd-bitshuffle", "gzip"}) {
        auto enc = encode_chunk(*CodecSpec::parse(c), raw);
        if (enc.ok()) j["real_image_ratios"][entry.path().filename().string()][c] = double(raw.size()) / double(enc->size());
      }
    }
    if (json_out) {
      std::cout << j.dump(2) << "\n";
    } else {
      print_storage_report(j);
    }
    bool all_equal = true;
    for (auto& [ln, L] : j["layouts"].items()) {
      for (auto& [name, r] : L["read"].items()) all_equal = all_equal && r["read_back_equals_written"].get<bool>();
    }
    if (!all_equal) {
      std::cerr << "vslide bench storage: a read path returned pixels that differ from what was written\n";
      return 1;
    }
  } catch (const BenchFailure& f) {
    std::cerr << "vslide bench storage: " << f.status.to_string() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_BENCH("storage", "write MB/s, single-tile read latency (warm and cold), read throughput: fast path vs stock HDF5",
             vslide::cli::run);
