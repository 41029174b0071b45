// ViewState: everything a view of a slide shows, as one plain value with a
// JSON form (the Neuroglancer idea: every control edits this value; sharing,
// saving and reproducing a view come free).
//
// The window (part app) keeps one ViewState and turns input into edits of
// it; `vslide render --display FILE` reads the same JSON and gives the same
// picture headless. Display settings are saved per slide (see
// display_settings_path) and restored when the slide is opened again.
//
// JSON form (every key optional on input; missing keys keep their defaults):
//   {"version": 1, "slide": "slide.h5", "slide_id": "vs-...",
//    "center_um": [x, y], "zoom": 0.0625,        zoom 0: fit the slide
//    "z": 0, "t": 0, "positions": "registered" | "stage",
//    "channels": [{"channel": 0, "visible": true, "color": "#0000ff",
//                  "low": 100, "high": 3000, "gamma": 1.0}, ...],
//    "overlays": {"tile_outlines": false,
//                 "detections": [{"layer": "nuclei", "visible": true, "color": "#ffd900"}]}}
//
// Thread-safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vslide/core/slide_source.h"
#include "vslide/view/display.h"
#include "vslide/view/frame.h"
#include "vslide/view/geometry.h"

namespace vslide::view {

class SlideView;

// Where fields are drawn: registered positions where the slide stores a
// registration (the default; the stage's elsewhere), or always the stage's.
enum class Positions { kStage, kRegistered };

// One detection layer as the layers panel shows it.
struct LayerStyle {
  std::string layer;
  bool visible = false;
  Rgb color{1.0f, 0.85f, 0.0f};
  bool operator==(const LayerStyle&) const = default;
};

struct ViewState {
  std::string slide;     // path or URL it was opened from (informational)
  std::string slide_id;  // SlideHeader::slide_id: the key of the saved settings
  double center_x_um = 0, center_y_um = 0;
  double zoom = 0;  // screen pixels per camera pixel; 0 = fit the slide
  int32_t z = 0, t = 0;
  Positions positions = Positions::kRegistered;
  // Every channel of the slide in channel order; `enabled` is "visible".
  DisplaySettings display;
  bool tile_outlines = false;
  std::vector<LayerStyle> layers;

  // The viewport of this state in a w x h output; a zero zoom fits `bounds`.
  Viewport viewport(int32_t w, int32_t h, double pixel_size_um, const RectUm& bounds) const;
  // The detection layer drawn: the first visible one (the engine draws one
  // layer at a time), or nullptr.
  const LayerStyle* drawn_layer() const;
};

void to_json(nlohmann::json& j, const ViewState& s);
// Throws nlohmann::json exceptions on bad types (parse_view_state catches them).
void from_json(const nlohmann::json& j, ViewState& s);

std::string view_state_to_json(const ViewState& s);
// InvalidArgument naming `what` (a path) for bad JSON or values.
Result<ViewState> parse_view_state(std::string_view text, std::string_view what = "view state");
Result<ViewState> load_view_state(const std::string& path);
// Written to PATH.tmp then renamed, so a crash never leaves half a file.
Status save_view_state(const std::string& path, const ViewState& s);

// The default state for a slide: the channel table's colours and windows,
// every channel visible, fitted, its detection layers listed (hidden).
ViewState default_view_state(const SlideSource& slide, const std::string& opened_as = "");
// Makes `s` fit `slide`: channels it lacks are dropped, channels it does not
// list are added with defaults, unknown layers dropped, z/t clamped; the
// slide id and path are set. Returns what was changed, for a status line.
std::vector<std::string> reconcile_view_state(ViewState& s, const SlideSource& slide,
                                              const std::string& opened_as = "");

// Where the display settings of slide `slide_id` are saved:
//   $VSLIDE_DISPLAY_DIR/<id>.json when set, else
//   $XDG_CONFIG_HOME/vslide/display/<id>.json, else ~/.config/vslide/display/<id>.json.
// Characters other than [A-Za-z0-9._-] in the id become '_'. Never the slide file.
std::string display_settings_path(const std::string& slide_id);
// The saved state of a slide reconciled with it; NotFound when none is saved.
Result<ViewState> load_saved_view_state(const SlideSource& slide, const std::string& opened_as = "");
Status save_view_state_for_slide(const ViewState& s);

// The channels a view draws: the visible ones (hidden channels are not
// loaded; the status matrix makes them black anyway). When none is visible,
// the first channel, switched off (a black frame).
DisplaySettings drawn_display(const ViewState& s);
// Applies display (drawn_display), overlays and z/t to a view (InvalidArgument/NotFound from
// the view when the state does not fit the slide).
Status apply_view_state(const ViewState& s, SlideView& view);
// The overlay colours of the state, for a FramePlan's style.
void style_plan(const ViewState& s, FramePlan* plan);

}  // namespace vslide::view
