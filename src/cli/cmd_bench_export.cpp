// `vslide bench export`: what `vslide export` costs against its two baselines
// measured in the same run on the same slide: reading the slide (`vslide
// verify`: every plane checksummed and decoded on all cores) and drawing the
// same region at full resolution (`vslide render --region-um ... --size`).
// Every figure is a fresh `vslide` process, as a user runs it: wall time, CPU
// time (user + system, from wait4) and peak anonymous memory (RssAnon
// sampled every 5 ms; file-backed pages of the binary and of the slide's
// read-only mapping are page cache and not counted). MB/s are raw 16-bit
// level-0 pixels of the region; ratios are export MB/s over the baseline's.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "args.h"
#include "bench_scratch.h"
#include "bench_util.h"
#include "command.h"
#include "progress.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct ChildRun {
  int exit_code = -1;
  double wall_s = 0, cpu_s = 0;
  double peak_anon_mb = 0, peak_rss_mb = 0;
  std::string output;  // stdout
};

size_t status_kb(pid_t pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, n, key) == 0) return size_t(std::strtoull(line.c_str() + n, nullptr, 10));
  }
  return 0;
}

// Runs this executable with `args`; stdout to a file under `dir`, stderr dropped.
Result<ChildRun> run_child(const std::vector<std::string>& args, const std::string& dir) {
  const std::string out_path = dir + "/child.out";
  std::vector<char*> argv;
  std::string self = "vslide";
  argv.push_back(self.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::io_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = ::open("/dev/null", O_WRONLY);
    if (fd >= 0) ::dup2(fd, 1);
    if (null >= 0) ::dup2(null, 2);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ChildRun r;
  size_t anon_kb = 0;
  int status = 0;
  rusage ru{};
  for (;;) {
    const pid_t w = ::wait4(pid, &status, WNOHANG, &ru);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return Status::io_error(std::string("wait4: ") + std::strerror(errno));
    anon_kb = std::max(anon_kb, status_kb(pid, "RssAnon:"));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  r.cpu_s = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  r.peak_rss_mb = double(ru.ru_maxrss) / 1024;
  r.peak_anon_mb = double(anon_kb) / 1024;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream f(out_path);
  std::stringstream ss;
  ss << f.rdbuf();
  r.output = ss.str();
  return r;
}

std::string join(const std::vector<std::string>& args) {
  std::string s = "vslide";
  for (const auto& a : args) s += " " + a;
  return s;
}

// The bench slide: the synthetic scanner's fields, marked as the bench's own.
Status write_bench_slide(const std::string& path, const ScanConfig& config, int threads, bool quiet) {
  const SyntheticScanner scanner(config);
  SlideHeader header = scanner.header();
  mark_bench_slide(&header, "export");
  VSLIDE_ASSIGN_OR_RETURN(auto slide, Hdf5Slide::create(path, header, scanner.geometry(), scanner.channels(),
                                                        CreateOptions{}));
  const auto& fields = scanner.fields();
  for (const auto& f : fields) VSLIDE_RETURN_IF_ERROR(slide->write_field(f));
  VSLIDE_RETURN_IF_ERROR(write_scanner_planes(scanner, *slide, threads, quiet));
  return slide->finish();
}

int bench_export(int argc, char** argv) {
  int rows = 4, cols = 5, channels = 2, repeat = 3, memory_mb = 1024;
  std::string dir, slide_arg;
  bool json = false, no_render = false;
  ArgParser p("vslide bench export [--rows 4] [--cols 5] [--channels 2] [--repeat 3] [--memory-mb 1024] "
              "[--slide FILE] [--no-render] [--dir DIR] [--json]",
              "Times `vslide export` (OME-TIFF level 0 only, OME-TIFF and OME-Zarr pyramids, uncompressed "
              "TIFF) against reading the slide (`vslide verify`) and rendering the same region 1:1 "
              "(`vslide render`), each a fresh process, and prints MB/s of raw level-0 pixels and ratios.");
  p.option("--rows", "N", "bench slide rows of 2560x2160 fields (default 4)", &rows, 1, 200);
  p.option("--cols", "N", "bench slide columns (default 5)", &cols, 1, 200);
  p.option("--channels", "N", "bench slide channels (default 2)", &channels, 1, 8);
  p.option("--repeat", "N", "runs of each command; medians are printed (default 3)", &repeat, 1, 50);
  p.option("--memory-mb", "MB", "--memory-mb of the exports (default 1024)", &memory_mb, 64, 1 << 20);
  p.option("--slide", "FILE", "use this slide (read only) instead of writing the bench slide", &slide_arg);
  p.flag("--no-render", "skip the render baseline (slow without a GPU)", &no_render);
  p.option("--dir", "DIR", "scratch space (a subfolder is made and removed; default $TMPDIR or /tmp)", &dir);
  p.flag("--json", "print the figures as JSON", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;

  auto scratch = BenchScratch::create(dir, "export");
  if (!scratch.ok()) return p.usage_error(scratch.status().message());
  std::string slide = slide_arg;
  if (slide.empty()) {
    ScanConfig config;
    config.rows = rows;
    config.cols = cols;
    config.channels = channels;
    slide = scratch->file("bench.h5");
    const int hw = int(std::max(1u, std::thread::hardware_concurrency()));
    if (Status s = write_bench_slide(slide, config, hw, json); !s.ok()) {
      std::cerr << "vslide bench export: " << s.to_string() << "\n";
      return 1;
    }
  }
  auto opened = Hdf5Slide::open(slide);
  if (!opened.ok()) {
    std::cerr << "vslide bench export: " << opened.status().to_string() << "\n";
    return 1;
  }
  const MosaicGeometry g = (*opened)->geometry();
  const double plane_mb = double(g.tile_width) * g.tile_height * 2 / 1e6;
  const double slide_mb = plane_mb * double((*opened)->index()->entries().size()) * g.planes_per_field();
  opened->reset();

  const std::string mem = std::to_string(memory_mb);
  struct Case {
    std::string name;
    std::vector<std::string> args;
  };
  const std::string out = scratch->file("out");
  std::vector<Case> cases = {
      {"read (verify)", {"verify", slide, "--json"}},
      {"export OME-TIFF, level 0 only", {"export", slide, out + ".ome.tif", "--levels", "1", "--overwrite", "--json",
                                         "--memory-mb", mem}},
      {"export OME-TIFF, pyramid", {"export", slide, out + ".ome.tif", "--overwrite", "--json", "--memory-mb", mem}},
      {"export OME-TIFF uncompressed, pyramid",
       {"export", slide, out + ".ome.tif", "--compression", "none", "--overwrite", "--json", "--memory-mb", mem}},
      {"export OME-Zarr (blosc), pyramid",
       {"export", slide, out + ".ome.zarr", "--format", "ome-zarr", "--overwrite", "--json", "--memory-mb", mem}},
      // The core-use baseline: the same pyramid on one worker.
      {"export OME-TIFF, pyramid, --threads 1",
       {"export", slide, out + ".ome.tif", "--overwrite", "--json", "--memory-mb", mem, "--threads", "1"}},
  };
  // The first export tells the region (origin, size) that render must draw.
  double level0_mb = 0;
  nlohmann::json results = nlohmann::json::array();
  std::vector<std::vector<ChildRun>> runs(cases.size());
  ProgressBar bar("bench export", uint64_t(repeat) * (cases.size() + (no_render ? 0 : 1)), !json);
  uint64_t step = 0;
  for (int rep = 0; rep < repeat; ++rep) {
    for (size_t i = 0; i < cases.size(); ++i) {
      auto r = run_child(cases[i].args, scratch->path().string());
      if (!r.ok() || r->exit_code != 0) {
        bar.finish();
        std::cerr << "vslide bench export: " << join(cases[i].args) << " failed"
                  << (r.ok() ? " with exit code " + std::to_string(r->exit_code) : ": " + r.status().to_string())
                  << "\n";
        return 1;
      }
      if (i == 1 && rep == 0) {
        const auto j = nlohmann::json::parse(r->output);
        level0_mb = j["level0_bytes"].get<double>() / 1e6;
        const double px = j["pixel_size_um"].get<double>();
        const double x0 = j["origin_um"][0].get<double>(), y0 = j["origin_um"][1].get<double>();
        const int64_t w = j["width"].get<int64_t>(), h = j["height"].get<int64_t>();
        char region[160];
        std::snprintf(region, sizeof region, "%.6f,%.6f,%.6f,%.6f", x0, y0, x0 + double(w) * px, y0 + double(h) * px);
        if (!no_render) {
          cases.push_back({"render 1:1 (GL), 8-bit PNG",
                           {"render", slide, "--out", out + ".png", "--region-um", region, "--size",
                            std::to_string(w) + "x" + std::to_string(h), "--no-saved-display"}});
          runs.emplace_back();
        }
      }
      runs[i].push_back(*r);
      bar.update(++step);
    }
  }
  bar.finish();

  auto med = [](const std::vector<ChildRun>& v, double ChildRun::*f) {
    std::vector<double> x;
    for (const auto& r : v) x.push_back(r.*f);
    return median(x);
  };
  const double read_wall = med(runs[0], &ChildRun::wall_s);
  const double read_mbps = slide_mb / read_wall;
  const double read_mb_cpu = slide_mb / med(runs[0], &ChildRun::cpu_s);
  // All workers against one: how well the pyramid export uses the cores.
  const double core_speedup = med(runs[5], &ChildRun::wall_s) / med(runs[2], &ChildRun::wall_s);
  double render_mbps = 0;
  if (!no_render) render_mbps = level0_mb / med(runs.back(), &ChildRun::wall_s);
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  if (!json) {
    std::printf("slide %s: %.0f MB of raw planes; region %.0f MB of level-0 pixels (all channels); %u cores, "
                "load average %.1f\n", slide.c_str(), slide_mb, level0_mb, std::thread::hardware_concurrency(), load[0]);
    std::printf("%-40s %8s %8s %8s %9s %8s %9s %11s %8s\n", "command (median of runs)", "wall s", "CPU s", "MB/s",
                "x render", "x read", "MB/CPU-s", "x read CPU", "anon MB");
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    const double wall = med(runs[i], &ChildRun::wall_s), cpu = med(runs[i], &ChildRun::cpu_s);
    const double mb = i == 0 ? slide_mb : level0_mb;
    const double mbps = mb / wall;
    const double anon = med(runs[i], &ChildRun::peak_anon_mb);
    const bool is_export = i > 0 && cases[i].args[0] == "export";
    const double x_render = is_export && render_mbps > 0 ? mbps / render_mbps : 0;
    const double x_read = is_export ? mbps / read_mbps : 0;
    const double mb_cpu = mb / cpu;
    const double x_read_cpu = is_export ? mb_cpu / read_mb_cpu : 0;
    std::vector<double> walls;
    for (const auto& r : runs[i]) walls.push_back(r.wall_s);
    results.push_back({{"name", cases[i].name}, {"command", join(cases[i].args)}, {"wall_s", walls},
                       {"median_wall_s", wall}, {"median_cpu_s", cpu}, {"mb_per_s", mbps},
                       {"x_render", x_render}, {"x_read", x_read}, {"mb_per_cpu_s", mb_cpu},
                       {"x_read_cpu", x_read_cpu}, {"peak_anon_mb", anon},
                       {"peak_rss_mb", med(runs[i], &ChildRun::peak_rss_mb)}});
    if (!json) {
      auto ratio = [](double x) {
        char b[32];
        std::snprintf(b, sizeof b, "%.3fx", x);
        return x > 0 ? std::string(b) : std::string("-");
      };
      std::printf("%-40s %8.2f %8.2f %8.1f %9s %8s %9.1f %11s %8.0f\n", cases[i].name.c_str(), wall, cpu, mbps,
                  ratio(x_render).c_str(), ratio(x_read).c_str(), mb_cpu, ratio(x_read_cpu).c_str(), anon);
    }
  }
  if (json) {
    std::cout << nlohmann::json{{"slide", slide}, {"slide_mb", slide_mb}, {"level0_mb", level0_mb},
                                {"read_mb_per_s", read_mbps}, {"render_mb_per_s", render_mbps},
                                {"cores", std::thread::hardware_concurrency()}, {"load_average", load[0]},
                                {"pyramid_speedup_all_threads_vs_1", core_speedup},
                                {"runs", results}}
                     .dump(2)
              << "\n";
  } else {
    std::printf("MB/s: raw level-0 pixels of the region per wall second (read: raw planes of the slide); "
                "x render / x read: export MB/s over the baseline's; MB/CPU-s and x read CPU: the same per CPU "
                "second (user + system), steadier on a shared machine; anon MB: peak RssAnon of the process\n"
                "OME-TIFF pyramid on all %u cores vs --threads 1: %.2fx faster (wall)\n",
                std::thread::hardware_concurrency(), core_speedup);
    for (size_t i = 0; i < runs.size(); ++i) std::printf("  %s\n", join(cases[i].args).c_str());
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_BENCH("export", "vslide export vs reading the slide and rendering the same region (MB/s, ratios)",
             vslide::cli::bench_export);
