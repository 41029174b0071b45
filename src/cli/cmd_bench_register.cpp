// `vslide bench register`: accuracy of the registration against the
// synthetic scanner's ground truth (target 0.1 px RMS, the stage's error
// printed beside it) and against real images cut into fields at known
// offsets (target 0.3 px RMS); speed on a large slide (target: 43x51 fields
// of 2560x2160 in <= 30 s on 2 cores), split into field reads and FFTs.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "parallel.h"
#include "progress.h"
#include "vslide/register/cut_mosaic.h"
#include "vslide/register/register.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/storage/tiff_io.h"

namespace vslide::cli {
namespace {

using Clock = std::chrono::steady_clock;

// CPU seconds (user + system) of this process so far.
double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// The 1-minute load average, to show how shared the machine was.
double load_average() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1;
}

// Renders and writes every field of the scanner (all channels) on `threads` threads.
Status write_scan(const std::string& path, const SyntheticScanner& scanner, int threads, bool quiet) {
  CreateOptions opt;
  opt.overwrite = true;
  VSLIDE_ASSIGN_OR_RETURN(auto slide,
                          Hdf5Slide::create(path, scanner.header(), scanner.geometry(), scanner.channels(), opt));
  const auto& fields = scanner.fields();
  const auto& g = scanner.geometry();
  for (const auto& f : fields) VSLIDE_RETURN_IF_ERROR(slide->write_field(f));
  const size_t n = fields.size() * size_t(g.channels);
  ProgressBar bar("bench slide", n, !quiet);
  VSLIDE_RETURN_IF_ERROR(parallel_for(
      n, unsigned(std::max(1, threads)),
      [&](size_t i) {
        thread_local Image16 img;
        if (img.width() != g.tile_width || img.height() != g.tile_height) img = Image16(g.tile_width, g.tile_height);
        const auto& f = fields[i / size_t(g.channels)];
        const TileKey key{f.row, f.col, int32_t(i % size_t(g.channels))};
        scanner.render_into(key, img.data());
        return slide->write_plane(key, img.view());
      },
      &bar));
  return slide->finish();
}

// RMS (px) of registered minus true positions after removing the mean offset.
double rms_px(const std::vector<std::pair<double, double>>& got, const std::vector<std::pair<double, double>>& truth,
              double um, double* max_px) {
  double mx = 0, my = 0;
  const double n = double(got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    mx += (got[i].first - truth[i].first) / n;
    my += (got[i].second - truth[i].second) / n;
  }
  double ss = 0, mx2 = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double dx = (got[i].first - truth[i].first - mx) / um, dy = (got[i].second - truth[i].second - my) / um;
    ss += dx * dx + dy * dy;
    mx2 = std::max(mx2, std::hypot(dx, dy));
  }
  if (max_px) *max_px = mx2;
  return std::sqrt(ss / n);
}

Result<nlohmann::json> synthetic_accuracy(const ScanConfig& config, const std::string& dir, int threads, bool quiet) {
  const SyntheticScanner scanner(config);
  const std::string path = dir + "/accuracy.h5";
  VSLIDE_RETURN_IF_ERROR(write_scan(path, scanner, threads, quiet));
  VSLIDE_ASSIGN_OR_RETURN(auto slide, Hdf5Slide::open(path));
  RegisterOptions o;
  o.threads = unsigned(threads);
  VSLIDE_ASSIGN_OR_RETURN(RegisterResult r, register_slide(*slide, o));
  std::vector<std::pair<double, double>> got, truth, stage;
  for (const auto& f : r.registration.fields) {
    const FieldTruth t = scanner.truth_at(f.row, f.col);
    got.push_back({f.x_um, f.y_um});
    truth.push_back({t.true_x_um, t.true_y_um});
    stage.push_back({t.reported_x_um, t.reported_y_um});
  }
  double max_reg = 0, max_stage = 0;
  nlohmann::json j;
  j["fields"] = r.fields;
  j["fields_measured"] = r.fields_measured;
  j["registered_rms_px"] = rms_px(got, truth, config.pixel_size_um, &max_reg);
  j["registered_max_px"] = max_reg;
  j["stage_rms_px"] = rms_px(stage, truth, config.pixel_size_um, &max_stage);
  j["stage_max_px"] = max_stage;
  j["threshold"] = r.threshold;
  j["calibration_rotation_deg"] = r.calibration.rotation_deg;
  j["true_rotation_deg"] = config.shear_deg;
  nlohmann::json colours = nlohmann::json::array();
  for (const auto& o2 : r.registration.channel_offsets) {
    if (o2.channel == r.registration.reference_channel) continue;
    double tx, ty;
    scanner.channel_offset_px(o2.channel, &tx, &ty);
    colours.push_back({{"channel", o2.channel},
                       {"dx_px", o2.dx_px},
                       {"dy_px", o2.dy_px},
                       {"true_dx_px", -tx},
                       {"true_dy_px", -ty},
                       {"error_px", std::hypot(o2.dx_px + tx, o2.dy_px + ty)}});
  }
  j["channel_offsets"] = colours;
  return j;
}

