// vslide render: one view of a slide to a PNG, headless (GPU through EGL, or
// the CPU reference renderer with --cpu).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "args.h"
#include "command.h"
#include "open_slide.h"
#include "vslide/view/cpu_renderer.h"
#include "vslide/view/gl_renderer.h"
#include "vslide/view/slide_view.h"
#include "vslide/view/view_state.h"

namespace vslide::cli {
namespace {

using namespace vslide::view;

bool parse_doubles(const std::string& text, size_t n, std::vector<double>* out) {
  out->clear();
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t used = 0;
      out->push_back(std::stod(part, &used));
      if (used != part.size()) return false;
    } catch (...) {
      return false;
    }
  }
  return out->size() == n;
}

bool parse_int(const std::string& text, int* out) {
  try {
    size_t used = 0;
    *out = std::stoi(text, &used);
    return used == text.size();
  } catch (...) {
    return false;
  }
}

// "C=VALUE" -> channel C and VALUE.
bool split_assignment(const std::string& text, int* channel, std::string* value) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) return false;
  *value = text.substr(eq + 1);
  return parse_int(text.substr(0, eq), channel) && !value->empty();
}

int fail(const std::string& message) {
  std::cerr << "vslide render: " << message << "\n";
  return 1;
}

int run_render(int argc, char** argv) {
  std::string slide_path, out, size = "1920x1080", center, region, channels, layer = "auto", display_file;
  bool no_saved = false;
  std::vector<std::string> colors, contrasts, gammas, overlays;
  double zoom = 0;
  bool fit = false, auto_contrast = false, stats = false, cpu = false, json = false;
  int threads = 0;
  ArgParser p(
      "vslide render SLIDE --out view.png [--size WxH] [--center-um X,Y --zoom Z | --region-um X0,Y0,X1,Y1 | "
      "--fit] [--channels 0,2] [--color C=#rrggbb ...] [--contrast C=LOW:HIGH ... | --auto-contrast] "
      "[--gamma C=G ...] [--layer auto|raw|2|4|8|16] [--overlay tile-outlines|detections:NAME] [--stats]",
      "Renders a view of a slide (file or tcp:// URL) to a PNG on the GPU (EGL, headless), waiting until "
      "every tile is drawn at the zoom layer the magnification needs.");
  p.positional("SLIDE", "slide file or tcp:// URL", &slide_path);
  p.option("--out", "PNG", "output PNG file (required)", &out);
  p.option("--size", "WxH", "output size in pixels (default 1920x1080)", &size);
  p.option("--center-um", "X,Y", "view centre in slide micrometres (with --zoom)", &center);
  p.option("--zoom", "Z", "screen pixels per camera pixel, e.g. 0.0625 for 1/16 (with --center-um)", &zoom);
  p.option("--region-um", "X0,Y0,X1,Y1", "show this slide region whole", &region);
  p.flag("--fit", "show the whole slide (the default)", &fit);
  p.option("--display", "FILE",
           "a view state (JSON, as `vslide view` saves): channels, colours, windows, gamma, overlays, z/t and, "
           "without --center-um/--region-um/--fit, the view itself. Default: the slide's saved display settings "
           "(see docs/VIEWER.md), else the channel table",
           &display_file);
  p.flag("--no-saved-display", "ignore the slide's saved display settings", &no_saved);
  p.option("--channels", "C,C,...", "channels to display (default: all)", &channels);
  p.multi("--color", "C=#rrggbb", "display colour of channel C (default: the channel table)", &colors);
  p.multi("--contrast", "C=LOW:HIGH", "contrast window of channel C (default: the channel table)",
          &contrasts);
  p.flag("--auto-contrast", "contrast windows from the visible tiles' histograms (0.5% and 99.5%)",
         &auto_contrast);
  p.multi("--gamma", "C=G", "gamma of channel C (value^G after the window), 0.05 to 10", &gammas);
  p.option("--layer", "auto|raw|F", "zoom layer: auto, raw, or a downsampling factor 2, 4, 8, 16, ...",
           &layer);
  std::string flatfield = "on";
  p.option("--flatfield", "on|off", "shading correction where the slide stores a flat-field (default on)",
           &flatfield);
  p.multi("--overlay", "KIND", "tile-outlines or detections:NAME (repeatable)", &overlays);
  p.option("--threads", "N", "loader threads (default 0: one per core)", &threads);
  std::string positions;
  p.option("--positions", "stage|registered",
           "where fields are drawn: their registered positions where the slide has them (vslide register; the "
           "default), or the stage's",
           &positions);
  p.flag("--cpu", "use the CPU reference renderer instead of OpenGL", &cpu);
  p.flag("--stats", "print what the frame needed and cost", &stats);
  p.flag("--json", "print the statistics as JSON", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (out.empty()) return p.usage_error("--out PNG is required");
  // The PNG goes through a temporary name, so only the rename could replace
  // an input: refuse an --out that is the slide or the view state file.
  if (same_file(slide_path, out)) return p.usage_error("--out " + out + " is the slide itself; refusing to overwrite it");
  if (!display_file.empty() && same_file(display_file, out)) {
    return p.usage_error("--out " + out + " is the --display file; refusing to overwrite it");
  }
  int width = 0, height = 0;
  if (!parse_size(size, &width, &height)) return p.usage_error("--size must be WIDTHxHEIGHT, e.g. 1920x1080");
  if (!center.empty() + !region.empty() + fit > 1) {
    return p.usage_error("choose one of --center-um/--zoom, --region-um and --fit");
  }
  if (!center.empty() && !(zoom > 0)) return p.usage_error("--center-um needs --zoom Z with Z > 0");
  if (auto_contrast && !contrasts.empty())
    return p.usage_error("--contrast and --auto-contrast exclude each other");

  const auto t_start = std::chrono::steady_clock::now();
  auto slide = open_slide(slide_path);
  if (!slide.ok()) return fail(slide.status().to_string());
  const SlideSource& src = **slide;

  // Display settings: --display FILE, else the slide's saved settings, else
  // the channel table; then the options.
  std::optional<ViewState> state;
  if (!display_file.empty()) {
    auto st = load_view_state(display_file);
    if (!st.ok()) return fail(st.status().to_string());
    state = std::move(*st);
    reconcile_view_state(*state, src, slide_path);
  } else if (!no_saved) {
    auto st = load_saved_view_state(src, slide_path);
    if (st.ok()) {
      state = std::move(*st);
      state->zoom = 0;  // saved settings give the look, not the place
    } else if (st.status().code() != StatusCode::kNotFound) {
      std::cerr << "vslide render: warning: " << st.status().to_string() << " (using the channel table)\n";
    }
  }
  std::vector<int32_t> which;
  if (!channels.empty()) {
    std::stringstream ss(channels);
    std::string part;
    while (std::getline(ss, part, ',')) {
      int c;
      if (!parse_int(part, &c)) return p.usage_error("--channels: '" + part + "' is not a channel number");
      which.push_back(c);
    }
  }
  auto display = DisplaySettings::from_channel_table(src.channels(), which);
  if (!display.ok()) return fail(src.describe() + ": " + display.status().message());
  if (state) {
    DisplaySettings shown = drawn_display(*state);
    if (!which.empty()) {  // --channels picks among the state's settings
      for (auto& d : display->channels) {
        const int i = state->display.position_of(d.channel);
        if (i >= 0) d = state->display.channels[size_t(i)];
        d.enabled = true;
      }
    } else {
      *display = std::move(shown);
    }
  }
  auto channel_slot = [&](int c, const char* option) -> ChannelDisplay* {
    const int i = display->position_of(c);
    if (i < 0) {
      fail(src.describe() + ": " + option + " names channel " + std::to_string(c) +
           ", which is not displayed (the slide has " + std::to_string(src.channels().size()) +
           " channels; --channels selects which are shown)");
      return nullptr;
    }
    return &display->channels[size_t(i)];
  };
  for (const auto& text : colors) {
    int c;
    std::string v;
    if (!split_assignment(text, &c, &v))
      return p.usage_error("--color expects C=#rrggbb, got '" + text + "'");
    ChannelDisplay* d = channel_slot(c, "--color");
    if (!d) return 1;
    auto rgb = parse_rgb(v);
    if (!rgb.ok()) return p.usage_error("--color " + text + ": " + rgb.status().message());
    d->color = *rgb;
  }
  for (const auto& text : contrasts) {
    int c;
    std::string v;
    std::vector<double> lohi;
    if (!split_assignment(text, &c, &v))
      return p.usage_error("--contrast expects C=LOW:HIGH, got '" + text + "'");
    std::replace(v.begin(), v.end(), ':', ',');
    if (!parse_doubles(v, 2, &lohi))
      return p.usage_error("--contrast expects C=LOW:HIGH, got '" + text + "'");
    ChannelDisplay* d = channel_slot(c, "--contrast");
    if (!d) return 1;
    d->low = float(lohi[0]);
    d->high = float(lohi[1]);
  }
  for (const auto& text : gammas) {
    int c;
    std::string v;
    std::vector<double> g;
    if (!split_assignment(text, &c, &v) || !parse_doubles(v, 1, &g)) {
      return p.usage_error("--gamma expects C=G, got '" + text + "'");
    }
    if (!gamma_in_range(g[0])) {  // checked as a double: 1e300 is no float
      char range[64];
      std::snprintf(range, sizeof range, "gamma must lie between %g and %g", kMinGamma, kMaxGamma);
      return p.usage_error("--gamma " + text + ": " + range);
    }
    ChannelDisplay* d = channel_slot(c, "--gamma");
    if (!d) return 1;
    d->gamma = float(g[0]);
  }

  if (flatfield != "on" && flatfield != "off") return p.usage_error("--flatfield: on or off, not " + flatfield);
  ViewOptions vo;
  vo.flatfield = flatfield == "on";
  vo.loader_threads = std::max(0, threads);
  if (state) vo.positions = state->positions == Positions::kStage ? PositionsMode::kStage : PositionsMode::kRegistered;
  if (!positions.empty()) {
    auto mode = parse_positions_mode(positions);
    if (!mode.ok()) return p.usage_error("--positions: " + mode.status().message());
    vo.positions = *mode;
  }
  SlideView view(src, vo);
  if (state) {
    if (Status s = view.set_plane(state->z, state->t); !s.ok()) return fail(s.message());
  }
  if (Status s = view.set_display(*display); !s.ok()) return fail(s.message());

  int32_t level = -1;
  if (layer == "raw") {
    level = 0;
  } else if (layer != "auto") {
    int f;
    if (!parse_int(layer, &f) || f < 1 || (f & (f - 1)) != 0) {
      return p.usage_error("--layer must be auto, raw or a power-of-two factor (2, 4, 8, 16, ...), got '" +
                           layer + "'");
    }
    level = int32_t(std::lround(std::log2(f)));
  }
  if (Status s = view.force_level(level); !s.ok()) return fail(s.message());

  Overlay overlay;
  if (state) {
    overlay.tile_outlines = state->tile_outlines;
    if (const LayerStyle* l = state->drawn_layer()) overlay.detection_layer = l->layer;
  }
  for (const auto& o : overlays) {
    if (o == "tile-outlines") {
      overlay.tile_outlines = true;
    } else if (o.rfind("detections:", 0) == 0 && o.size() > 11) {
      overlay.detection_layer = o.substr(11);
    } else {
      return p.usage_error("--overlay must be tile-outlines or detections:NAME, got '" + o + "'");
    }
  }
  if (Status s = view.set_overlay(overlay); !s.ok()) return fail(s.message());

  Viewport viewport;
  std::vector<double> v;
  const double px = src.geometry().pixel_size_um;
  if (!center.empty()) {
    if (!parse_doubles(center, 2, &v)) return p.usage_error("--center-um expects X,Y");
    viewport = Viewport{v[0], v[1], zoom, width, height, px};
  } else if (!region.empty()) {
    if (!parse_doubles(region, 4, &v)) return p.usage_error("--region-um expects X0,Y0,X1,Y1");
    if (!(v[2] > v[0]) || !(v[3] > v[1])) {
      return fail("--region-um " + region + " is empty: X1 must exceed X0 and Y1 exceed Y0");
    }
    viewport = Viewport::fit(RectUm{v[0], v[1], v[2], v[3]}, width, height, px);
  } else {
    if (view.tree().size() == 0) return fail(src.describe() + ": the slide has no tiles to render");
    viewport = view.fit_viewport(width, height);
    if (state && !fit && state->zoom > 0) viewport = state->viewport(width, height, px, view.slide_bounds());
  }

  // Start the loaders (a non-blocking first plan requests every tile), and
  // bring up OpenGL while they read: the two overlap.
  if (auto first = view.plan_frame(viewport); !first.ok()) return fail(first.status().message());
  std::unique_ptr<GlContext> context;
  std::unique_ptr<GlRenderer> renderer;
  std::string renderer_name = "cpu reference";
  if (!cpu) {
    auto ctx = GlContext::create();
    if (!ctx.ok()) return fail(ctx.status().message() + " (or render without OpenGL: --cpu)");
    context = std::move(*ctx);
    renderer_name = context->renderer();
    auto r = GlRenderer::create(context.get());
    if (!r.ok()) return fail(r.status().message());
    renderer = std::move(*r);
  }
  if (auto_contrast) {
    if (Status s = view.auto_contrast(viewport); !s.ok()) return fail(s.message());
  }
  FrameInfo info;
  auto plan = view.plan_complete(viewport, &info);
  if (!plan.ok()) return fail(plan.status().message());
  if (state) style_plan(*state, &*plan);
  for (const auto& w : info.warnings) std::cerr << "vslide render: warning: " << w << "\n";
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start).count();

  const auto t_draw = std::chrono::steady_clock::now();
  Result<RgbImage> image = cpu ? render_cpu(*plan) : renderer->render(*plan);
  GlFrameStats gl_stats;
  if (renderer) gl_stats = renderer->last_frame();
  if (!image.ok()) return fail(image.status().message());
  const double draw_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_draw).count();
  if (Status s = write_then_rename(out, [&](const std::string& tmp) { return write_png(tmp, *image); }); !s.ok()) {
    return fail(s.message());
  }

  if (stats || json) {
    const LoaderStats ls = view.loader_stats();
    const CacheStats cs = view.tile_cache_stats();
    const RectUm r = viewport.rect_um();
    nlohmann::json j = {
        {"out", out},
        {"renderer", renderer_name},
        {"size", {width, height}},
        {"region_um", {r.x0, r.y0, r.x1, r.y1}},
        {"zoom", viewport.zoom},
        {"level", info.level},
        {"overview_only", info.overview_only},
        {"tiles_visible", info.tiles_visible},
        {"planes", info.planes_needed},
        {"placeholders", info.placeholders},
        {"planes_loaded", ls.planes_loaded},
        {"planes_computed", ls.planes_computed},
        {"bytes_decoded", ls.bytes_decoded},
        {"tile_cache", {{"hits", cs.hits}, {"misses", cs.misses}, {"bytes", cs.bytes}}},
        {"textures_uploaded", gl_stats.textures_uploaded},
        {"planes_uploaded", gl_stats.planes_uploaded},
        {"bytes_uploaded", gl_stats.bytes_uploaded},
        {"load_ms", load_ms},
        {"render_ms", draw_ms},
        {"upload_ms", gl_stats.upload_ms},
        {"draw_ms", gl_stats.draw_ms},
        {"readback_ms", gl_stats.readback_ms},
    };
    if (json) {
      std::cout << j.dump(2) << "\n";
    } else {
      std::printf("%s: %dx%d, zoom %.4g, layer %d (factor %d)%s, renderer %s\n", out.c_str(), width, height,
                  viewport.zoom, info.level, 1 << info.level, info.overview_only ? " from the overview" : "",
                  renderer_name.c_str());
      std::printf("  view %s\n", r.to_string().c_str());
      std::printf(
          "  tiles %zu, planes %zu, placeholders %zu; loaded %llu planes (%llu computed), %.1f MB decoded\n",
          info.tiles_visible, info.planes_needed, info.placeholders, (unsigned long long)ls.planes_loaded,
          (unsigned long long)ls.planes_computed, double(ls.bytes_decoded) / 1e6);
      std::printf("  tile cache hits %llu misses %llu; %llu planes uploaded in %llu textures (%.1f MB)\n",
                  (unsigned long long)cs.hits, (unsigned long long)cs.misses,
                  (unsigned long long)gl_stats.planes_uploaded,
                  (unsigned long long)gl_stats.textures_uploaded, double(gl_stats.bytes_uploaded) / 1e6);
      std::printf(
          "  open+GL start+load %.1f ms, render+read-back %.1f ms (upload %.1f, draw %.1f, read-back %.1f)\n",
          load_ms, draw_ms, gl_stats.upload_ms, gl_stats.draw_ms, gl_stats.readback_ms);
    }
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("render", "render a view of a slide to a PNG (GPU, headless)", vslide::cli::run_render);
