#include "vslide/core/slide_header.h"

#include <climits>
#include <cmath>
#include <cstdio>
#include <optional>
#include <stdexcept>

namespace vslide {

using nlohmann::json;

std::string_view slide_state_name(SlideState s) {
  switch (s) {
    case SlideState::kScanning: return "scanning";
    case SlideState::kComplete: return "complete";
    case SlideState::kFailed: return "failed";
    case SlideState::kRecovered: return "recovered";
  }
  return "unknown";
}

Result<SlideState> parse_slide_state(std::string_view s) {
  if (s == "scanning") return SlideState::kScanning;
  if (s == "complete") return SlideState::kComplete;
  if (s == "failed") return SlideState::kFailed;
  if (s == "recovered") return SlideState::kRecovered;
  return Status::invalid_argument("unknown slide state '" + std::string(s) + "'");
}

Result<Rgb> parse_rgb(std::string_view hex) {
  if (hex.size() == 7 && hex[0] == '#') hex.remove_prefix(1);
  if (hex.size() != 6) return Status::invalid_argument("colour '" + std::string(hex) + "' is not #rrggbb");
  unsigned v[3];
  for (int i = 0; i < 3; ++i) {
    unsigned x = 0;
    for (int k = 0; k < 2; ++k) {
      char ch = hex[size_t(2 * i + k)];
      unsigned d;
      if (ch >= '0' && ch <= '9') d = unsigned(ch - '0');
      else if (ch >= 'a' && ch <= 'f') d = unsigned(ch - 'a' + 10);
      else if (ch >= 'A' && ch <= 'F') d = unsigned(ch - 'A' + 10);
      else return Status::invalid_argument("colour '#" + std::string(hex) + "' is not #rrggbb");
      x = x * 16 + d;
    }
    v[i] = x;
  }
  return Rgb{float(v[0]) / 255.f, float(v[1]) / 255.f, float(v[2]) / 255.f};
}

std::string rgb_to_hex(const Rgb& c) {
  auto q = [](float f) { return unsigned(std::lround(std::clamp(f, 0.f, 1.f) * 255.f)); };
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", q(c.r), q(c.g), q(c.b));
  return buf;
}

void to_json(json& j, const SlideHeader& h) {
  j = json{{"slide_id", h.slide_id},     {"name", h.name},
           {"date", h.date},             {"assay", h.assay},
           {"instrument", h.instrument}, {"objective", h.objective},
           {"magnification", h.magnification}, {"pixel_size_um", h.pixel_size_um},
           {"attributes", h.attributes}};
}

void from_json(const json& j, SlideHeader& h) {
  h = SlideHeader{};
  h.slide_id = j.at("slide_id").get<std::string>();
  h.name = j.value("name", "");
  h.date = j.value("date", "");
  h.assay = j.value("assay", "");
  h.instrument = j.value("instrument", "");
  h.objective = j.value("objective", "");
  h.magnification = j.value("magnification", 40.0);
  h.pixel_size_um = j.value("pixel_size_um", 0.1625);
  if (j.contains("attributes")) h.attributes = j.at("attributes").get<std::map<std::string, std::string>>();
}

void to_json(json& j, const ChannelInfo& c) {
  j = json{{"name", c.name},
           {"excitation_nm", c.excitation_nm},
           {"emission_nm", c.emission_nm},
           {"color", rgb_to_hex(c.color)},
           {"contrast_low", c.contrast_low},
           {"contrast_high", c.contrast_high}};
}

namespace {
// A contrast bound: a number in 0..65535 (a fraction is rounded); anything else
// is an error, never a wrapped or undefined conversion (fuzz_slide_json found
// 2.2e124 converted to uint16_t).
uint16_t contrast_value(const json& j, const char* key, uint16_t fallback) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number()) throw std::invalid_argument(std::string(key) + " is not a number");
  const double d = v.get<double>();
  if (!(d >= 0 && d <= 65535)) throw std::out_of_range(std::string(key) + " " + v.dump() + " is outside 0..65535");
  return uint16_t(std::lround(d));
}
}  // namespace

void from_json(const json& j, ChannelInfo& c) {
  c = ChannelInfo{};
  c.name = j.at("name").get<std::string>();
  c.excitation_nm = j.value("excitation_nm", 0.0);
  c.emission_nm = j.value("emission_nm", 0.0);
  if (j.contains("color")) {
    auto rgb = parse_rgb(j.at("color").get<std::string>());
    if (!rgb.ok()) throw std::invalid_argument(rgb.status().message());
    c.color = *rgb;
  }
  c.contrast_low = contrast_value(j, "contrast_low", 0);
  c.contrast_high = contrast_value(j, "contrast_high", 4095);
}

