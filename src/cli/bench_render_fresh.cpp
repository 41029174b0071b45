// The fresh-process cold frame of `vslide bench render` (see bench_render.h),
// and the paper's scenes both sides share.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "bench_render.h"
#include "bench_util.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/view/gl_renderer.h"
#include "vslide/view/slide_view.h"

namespace vslide::cli {

namespace {
using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

std::vector<RenderScene> render_scenes(const SlideSource& slide) {
  const MosaicGeometry& g = slide.geometry();
  const double px = g.pixel_size_um;
  view::SlideView probe(slide);
  const view::RectUm all = probe.slide_bounds();
  auto field_at = [&](int r, int c) { return slide.index()->find(r, c)->field; };
  // Past the neighbours' overlap (10%) plus a margin for the stage jitter.
  const double ovx = g.tile_width * px * 0.1 + 4, ovy = g.tile_height * px * 0.1 + 4;
  const view::RectUm block{field_at(4, 6).stage_x_um + ovx, field_at(4, 6).stage_y_um + ovy,
                           field_at(13, 15).stage_x_um + g.tile_width * px - ovx,
                           field_at(13, 15).stage_y_um + g.tile_height * px - ovy};
  return {{"scene1: 418 tiles at zoom 1/16", all, 1.0 / 16, 2000, 200, 33},
          {"scene2: 100 tiles at zoom 1/8", block, 1.0 / 8, 6000, 500, 0}};
}

view::Viewport scene_viewport(const RenderScene& sc, double px) {
  view::Viewport v;
  v.center_x_um = (sc.region.x0 + sc.region.x1) / 2;
  v.center_y_um = (sc.region.y0 + sc.region.y1) / 2;
  v.zoom = sc.zoom;
  v.pixel_size_um = px;
  v.width_px = int(std::floor(sc.region.width() / px * sc.zoom));
  v.height_px = int(std::floor(sc.region.height() / px * sc.zoom));
  return v;
}

int first_frame_child(const std::string& path, int scene, bool baseline) {
  const auto t_start = Clock::now();
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "vslide bench render (first-frame child): %s\n", s.to_string().c_str());
    return 1;
  };
  auto opened = Hdf5Slide::open(path);
  if (!opened.ok()) return fail(opened.status());
  const Hdf5Slide& slide = **opened;
  auto ctx = view::GlContext::create();
  if (!ctx.ok()) return fail(ctx.status());
  auto gl = view::GlRenderer::create(ctx->get(), size_t(1) << 30);
  if (!gl.ok()) return fail(gl.status());
  const auto scenes = render_scenes(slide);
  if (scene < 0 || size_t(scene) >= scenes.size()) return fail(Status::invalid_argument("no such scene"));
  const view::Viewport v = scene_viewport(scenes[size_t(scene)], slide.geometry().pixel_size_um);
  view::ViewOptions vo;
  vo.use_stored_levels = !baseline;
  vo.use_overview = !baseline;
  view::SlideView sv(slide, vo);
  const auto t_ready = Clock::now();
  auto plan = sv.plan_complete(v);
  if (!plan.ok()) return fail(plan.status());
  const auto t_loaded = Clock::now();
  auto img = (*gl)->render(*plan);
  if (!img.ok()) return fail(img.status());
  const auto t_done = Clock::now();
  nlohmann::json j{{"frame_done_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(t_done.time_since_epoch()).count()},
                   {"setup_ms", ms_between(t_start, t_ready)},
                   {"load_ms", ms_between(t_ready, t_loaded)},
                   {"draw_ms", ms_between(t_loaded, t_done)},
                   {"bytes_decoded", sv.loader_stats().bytes_decoded}};
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
  return 0;
}

Result<FreshFrame> fresh_process_first_frame(const std::string& path, int scene, bool baseline) {
  VSLIDE_RETURN_IF_ERROR(evict_from_page_cache(path));
  FreshFrame out;
  out.resident_before = resident_fraction(path);
  int fds[2];
  if (::pipe(fds) != 0) return Status::io_error("pipe failed");
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<std::string> args = {"vslide", "bench", "render", "--slide", path, "--child-first-frame",
                                   std::to_string(scene)};
  if (baseline) args.push_back("--child-baseline");
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::io_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    _exit(127);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, size_t(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::internal("the first-frame process failed (exit status " + std::to_string(status) + ")");
  }
  const size_t line = text.rfind('{');
  auto j = nlohmann::json::parse(line == std::string::npos ? std::string("null") : text.substr(line), nullptr, false);
  if (!j.is_object() || !j.contains("frame_done_ns")) {
    return Status::internal("the first-frame process printed no result: " + text);
  }
  const auto t0_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count();
  out.total_ms = double(j["frame_done_ns"].get<int64_t>() - t0_ns) / 1e6;
  out.setup_ms = j["setup_ms"].get<double>();
  out.load_ms = j["load_ms"].get<double>();
  out.draw_ms = j["draw_ms"].get<double>();
  out.bytes_decoded = j["bytes_decoded"].get<double>();
  return out;
}

}  // namespace vslide::cli
