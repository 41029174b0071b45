// `vslide bench render`: the paper's two viewer scenes (section 5.5) on a
// synthetic slide of 1392x1040 tiles in 4 colours, drawn headless through
// EGL: (1) a 19x22-tile viewport (418 tiles) at zoom 1/16, which took the
// paper about 2 s; (2) 100 tiles at zoom 1/8, about 6 s. Cold frames start
// with empty tile and texture caches (the file in the page cache; the GL
// renderer keeps the texture memory it allocated, as it does between any two
// frames, and the first cold run, which allocates it, is reported too), warm
// frames redraw from the caches; a scripted pan measures frames per second
// with progressive refinement. The baseline, measured in the same run, is
// the paper's situation: every layer computed from full-resolution tiles.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "args.h"
#include "command.h"
#include "progress.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/view/gl_renderer.h"
#include "vslide/view/slide_view.h"

namespace vslide::cli {

// From cmd_pyramid.cpp (the same executable).
struct PyramidResult {
  size_t planes = 0, written = 0, skipped = 0, overviews = 0;
};
Status write_pyramid(Hdf5Slide& slide, const std::set<int32_t>& levels, int overview, int threads, bool force,
                     ProgressBar* bar, PyramidResult* out);

namespace {

using namespace vslide::view;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// CPU time of the whole process (every thread, the GL driver's included),
// which the other work on a shared machine does not inflate as it does
// wall time.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

ScanConfig bench_config() {
  ScanConfig c;
  c.rows = 19;
  c.cols = 22;
  c.channels = 4;
  c.tile_width = 1392;
  c.tile_height = 1040;
  c.overlap = 0.1;
  c.stage_jitter_um = 1.0;
  c.shear_deg = 0.1;
  c.seed = 2013;
  return c;
}

// Writes the bench slide (raw planes from the synthetic scanner) unless a
// complete one with the same geometry is already there, then its pyramid.
Status prepare_slide(const std::string& path, bool fresh, bool quiet, int threads) {
  const ScanConfig config = bench_config();
  const SyntheticScanner scanner(config);
  bool have = false;
  if (!fresh && std::filesystem::exists(path)) {
    auto s = Hdf5Slide::open(path);
    have = s.ok() && (*s)->state() == SlideState::kComplete && (*s)->geometry() == scanner.geometry() &&
           (*s)->index()->fields_complete() == scanner.fields().size();
  }
  if (!have) {
    CreateOptions opt;
    opt.overwrite = true;
    VSLIDE_ASSIGN_OR_RETURN(
        auto slide, Hdf5Slide::create(path, scanner.header(), scanner.geometry(), scanner.channels(), opt));
    const auto& fields = scanner.fields();
    for (const auto& f : fields) VSLIDE_RETURN_IF_ERROR(slide->write_field(f));
    ProgressBar bar("bench slide", fields.size() * size_t(config.channels), !quiet);
    std::atomic<size_t> next{0}, done{0};
    std::mutex mu;
    Status first;
    auto worker = [&] {
      Image16 img(config.tile_width, config.tile_height);
      for (size_t i; (i = next++) < fields.size() * size_t(config.channels);) {
        const auto& f = fields[i / size_t(config.channels)];
        const TileKey key{f.row, f.col, int32_t(i % size_t(config.channels))};
        scanner.render_into(key, img.data());
        Status s = slide->write_plane(key, img.view());
        std::lock_guard lock(mu);
        if (!s.ok() && first.ok()) first = s;
        bar.update(++done);
      }
    };
    std::vector<std::thread> pool;
    for (int i = 0; i < std::max(1, threads); ++i) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    bar.finish();
    VSLIDE_RETURN_IF_ERROR(first);
    VSLIDE_RETURN_IF_ERROR(slide->finish());
  }
  VSLIDE_ASSIGN_OR_RETURN(auto slide, Hdf5Slide::open(path, OpenMode::kAppend));
  ProgressBar bar("bench pyramid", scanner.fields().size() * size_t(config.channels), !quiet);
  PyramidResult r;
  return write_pyramid(*slide, {1, 2, 3, 4, 5}, 64, std::max(1, threads), false, &bar, &r);
}

struct SceneResult {
  std::string name;
  size_t tiles = 0, planes = 0;
  int level = 0;
  int width = 0, height = 0;
  double cold_ms = 0, cold_load_ms = 0, cold_draw_ms = 0;
  double cold_first_ms = 0;  // the first cold run: the renderer also allocates its texture memory
  double cold_upload_ms = 0, cold_gl_draw_ms = 0, cold_readback_ms = 0;  // parts of cold_draw_ms
  double warm_ms = 0;
  uint64_t planes_loaded = 0, bytes_decoded = 0, bytes_stored = 0, bytes_uploaded = 0, textures_uploaded = 0;
  uint64_t planes_uploaded = 0, rects = 0;
  double baseline_cold_ms = 0;
  double warm_plan_ms = 0, warm_draw_ms = 0, warm_readback_ms = 0;
  double warm_cpu_ms = 0;  // process CPU time per warm frame, all threads
  uint64_t baseline_bytes_decoded = 0;
};

// One cold frame: fresh view (empty tile cache), empty texture cache.
Status cold_frame(const SlideSource& slide, GlRenderer& gl, const Viewport& v, bool stored_levels,
                  SceneResult* r, bool baseline) {
  ViewOptions vo;
  vo.use_stored_levels = stored_levels;
  vo.use_overview = stored_levels;
  SlideView view(slide, vo);
  gl.clear_textures();
  const auto t0 = Clock::now();
  FrameInfo info;
  VSLIDE_ASSIGN_OR_RETURN(FramePlan plan, view.plan_complete(v, &info));
  const double load_ms = ms_since(t0);
  VSLIDE_ASSIGN_OR_RETURN(RgbImage img, gl.render(plan));
  const double total = ms_since(t0);
  const LoaderStats ls = view.loader_stats();
  if (baseline) {
    r->baseline_cold_ms = total;
    r->baseline_bytes_decoded = ls.bytes_decoded;
    return Status();
  }
  r->cold_ms = total;
  r->cold_load_ms = load_ms;
  r->cold_draw_ms = total - load_ms;
  r->cold_upload_ms = gl.last_frame().upload_ms;
  r->cold_gl_draw_ms = gl.last_frame().draw_ms;
  r->cold_readback_ms = gl.last_frame().readback_ms;
  r->tiles = info.tiles_visible;
  r->planes = info.planes_needed;
  r->level = info.level;
  r->planes_loaded = ls.planes_loaded;
  r->bytes_decoded = ls.bytes_decoded;
  r->bytes_uploaded = gl.last_frame().bytes_uploaded;
  r->textures_uploaded = gl.last_frame().textures_uploaded;
  r->planes_uploaded = gl.last_frame().planes_uploaded;
  r->rects = gl.last_frame().rects;
  r->bytes_stored = 0;
  for (const auto& d : plan.tiles) {
    for (const auto& p : d.planes) {
      if (p.key.level >= 0) {
        if (auto st = slide.read_chunk(p.key); st.ok()) r->bytes_stored += st->stored_bytes();
      }
    }
  }
  // Warm: the same view again from the caches.
  std::vector<double> warm, warm_plan, warm_draw, warm_read, warm_cpu;
  for (int i = 0; i < 7; ++i) {
    const double c1 = process_cpu_ms();
    const auto t1 = Clock::now();
    VSLIDE_ASSIGN_OR_RETURN(FramePlan p2, view.plan_frame(v, &info));
    warm_plan.push_back(ms_since(t1));
    VSLIDE_ASSIGN_OR_RETURN(RgbImage i2, gl.render(p2));
    warm.push_back(ms_since(t1));
    warm_cpu.push_back(process_cpu_ms() - c1);
    warm_draw.push_back(gl.last_frame().draw_ms);
    warm_read.push_back(gl.last_frame().readback_ms);
  }
  r->warm_ms = median(warm);
  r->warm_plan_ms = median(warm_plan);
  r->warm_cpu_ms = median(warm_cpu);
  r->warm_draw_ms = median(warm_draw);
  r->warm_readback_ms = median(warm_read);
  (void)img;
  return Status();
}

int bench_render(int argc, char** argv) {
  std::string path = "/tmp/vslide-bench-render.h5";
  bool json = false, fresh = false, no_baseline = false;
  int runs = 3, pan_frames = 120, prepare_threads = 2;
  ArgParser p(
      "vslide bench render [--slide PATH] [--fresh] [--runs N] [--pan-frames N] [--json]",
      "The paper's viewer scenes on a synthetic 19x22-tile, 4-colour slide of 1392x1040 tiles: cold and warm "
      "frame times, loads, bytes, and FPS over a scripted pan; baseline: the same frames computed from "
      "full-resolution tiles.");
  p.option("--slide", "PATH",
           "bench slide, created (about 2.4 GB) when absent (default /tmp/vslide-bench-render.h5)", &path);
  p.flag("--fresh", "rewrite the bench slide even if present", &fresh);
  p.option("--prepare-threads", "N", "threads writing the bench slide and its pyramid (default 2)",
           &prepare_threads);
  p.option("--runs", "N", "cold runs per scene; medians are reported (default 3)", &runs);
  p.option("--pan-frames", "N", "frames in the scripted pan (default 120)", &pan_frames);
  p.flag("--no-baseline", "skip the (slow) raw-tile baseline", &no_baseline);
  p.flag("--json", "machine-readable output", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (runs < 1 || pan_frames < 2) return p.usage_error("--runs must be >= 1 and --pan-frames >= 2");

  if (Status s = prepare_slide(path, fresh, json, prepare_threads); !s.ok()) {
    std::cerr << "vslide bench render: " << s.to_string() << "\n";
    return 1;
  }
  auto opened = Hdf5Slide::open(path);
  if (!opened.ok()) {
    std::cerr << "vslide bench render: " << opened.status().to_string() << "\n";
    return 1;
  }
  const Hdf5Slide& slide = **opened;
  auto ctx = GlContext::create();
  if (!ctx.ok()) {
    std::cerr << "vslide bench render: " << ctx.status().message() << "\n";
    return 1;
  }
  auto gl = GlRenderer::create(ctx->get(), size_t(1) << 30);
  if (!gl.ok()) {
    std::cerr << "vslide bench render: " << gl.status().message() << "\n";
    return 1;
  }
  const MosaicGeometry& g = slide.geometry();
  const double px = g.pixel_size_um;
  SlideView probe(slide);
  const RectUm all = probe.slide_bounds();

  // Scene 1: the whole 19x22 mosaic at zoom 1/16. Scene 2: a 10x10 block at
  // zoom 1/8, its edges in the middle of the overlaps around it.
  auto field_at = [&](int r, int c) { return slide.index()->find(r, c)->field; };
  // Past the neighbours' overlap (10%) plus a margin for the stage jitter.
  const double ovx = g.tile_width * px * 0.1 + 4, ovy = g.tile_height * px * 0.1 + 4;
  const RectUm block{field_at(4, 6).stage_x_um + ovx, field_at(4, 6).stage_y_um + ovy,
                     field_at(13, 15).stage_x_um + g.tile_width * px - ovx,
                     field_at(13, 15).stage_y_um + g.tile_height * px - ovy};
  struct Scene {
    std::string name;
    RectUm region;
    double zoom;
    double paper_ms;
    double target_cold_ms, target_warm_ms;
  };
  const Scene scenes[] = {{"scene1: 418 tiles at zoom 1/16", all, 1.0 / 16, 2000, 200, 33},
                          {"scene2: 100 tiles at zoom 1/8", block, 1.0 / 8, 6000, 500, 0}};
  // One untimed frame first: the GL driver compiles its shader variants at
  // the first draw, a start-up cost and not part of any frame.
  {
    SlideView warmup(slide);
    Viewport v{(all.x0 + all.x1) / 2, (all.y0 + all.y1) / 2, 1.0 / 16, 256, 256, px};
    auto plan = warmup.plan_complete(v);
    if (!plan.ok() || !(*gl)->render(*plan).ok()) {
      std::cerr << "vslide bench render: warm-up frame failed\n";
      return 1;
    }
  }
  std::vector<SceneResult> results;
  for (const Scene& sc : scenes) {
    Viewport v;
    v.center_x_um = (sc.region.x0 + sc.region.x1) / 2;
    v.center_y_um = (sc.region.y0 + sc.region.y1) / 2;
    v.zoom = sc.zoom;
    v.pixel_size_um = px;
    v.width_px = int(std::floor(sc.region.width() / px * sc.zoom));
    v.height_px = int(std::floor(sc.region.height() / px * sc.zoom));
    SceneResult best;
    std::vector<double> cold, warm, warm_cpu, warm_plan, warm_draw, warm_readback, load, draw, upload,
        gl_draw, readback;
    for (int i = 0; i < runs; ++i) {
      SceneResult r;
      r.name = sc.name;
      r.width = v.width_px;
      r.height = v.height_px;
      if (Status s = cold_frame(slide, **gl, v, true, &r, false); !s.ok()) {
        std::cerr << "vslide bench render: " << sc.name << ": " << s.to_string() << "\n";
        return 1;
      }
      cold.push_back(r.cold_ms);
      warm.push_back(r.warm_ms);
      warm_cpu.push_back(r.warm_cpu_ms);
      warm_plan.push_back(r.warm_plan_ms);
      warm_draw.push_back(r.warm_draw_ms);
      warm_readback.push_back(r.warm_readback_ms);
      load.push_back(r.cold_load_ms);
      draw.push_back(r.cold_draw_ms);
      upload.push_back(r.cold_upload_ms);
      gl_draw.push_back(r.cold_gl_draw_ms);
      readback.push_back(r.cold_readback_ms);
      best = r;
    }
    // Baseline: the paper's path, layers computed from the raw tiles (once: it is slow).
    if (Status s = no_baseline ? Status() : cold_frame(slide, **gl, v, false, &best, true); !s.ok()) {
      std::cerr << "vslide bench render: baseline " << sc.name << ": " << s.to_string() << "\n";
      return 1;
    }
    best.cold_ms = median(cold);
    best.cold_first_ms = cold.front();
    best.warm_ms = median(warm);
    best.warm_cpu_ms = median(warm_cpu);
    best.warm_plan_ms = median(warm_plan);
    best.warm_draw_ms = median(warm_draw);
    best.warm_readback_ms = median(warm_readback);
    best.cold_load_ms = median(load);
    best.cold_draw_ms = median(draw);
    best.cold_upload_ms = median(upload);
    best.cold_gl_draw_ms = median(gl_draw);
    best.cold_readback_ms = median(readback);
    results.push_back(best);
  }

  // Scripted pan at zoom 1/8 across the slide, left to right along the
  // middle, from cold caches, never waiting for loads (progressive).
  double pan_fps = 0, pan_complete_fraction = 0;
  {
    SlideView view(slide);
    (*gl)->clear_textures();
    Viewport v{all.x0, (all.y0 + all.y1) / 2, 1.0 / 8, 1920, 1080, px};
    const double half = v.width_px / (2 * v.px_per_um());
    const double x_start = all.x0 + half, x_end = all.x1 - half;
    size_t complete = 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < pan_frames; ++i) {
      v.center_x_um = x_start + (x_end - x_start) * i / (pan_frames - 1);
      FrameInfo info;
      auto plan = view.plan_frame(v, &info);
      if (!plan.ok() || !(*gl)->draw(*plan).ok()) {
        std::cerr << "vslide bench render: pan frame " << i << " failed\n";
        return 1;
      }
      complete += info.complete;
    }
    pan_fps = pan_frames / (ms_since(t0) / 1000.0);
    pan_complete_fraction = double(complete) / pan_frames;
  }

  nlohmann::json j;
  j["machine"] = {{"gl_renderer", (*ctx)->renderer()},
                  {"gl_version", (*ctx)->version()},
                  {"egl_platform", (*ctx)->platform()},
                  {"cpu_threads", std::thread::hardware_concurrency()}};
  j["slide"] = {{"path", path},
                {"tiles", slide.index()->field_count()},
                {"tile", {g.tile_width, g.tile_height}},
                {"channels", g.channels}};
  for (size_t i = 0; i < results.size(); ++i) {
    const SceneResult& r = results[i];
    const Scene& sc = scenes[i];
    j["scenes"].push_back(
        {{"name", r.name},
         {"viewport", {r.width, r.height}},
         {"tiles", r.tiles},
         {"planes", r.planes},
         {"level", r.level},
         {"cold_ms", r.cold_ms},
         {"cold_first_ms", r.cold_first_ms},
         {"cold_load_ms", r.cold_load_ms},
         {"cold_draw_ms", r.cold_draw_ms},
         {"cold_upload_ms", r.cold_upload_ms},
         {"cold_gl_draw_ms", r.cold_gl_draw_ms},
         {"cold_readback_ms", r.cold_readback_ms},
         {"warm_ms", r.warm_ms},
         {"warm_plan_ms", r.warm_plan_ms},
         {"warm_cpu_ms", r.warm_cpu_ms},
         {"warm_draw_ms", r.warm_draw_ms},
         {"warm_readback_ms", r.warm_readback_ms},
         {"planes_loaded", r.planes_loaded},
         {"bytes_decoded", r.bytes_decoded},
         {"bytes_stored", r.bytes_stored},
         {"textures_uploaded", r.textures_uploaded},
         {"planes_uploaded", r.planes_uploaded},
         {"rects_drawn", r.rects},
         {"bytes_uploaded", r.bytes_uploaded},
         {"baseline_from_raw_cold_ms", r.baseline_cold_ms},
         {"baseline_bytes_decoded", r.baseline_bytes_decoded},
         {"speedup_vs_baseline", r.baseline_cold_ms / r.cold_ms},
         {"paper_ms", sc.paper_ms},
         {"speedup_vs_paper", sc.paper_ms / r.cold_ms},
         {"target_cold_ms", sc.target_cold_ms},
         {"target_warm_ms", sc.target_warm_ms},
         {"meets_targets",
          r.cold_ms <= sc.target_cold_ms && (sc.target_warm_ms == 0 || r.warm_ms <= sc.target_warm_ms)}});
  }
  j["pan"] = {{"frames", pan_frames},
              {"viewport", {1920, 1080}},
              {"zoom", 1.0 / 8},
              {"fps", pan_fps},
              {"complete_fraction", pan_complete_fraction}};
  if (json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("bench render: %s (%s), slide %zu tiles of %dx%d, %d colours\n", (*ctx)->renderer().c_str(),
              (*ctx)->platform().c_str(), slide.index()->field_count(), g.tile_width, g.tile_height,
              g.channels);
  for (size_t i = 0; i < results.size(); ++i) {
    const SceneResult& r = results[i];
    const Scene& sc = scenes[i];
    std::printf("%s: viewport %dx%d, %zu tiles, %zu planes at layer %d (factor %d)\n", r.name.c_str(),
                r.width, r.height, r.tiles, r.planes, r.level, 1 << r.level);
    std::printf(
        "  cold %.1f ms (load %.1f + upload %.1f + draw %.1f + read-back %.1f), warm %.1f ms (plan %.1f, "
        "draw %.1f, read-back %.1f)  [targets: cold <= %.0f%s]\n",
        r.cold_ms, r.cold_load_ms, r.cold_upload_ms, r.cold_gl_draw_ms, r.cold_readback_ms, r.warm_ms,
        r.warm_plan_ms, r.warm_draw_ms, r.warm_readback_ms, sc.target_cold_ms,
        sc.target_warm_ms > 0 ? (", warm <= " + std::to_string(int(sc.target_warm_ms))).c_str() : "");
    std::printf(
        "  first cold run %.1f ms (the renderer also allocates texture memory, kept for later frames)\n",
        r.cold_first_ms);
    std::printf(
        "  warm frame CPU time %.1f ms (all threads; %u CPU threads available); tiles drawn as %llu "
        "rectangles "
        "of pixels they own\n",
        r.warm_cpu_ms, std::thread::hardware_concurrency(), (unsigned long long)r.rects);
    std::printf(
        "  loaded %llu planes: %.1f MB decoded from %.1f MB stored; %llu planes in %llu textures, %.1f MB "
        "uploaded\n",
        (unsigned long long)r.planes_loaded, r.bytes_decoded / 1e6, r.bytes_stored / 1e6,
        (unsigned long long)r.planes_uploaded, (unsigned long long)r.textures_uploaded,
        r.bytes_uploaded / 1e6);
    std::printf(
        "  baseline (layers computed from raw tiles): cold %.1f ms, %.1f MB decoded -> %.1fx faster\n",
        r.baseline_cold_ms, r.baseline_bytes_decoded / 1e6, r.baseline_cold_ms / r.cold_ms);
    std::printf("  paper: %.0f ms -> %.1fx faster\n", sc.paper_ms, sc.paper_ms / r.cold_ms);
  }
  std::printf(
      "pan: %d frames of 1920x1080 at zoom 1/8 from cold caches: %.1f FPS, %.0f%% of frames complete\n",
      pan_frames, pan_fps, pan_complete_fraction * 100);
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_BENCH("render", "the paper's viewer scenes: cold/warm frame times, pan FPS, vs raw-tile baseline",
             vslide::cli::bench_render);