Result<nlohmann::json> real_accuracy(const std::string& file, const std::string& dir) {
  VSLIDE_ASSIGN_OR_RETURN(Image16 img, read_tiff16(file));
  CutMosaicSpec spec;
  VSLIDE_ASSIGN_OR_RETURN(MosaicGeometry g, cut_mosaic_geometry(img, spec));
  const std::string path = dir + "/real.h5";
  SlideHeader h;
  h.slide_id = "bench-register-real";
  CreateOptions co;
  co.overwrite = true;
  VSLIDE_ASSIGN_OR_RETURN(auto w, Hdf5Slide::create(path, h, g, default_channels(1), co));
  VSLIDE_ASSIGN_OR_RETURN(auto truth, write_cut_mosaic(img, spec, *w));
  VSLIDE_RETURN_IF_ERROR(w->finish());
  w.reset();
  VSLIDE_ASSIGN_OR_RETURN(auto slide, Hdf5Slide::open(path));
  VSLIDE_ASSIGN_OR_RETURN(RegisterResult r, register_slide(*slide, RegisterOptions{}));
  std::vector<std::pair<double, double>> got, stage;
  const auto idx = slide->index();
  for (const auto& f : r.registration.fields) got.push_back({f.x_um, f.y_um});
  for (const auto& e : idx->entries()) stage.push_back({e.field.stage_x_um, e.field.stage_y_um});
  double max_reg = 0, max_stage = 0;
  nlohmann::json j;
  j["image"] = std::filesystem::path(file).filename().string();
  j["fields"] = r.fields;
  j["tile"] = std::to_string(g.tile_width) + "x" + std::to_string(g.tile_height);
  j["fields_measured"] = r.fields_measured;
  j["registered_rms_px"] = rms_px(got, truth, g.pixel_size_um, &max_reg);
  j["registered_max_px"] = max_reg;
  j["stage_rms_px"] = rms_px(stage, truth, g.pixel_size_um, &max_stage);
  return j;
}

// Drops the slide's pages from the page cache (its own file only), so the
// registration reads it from the disk as a slide scanned long ago would be.
Status evict_from_page_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status::io_error(path + ": open to drop from the page cache failed");
  int rc = ::fdatasync(fd);
  if (rc == 0) rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  return rc == 0 ? Status() : Status::io_error(path + ": posix_fadvise(DONTNEED) failed");
}

Result<nlohmann::json> speed(const ScanConfig& config, const std::string& path, bool reuse, int threads, bool quiet,
                             bool cold) {
  const SyntheticScanner scanner(config);
  const auto w0 = Clock::now();
  bool have = false;
  if (reuse && std::filesystem::exists(path)) {
    auto s = Hdf5Slide::open(path);
    have = s.ok() && (*s)->geometry() == scanner.geometry() &&
           (*s)->index()->fields_complete() == scanner.fields().size();
  }
  if (!have) VSLIDE_RETURN_IF_ERROR(write_scan(path, scanner, threads, quiet));
  const double write_s = std::chrono::duration<double>(Clock::now() - w0).count();
  if (cold) VSLIDE_RETURN_IF_ERROR(evict_from_page_cache(path));
  VSLIDE_ASSIGN_OR_RETURN(auto slide, Hdf5Slide::open(path));
  RegisterOptions o;
  o.threads = unsigned(threads);
  o.colour = false;
  ProgressBar bar("bench register", scanner.fields().size(), !quiet);
  o.progress = [&bar](uint64_t d, uint64_t) { bar.update(d); };
  const double load_before = load_average();
  const double cpu0 = process_cpu_s();
  VSLIDE_ASSIGN_OR_RETURN(RegisterResult r, register_slide(*slide, o));
  const double cpu = process_cpu_s() - cpu0;
  bar.finish();
  const double fields = r.fields, pairs = double(r.pairs.size());
  // Field reads scale with fields, the pair work (FFT + refinement) with
  // pairs; the paper's slide has 43 x 51 fields and 43*50 + 42*51 pairs. The
  // process's CPU time is split between them as the thread timings split it
  // (the rest: cutting strips, bookkeeping, counted with the pairs), then
  // spread over the threads: what the run takes on an otherwise idle machine.
  const double paper_fields = 43 * 51, paper_pairs = 43 * 50 + 42 * 51;
  const double read_share = cpu > 0 ? std::min(1.0, r.read_s / cpu) : 0;
  const double extrapolated =
      (cpu * read_share / fields * paper_fields + cpu * (1 - read_share) / pairs * paper_pairs) / threads +
      r.solve_s * paper_fields / fields;
  nlohmann::json j;
  j["rows"] = config.rows;
  j["cols"] = config.cols;
  j["tile"] = std::to_string(config.tile_width) + "x" + std::to_string(config.tile_height);
  j["fields"] = r.fields;
  j["pairs"] = r.pairs.size();
  j["fields_measured"] = r.fields_measured;
  j["slide_write_s"] = have ? 0.0 : write_s;
  j["register_wall_s"] = r.wall_s;
  j["read_s"] = r.read_s;
  j["read_wall_s"] = r.read_wall_s;
  j["cold_page_cache"] = cold;
  j["slide_bytes"] = std::filesystem::file_size(path);
  j["load_average_before"] = load_before;
  j["cpu_bound_idle_s"] = cpu / threads + r.solve_s;
  j["fft_s"] = r.fft_s;
  j["refine_s"] = r.refine_s;
  j["solve_s"] = r.solve_s;
  j["read_ms_per_field"] = 1e3 * r.read_s / fields;
  j["fft_ms_per_pair"] = 1e3 * r.fft_s / pairs;
  j["refine_ms_per_pair"] = 1e3 * r.refine_s / pairs;
  j["process_cpu_s"] = cpu;
  j["load_average"] = load_average();
  j["extrapolated_43x51_s"] = extrapolated;
  return j;
}

