// The human-readable report of `vslide bench render`: every figure named for
// what it measures, the headline first.
#include <cstdio>

#include "bench_render.h"

namespace vslide::cli {

void print_render_report(const nlohmann::json& j, bool no_baseline) {
  const auto& m = j["machine"];
  std::printf("bench render: %s (%s), %u CPU threads, %d loader threads; slide %zu tiles of %dx%d, %d colours; "
              "medians of %d runs\n",
              m["gl_renderer"].get<std::string>().c_str(), m["egl_platform"].get<std::string>().c_str(),
              m["cpu_threads"].get<unsigned>(), m["loader_threads"].get<int>(), j["slide"]["tiles"].get<size_t>(),
              j["slide"]["tile"][0].get<int>(), j["slide"]["tile"][1].get<int>(), j["slide"]["channels"].get<int>(),
              j["runs"].get<int>());
  for (const auto& s : j["scenes"]) {
    std::printf("\n%s: viewport %dx%d, %zu tiles, %zu planes at layer %d (factor %d)\n",
                s["name"].get<std::string>().c_str(), s["viewport"][0].get<int>(), s["viewport"][1].get<int>(),
                s["tiles"].get<size_t>(), s["planes"].get<size_t>(), s["level"].get<int>(), 1 << s["level"].get<int>());
    const auto& f = s["cold_fresh_process"];
    std::printf("  COLD (headline), fresh process, slide evicted from the page cache: %.1f ms to the first complete "
                "frame [min %.1f, max %.1f; target <= %.0f]\n"
                "      = process start + slide open + GL context and shaders %.1f, load %.1f, upload + draw + "
                "read-back %.1f (rest: fork/exec); %.0f%% of the slide still cached after eviction\n",
                f["ms"].get<double>(), f["min_ms"].get<double>(), f["max_ms"].get<double>(),
                s["target_cold_ms"].get<double>(), f["setup_ms"].get<double>(), f["load_ms"].get<double>(),
                f["draw_ms"].get<double>(), 100 * f["slide_resident_after_eviction"].get<double>());
    const auto& c = s["caches_emptied"];
    std::printf("  caches emptied in a running renderer (file in the page cache, GL ready): %.1f ms (load %.1f + "
                "upload %.1f + draw %.1f + read-back %.1f); first such run %.1f ms (allocates texture memory)\n",
                c["ms"].get<double>(), c["load_ms"].get<double>(), c["upload_ms"].get<double>(),
                c["gl_draw_ms"].get<double>(), c["readback_ms"].get<double>(), c["first_run_ms"].get<double>());
    const auto& w = s["warm"];
    std::printf("  warm (redrawn from the caches): %.1f ms (plan %.1f, draw %.1f, read-back %.1f), CPU %.1f ms all "
                "threads%s\n",
                w["ms"].get<double>(), w["plan_ms"].get<double>(), w["draw_ms"].get<double>(),
                w["readback_ms"].get<double>(), w["cpu_ms"].get<double>(),
                s["target_warm_ms"].get<double>() > 0
                    ? ("  [target <= " + std::to_string(int(s["target_warm_ms"].get<double>())) + "]").c_str()
                    : "");
    std::printf("  loaded %zu planes: %.1f MB decoded from %.1f MB stored; %zu planes in %zu textures, %.1f MB "
                "uploaded, %zu rectangles drawn\n",
                s["planes_loaded"].get<size_t>(), s["bytes_decoded"].get<double>() / 1e6,
                s["bytes_stored"].get<double>() / 1e6, s["planes_uploaded"].get<size_t>(),
                s["textures_uploaded"].get<size_t>(), s["bytes_uploaded"].get<double>() / 1e6,
                s["rects_drawn"].get<size_t>());
    if (!no_baseline) {
      const auto& b = s["baseline"];
      std::printf("  baseline (every layer computed from full-resolution tiles, %d runs): fresh process %.1f ms "
                  "-> %.1fx; caches emptied %.1f ms -> %.1fx; %.1f MB decoded\n",
                  b["runs"].get<int>(), b["cold_fresh_process"]["ms"].get<double>(),
                  s["speedup_vs_baseline_fresh_process"].get<double>(), b["caches_emptied_ms"].get<double>(),
                  s["speedup_vs_baseline_caches_emptied"].get<double>(), b["bytes_decoded"].get<double>() / 1e6);
      std::printf("  paper: %.0f ms -> %.1fx (fresh-process cold frame)\n", s["paper_ms"].get<double>(),
                  s["speedup_vs_paper"].get<double>());
    }
  }
  const auto& pan = j["pan"];
  std::printf("\npan: %d frames of 1920x1080 at zoom 1/8 from cold caches: %.1f FPS, %.0f%% of frames complete\n",
              pan["frames"].get<int>(), pan["fps"].get<double>(), 100 * pan["complete_fraction"].get<double>());
}

}  // namespace vslide::cli