void to_json(json& j, const MosaicGeometry& g) {
  j = json{{"rows", g.rows},           {"cols", g.cols},
           {"channels", g.channels},   {"z_planes", g.z_planes},
           {"timepoints", g.timepoints}, {"tile_height", g.tile_height},
           {"tile_width", g.tile_width}, {"pixel_size_um", g.pixel_size_um}};
}

namespace {
// A geometry count: a JSON integer in int32 range ("rows": 3.7, "rows": 1e10 or "rows": "3" are
// errors, not 3); `fallback` when absent and optional.
int32_t geometry_int(const json& j, const char* field, std::optional<int32_t> fallback = std::nullopt) {
  auto it = j.find(field);
  if (it == j.end()) {
    if (fallback) return *fallback;
    throw std::invalid_argument(std::string("geometry: '") + field + "' missing");
  }
  if (!it->is_number_integer() ||
      (it->is_number_unsigned() ? it->get<uint64_t>() > uint64_t(INT32_MAX)
                                : it->get<int64_t>() < INT32_MIN || it->get<int64_t>() > INT32_MAX)) {
    throw std::invalid_argument(std::string("geometry: '") + field + "' must be an integer in int32 range, not " +
                                it->dump());
  }
  return it->get<int32_t>();
}
}  // namespace

void from_json(const json& j, MosaicGeometry& g) {
  g = MosaicGeometry{};
  g.rows = geometry_int(j, "rows");
  g.cols = geometry_int(j, "cols");
  g.channels = geometry_int(j, "channels", 1);
  g.z_planes = geometry_int(j, "z_planes", 1);
  g.timepoints = geometry_int(j, "timepoints", 1);
  g.tile_height = geometry_int(j, "tile_height");
  g.tile_width = geometry_int(j, "tile_width");
  g.pixel_size_um = j.value("pixel_size_um", 0.1625);
}

void to_json(json& j, const FieldOfView& f) {
  j = json{{"row", f.row},          {"col", f.col},
           {"stage_x_um", f.stage_x_um}, {"stage_y_um", f.stage_y_um},
           {"stage_z_um", f.stage_z_um}, {"acquired_unix_s", f.acquired_unix_s}};
}

void from_json(const json& j, FieldOfView& f) {
  f = FieldOfView{};
  // Integers only: a float outside int32 would be an undefined conversion (fuzz_slide_json).
  for (const char* key : {"row", "col"}) {
    const json& v = j.at(key);
    if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(INT32_MAX)
                                                          : v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX)) {
      throw std::invalid_argument(std::string("field '") + key + "' must be an integer in int32 range, not " + v.dump());
    }
  }
  f.row = j.at("row").get<int32_t>();
  f.col = j.at("col").get<int32_t>();
  f.stage_x_um = j.value("stage_x_um", 0.0);
  f.stage_y_um = j.value("stage_y_um", 0.0);
  f.stage_z_um = j.value("stage_z_um", 0.0);
  f.acquired_unix_s = j.value("acquired_unix_s", 0.0);
}

void to_json(json& j, const TileKey& k) {
  j = json{{"row", k.row}, {"col", k.col}, {"channel", k.channel},
           {"z", k.z},     {"t", k.t},     {"level", k.level}};
}

void from_json(const json& j, TileKey& k) {
  k = TileKey{};
  k.row = j.at("row").get<int32_t>();
  k.col = j.at("col").get<int32_t>();
  k.channel = j.value("channel", 0);
  k.z = j.value("z", 0);
  k.t = j.value("t", 0);
  k.level = j.value("level", 0);
}

std::vector<ChannelInfo> default_channels(int n) {
  static const ChannelInfo kKnown[] = {
      {"DAPI", 358, 461, {0.f, 0.35f, 1.f}, 100, 3000},
      {"FITC", 495, 519, {0.f, 1.f, 0.f}, 100, 2500},
      {"TRITC", 557, 576, {1.f, 0.2f, 0.f}, 100, 2500},
      {"Cy5", 649, 666, {1.f, 0.f, 1.f}, 100, 2000},
      {"Cy7", 743, 767, {1.f, 1.f, 1.f}, 100, 2000},
  };
  std::vector<ChannelInfo> out;
  for (int i = 0; i < n; ++i) {
    if (i < 5) {
      out.push_back(kKnown[i]);
    } else {
      ChannelInfo c{"channel" + std::to_string(i), 0, 0, {1.f, 1.f, 0.f}, 0, 4095};
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace vslide