int bench_register(int argc, char** argv) {
  std::string accuracy_grid = "6x8", speed_grid = "43x51", tile = "2560x2160", dir, keep;
  int threads = 0, channels = 2;
  bool json = false, skip_speed = false, skip_accuracy = false, cold = false;
  ArgParser p("vslide bench register [--speed RxC] [--json]",
              "Registration accuracy against the synthetic scanner's truth (default jitter; stage error beside\n"
              "it), against real images cut into 3x3 fields at known offsets with +-6 px stage error, and speed\n"
              "on a large one-channel slide, split into field reads and FFT work, extrapolated to 43x51 fields\n"
              "when a smaller slide is measured. Slides are written under --dir (default $TMPDIR) and removed.");
  p.option("--accuracy", "RxC", "fields of the synthetic accuracy slide (default 6x8)", &accuracy_grid);
  p.option("--channels", "N", "channels of the accuracy slide (colour registration; default 2)", &channels, 1, 8);
  p.option("--speed", "RxC", "fields of the speed slide (default 43x51, the paper's 2,193)", &speed_grid);
  p.option("--tile", "WxH", "tile size of both synthetic slides (default 2560x2160)", &tile);
  p.option("--threads", "N", "threads (default: one per core)", &threads, 0, 1024);
  p.option("--dir", "DIR", "folder for the bench slides (default $TMPDIR or /tmp)", &dir);
  p.option("--keep", "PATH", "keep the speed slide at PATH and reuse it when it matches", &keep);
  p.flag("--cold", "drop the speed slide from the page cache before registering (reads come from the disk)", &cold);
  p.flag("--skip-speed", "accuracy only", &skip_speed);
  p.flag("--skip-accuracy", "speed only", &skip_accuracy);
  p.flag("--json", "machine-readable output", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  ScanConfig acc, spd;
  if (!parse_size(tile, &acc.tile_width, &acc.tile_height)) return p.usage_error("--tile: expected WxH");
  auto grid = [](const std::string& s, int32_t* rows, int32_t* cols) {
    int c = 0, r = 0;
    if (!parse_size(s, &r, &c)) return false;  // "RxC" reads as width x height = rows x cols
    *rows = r;
    *cols = c;
    return true;
  };
  if (!grid(accuracy_grid, &acc.rows, &acc.cols)) return p.usage_error("--accuracy: expected RxC");
  acc.channels = channels;
  spd = acc;
  spd.channels = 1;
  if (!grid(speed_grid, &spd.rows, &spd.cols)) return p.usage_error("--speed: expected RxC");
  if (Status s = validate(acc); !s.ok()) return p.usage_error(s.message());
  if (Status s = validate(spd); !s.ok()) return p.usage_error(s.message());
  if (threads == 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  if (dir.empty()) dir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  dir += "/vslide-bench-register-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  nlohmann::json out;
  int rc = 0;
  auto fail = [&](const std::string& what, const Status& s) {
    std::cerr << "vslide bench register: " << what << ": " << s.to_string() << "\n";
    rc = 1;
  };
  if (!skip_accuracy) {
    auto a = synthetic_accuracy(acc, dir, threads, json);
    if (a.ok()) out["synthetic"] = *a;
    else fail("synthetic accuracy", a.status());
    out["real"] = nlohmann::json::array();
    for (const char* name : {"speckles_hoechst.tif", "speckles_h2ax.tif", "cherry.tif", "worms_w1.tif"}) {
      auto r = real_accuracy(std::string(VSLIDE_REAL_DATA_DIR) + "/" + name, dir);
      if (r.ok()) out["real"].push_back(*r);
      else fail(name, r.status());
    }
  }
  if (!skip_speed) {
    auto s = speed(spd, keep.empty() ? dir + "/speed.h5" : keep, !keep.empty(), threads, json, cold);
    if (s.ok()) out["speed"] = *s;
    else fail("speed", s.status());
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (json) {
    std::cout << out.dump(2) << "\n";
    return rc;
  }
  if (out.contains("synthetic")) {
    const auto& s = out["synthetic"];
    std::printf("synthetic %s, %s, jitter %.2f um: registered %.3f px RMS (max %.3f) vs stage %.2f px RMS (max %.2f);"
                " %d/%d fields measured; target <= 0.1 px RMS\n",
                accuracy_grid.c_str(), tile.c_str(), acc.stage_jitter_um, s["registered_rms_px"].get<double>(),
                s["registered_max_px"].get<double>(), s["stage_rms_px"].get<double>(), s["stage_max_px"].get<double>(),
                s["fields_measured"].get<int>(), s["fields"].get<int>());
    std::printf("  calibration: rotation %.4f deg (scanner: %.4f)\n", s["calibration_rotation_deg"].get<double>(),
                acc.shear_deg);
    for (const auto& c : s["channel_offsets"]) {
      std::printf("  colour channel %d: offset %+.3f, %+.3f px (truth %+.3f, %+.3f), error %.3f px\n",
                  c["channel"].get<int>(), c["dx_px"].get<double>(), c["dy_px"].get<double>(),
                  c["true_dx_px"].get<double>(), c["true_dy_px"].get<double>(), c["error_px"].get<double>());
    }
  }
  if (out.contains("real")) {
    for (const auto& r : out["real"]) {
      std::printf("real %s cut into 3x3 fields of %s: registered %.3f px RMS (max %.3f) vs stage %.2f px RMS; %d/%d "
                  "measured; target <= 0.3 px RMS\n",
                  r["image"].get<std::string>().c_str(), r["tile"].get<std::string>().c_str(),
                  r["registered_rms_px"].get<double>(), r["registered_max_px"].get<double>(),
                  r["stage_rms_px"].get<double>(), r["fields_measured"].get<int>(), r["fields"].get<int>());
    }
  }
  if (out.contains("speed")) {
    const auto& s = out["speed"];
    std::printf("speed %dx%d fields of %s (%d pairs, %.1f GB slide, page cache %s), %d threads: %.2f s wall at load "
                "average %.1f -> %.1f, %.2f s CPU (slide written in %.1f s)\n",
                s["rows"].get<int>(), s["cols"].get<int>(), s["tile"].get<std::string>().c_str(),
                s["pairs"].get<int>(), 1e-9 * s["slide_bytes"].get<double>(), cold ? "dropped" : "as left",
                threads, s["register_wall_s"].get<double>(), s["load_average_before"].get<double>(),
                s["load_average"].get<double>(), s["process_cpu_s"].get<double>(), s["slide_write_s"].get<double>());
    std::printf("  CPU time, summed over threads: read+decode %.2f s (%.1f ms/field; %.2f s wall inside the reads), FFT "
                "%.2f s (%.2f ms/pair), refinement %.2f s (%.2f ms/pair); solve %.3f s\n",
                s["read_s"].get<double>(), s["read_ms_per_field"].get<double>(), s["read_wall_s"].get<double>(),
                s["fft_s"].get<double>(), s["fft_ms_per_pair"].get<double>(), s["refine_s"].get<double>(),
                s["refine_ms_per_pair"].get<double>(), s["solve_s"].get<double>());
    std::printf("  CPU-bound on %d idle cores: %.1f s (process CPU / threads + solve)\n", threads,
                s["cpu_bound_idle_s"].get<double>());
    std::printf("  43x51 fields on %d idle cores: %.1f s (CPU time scaled linearly in fields and pairs, divided by the "
                "threads)%s; target <= 30 s\n",
                threads, s["extrapolated_43x51_s"].get<double>(),
                s["fields"].get<int>() == 43 * 51 ? ", measured slide of that size" : "");
  }
  return rc;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_BENCH("register", "registration accuracy (synthetic truth, real images) and speed", vslide::cli::bench_register);
