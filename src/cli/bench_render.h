// Shared by `vslide bench render` (cmd_bench_render.cpp) and its fresh-process
// cold frame (bench_render_fresh.cpp): the paper's two viewer scenes on the
// bench slide, and the bench slide's marker.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vslide/core/slide_source.h"
#include "vslide/simulate/scanner.h"
#include "vslide/view/geometry.h"

namespace vslide::cli {

struct RenderScene {
  std::string name;
  view::RectUm region;
  double zoom = 1;
  double paper_ms = 0;
  double target_cold_ms = 0, target_warm_ms = 0;
};

// Scene 1: the whole 19x22 mosaic at zoom 1/16 (paper: ~2 s). Scene 2: a
// 10x10 block at zoom 1/8, its edges in the middle of the overlaps (paper: ~6 s).
std::vector<RenderScene> render_scenes(const SlideSource& slide);
// The viewport that shows a scene's region at its zoom, one output pixel per displayed pixel.
view::Viewport scene_viewport(const RenderScene& scene, double pixel_size_um);

// The scene's scanner set-up: the paper's 19x22 tiles of 1392x1040 in 4
// colours (10 % overlap, 1 µm stage jitter, 0.1° shear, seed 2013), or the
// same set-up on `rows` x `cols` tiles (`vslide bench view`'s quick run).
ScanConfig render_scene_config(int rows = 19, int cols = 22);

// Writes the bench slide at `path` (the scene of `config`, pyramid 2..32,
// overview 1/64) unless a complete one is there, marked with
// kBenchSlideAttribute = `bench` ("render", or "view" for `vslide bench
// view`). AlreadyExists for a file at `path` that bench did not make: it is
// never written.
Status prepare_render_slide(const std::string& path, bool fresh, bool quiet, int threads,
                            const ScanConfig& config = render_scene_config(), const std::string& bench = "render");

// The headline cold figure: a fresh `vslide` process opens the slide (its
// pages evicted from the page cache first) and draws the scene's first
// complete frame. Times are wall clock from fork() to the frame read back.
struct FreshFrame {
  double total_ms = 0;   // fork -> frame read back (process start, GL set-up, open, load, draw)
  double setup_ms = 0;   // in the child: process start to slide open + GL context + renderer ready
  double load_ms = 0;    // planning the complete frame: loading and decoding its planes
  double draw_ms = 0;    // upload + draw + read back
  double bytes_decoded = 0;
  double resident_before = -1;  // share of the slide file in the page cache when the child started
};
Result<FreshFrame> fresh_process_first_frame(const std::string& slide_path, int scene, bool baseline);
// The child's side (`vslide bench render --child-first-frame N`): prints one JSON line.
int first_frame_child(const std::string& slide_path, int scene, bool baseline);

// Prints the figures of `vslide bench render --json` for a reader (bench_render_report.cpp).
void print_render_report(const nlohmann::json& j, bool no_baseline);

}  // namespace vslide::cli
