#include "vslide/view/view_state.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "vslide/view/slide_view.h"

namespace vslide::view {

Viewport ViewState::viewport(int32_t w, int32_t h, double pixel_size_um, const RectUm& bounds) const {
  if (!(zoom > 0)) return Viewport::fit(bounds, w, h, pixel_size_um);
  return Viewport{center_x_um, center_y_um, zoom, w, h, pixel_size_um};
}

const LayerStyle* ViewState::drawn_layer() const {
  for (const auto& l : layers) {
    if (l.visible) return &l;
  }
  return nullptr;
}

void to_json(nlohmann::json& j, const ViewState& s) {
  nlohmann::json channels = nlohmann::json::array();
  for (const auto& c : s.display.channels) {
    channels.push_back({{"channel", c.channel},
                        {"visible", c.enabled},
                        {"color", rgb_to_hex(c.color)},
                        {"low", c.low},
                        {"high", c.high},
                        {"gamma", c.gamma}});
  }
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : s.layers) {
    layers.push_back({{"layer", l.layer}, {"visible", l.visible}, {"color", rgb_to_hex(l.color)}});
  }
  j = {{"version", 1},
       {"slide", s.slide},
       {"slide_id", s.slide_id},
       {"center_um", {s.center_x_um, s.center_y_um}},
       {"zoom", s.zoom},
       {"z", s.z},
       {"t", s.t},
       {"positions", s.positions == Positions::kRegistered ? "registered" : "stage"},
       {"channels", channels},
       {"overlays", {{"tile_outlines", s.tile_outlines}, {"detections", layers}}}};
}

namespace {
Rgb color_of(const nlohmann::json& j, const char* key, Rgb fallback) {
  if (!j.contains(key)) return fallback;
  auto c = parse_rgb(j.at(key).get<std::string>());
  if (!c.ok()) throw std::invalid_argument(std::string(key) + ": " + c.status().message());
  return *c;
}
}  // namespace

void from_json(const nlohmann::json& j, ViewState& s) {
  s = ViewState{};
  s.slide = j.value("slide", "");
  s.slide_id = j.value("slide_id", "");
  if (j.contains("center_um")) {
    const auto& c = j.at("center_um");
    if (!c.is_array() || c.size() != 2) throw std::invalid_argument("center_um must be [x, y]");
    s.center_x_um = c[0].get<double>();
    s.center_y_um = c[1].get<double>();
  }
  s.zoom = j.value("zoom", 0.0);
  if (!std::isfinite(s.zoom) || s.zoom < 0) throw std::invalid_argument("zoom must be >= 0 (0: fit)");
  s.z = j.value("z", 0);
  s.t = j.value("t", 0);
  const std::string pos = j.value("positions", "registered");
  if (pos != "stage" && pos != "registered")
    throw std::invalid_argument("positions must be \"stage\" or \"registered\", not \"" + pos + "\"");
  s.positions = pos == "registered" ? Positions::kRegistered : Positions::kStage;
  for (const auto& c : j.value("channels", nlohmann::json::array())) {
    ChannelDisplay d;
    d.channel = c.at("channel").get<int32_t>();
    d.enabled = c.value("visible", true);
    d.color = color_of(c, "color", d.color);
    d.low = c.value("low", d.low);
    d.high = c.value("high", d.high);
    const double gamma = c.value("gamma", double(d.gamma));  // a double first: 1e300 is no float
    if (!gamma_in_range(gamma)) {
      char text[128];
      std::snprintf(text, sizeof text, "channel %d: gamma %g is outside the accepted range %g to %g",
                    int(d.channel), gamma, kMinGamma, kMaxGamma);
      throw std::invalid_argument(text);
    }
    d.gamma = float(gamma);
    s.display.channels.push_back(d);
  }
  if (j.contains("overlays")) {
    const auto& o = j.at("overlays");
    s.tile_outlines = o.value("tile_outlines", false);
    for (const auto& l : o.value("detections", nlohmann::json::array())) {
      LayerStyle ls;
      ls.layer = l.at("layer").get<std::string>();
      ls.visible = l.value("visible", false);
      ls.color = color_of(l, "color", ls.color);
      s.layers.push_back(ls);
    }
  }
}

std::string view_state_to_json(const ViewState& s) { return nlohmann::json(s).dump(2) + "\n"; }

Result<ViewState> parse_view_state(std::string_view text, std::string_view what) {
  ViewState s;
  try {
    s = nlohmann::json::parse(text).get<ViewState>();
  } catch (const std::exception& e) {
    return Status::invalid_argument(std::string(what) + ": not a view state: " + e.what());
  }
  for (const auto& c : s.display.channels) {
    if (!(c.low < c.high) || !(c.gamma > 0)) {
      return Status::invalid_argument(std::string(what) + ": channel " + std::to_string(c.channel) +
                                      " needs low < high and gamma > 0");
    }
  }
  return s;
}

Result<ViewState> load_view_state(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::not_found(path + ": cannot open the view state file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_view_state(ss.str(), path);
}

Status save_view_state(const std::string& path, const ViewState& s) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << view_state_to_json(s);
    if (!out.flush()) return Status::io_error(tmp + ": cannot write the view state");
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::io_error(path + ": cannot save the view state: " + ec.message());
  return Status();
}

ViewState default_view_state(const SlideSource& slide, const std::string& opened_as) {
  ViewState s;
  auto d = DisplaySettings::from_channel_table(slide.channels());
  if (d.ok()) s.display = std::move(*d);
  for (const auto& name : slide.detection_layers()) s.layers.push_back(LayerStyle{name, false, {1, 0.85f, 0}});
  s.slide_id = slide.header().slide_id;
  s.slide = opened_as.empty() ? slide.describe() : opened_as;
  return s;
}

std::vector<std::string> reconcile_view_state(ViewState& s, const SlideSource& slide,
                                              const std::string& opened_as) {
  std::vector<std::string> notes;
  const ViewState defaults = default_view_state(slide, opened_as);
  DisplaySettings merged;
  for (const auto& def : defaults.display.channels) {
    const int i = s.display.position_of(def.channel);
    merged.channels.push_back(i >= 0 ? s.display.channels[size_t(i)] : def);
    if (i < 0) notes.push_back("channel " + std::to_string(def.channel) + " was not in the saved state");
  }
  if (s.display.channels.size() > merged.channels.size() ||
      std::any_of(s.display.channels.begin(), s.display.channels.end(),
                  [&](const ChannelDisplay& c) { return merged.position_of(c.channel) < 0; })) {
    notes.push_back("channels the slide lacks were dropped");
  }
  s.display = std::move(merged);
  std::vector<LayerStyle> layers;
  for (const auto& def : defaults.layers) {
    auto it = std::find_if(s.layers.begin(), s.layers.end(), [&](const LayerStyle& l) { return l.layer == def.layer; });
    layers.push_back(it != s.layers.end() ? *it : def);
  }
  if (layers.size() != s.layers.size()) notes.push_back("detection layers updated from the slide");
  s.layers = std::move(layers);
  const MosaicGeometry& g = slide.geometry();
  s.z = std::clamp(s.z, 0, std::max(0, g.z_planes - 1));
  s.t = std::clamp(s.t, 0, std::max(0, g.timepoints - 1));
  s.slide_id = defaults.slide_id;
  s.slide = defaults.slide;
  return notes;
}

std::string display_settings_path(const std::string& slide_id) {
  std::string id = slide_id.empty() ? "unnamed" : slide_id;
  for (char& c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  }
  if (id[0] == '.') id[0] = '_';
  std::filesystem::path dir;
  if (const char* d = std::getenv("VSLIDE_DISPLAY_DIR"); d && *d) {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) {
    dir = std::filesystem::path(x) / "vslide" / "display";
  } else {
    const char* home = std::getenv("HOME");
    dir = std::filesystem::path(home && *home ? home : "/tmp") / ".config" / "vslide" / "display";
  }
  return (dir / (id + ".json")).string();
}

Result<ViewState> load_saved_view_state(const SlideSource& slide, const std::string& opened_as) {
  const std::string path = display_settings_path(slide.header().slide_id);
  if (!std::filesystem::exists(path)) return Status::not_found(path + ": no saved display settings");
  VSLIDE_ASSIGN_OR_RETURN(ViewState s, load_view_state(path));
  reconcile_view_state(s, slide, opened_as);
  return s;
}

Status save_view_state_for_slide(const ViewState& s) {
  return save_view_state(display_settings_path(s.slide_id), s);
}

DisplaySettings drawn_display(const ViewState& s) {
  DisplaySettings d;
  for (const auto& c : s.display.channels) {
    if (c.enabled) d.channels.push_back(c);
  }
  if (d.channels.empty() && !s.display.channels.empty()) d.channels.push_back(s.display.channels[0]);
  return d;
}

Status apply_view_state(const ViewState& s, SlideView& view) {
  VSLIDE_RETURN_IF_ERROR(view.set_display(drawn_display(s)));
  Overlay overlay;
  overlay.tile_outlines = s.tile_outlines;
  if (const LayerStyle* l = s.drawn_layer()) overlay.detection_layer = l->layer;
  VSLIDE_RETURN_IF_ERROR(view.set_overlay(overlay));
  const PositionsMode mode = s.positions == Positions::kStage ? PositionsMode::kStage : PositionsMode::kRegistered;
  if (view.positions() != mode) view.set_positions(mode);
  return view.set_plane(s.z, s.t);
}

void style_plan(const ViewState& s, FramePlan* plan) {
  if (const LayerStyle* l = s.drawn_layer()) plan->style.label_color = l->color;
}

}  // namespace vslide::view
