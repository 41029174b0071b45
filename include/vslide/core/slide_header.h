// The slide header (who, what, when, how) and the channel table.
//
// Both serialise to JSON (nlohmann::json, via to_json/from_json found by ADL);
// the same JSON travels in the HDF5 file, over the wire and into the catalog.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vslide/core/status.h"
#include "vslide/core/tile.h"

namespace vslide {

// Lifecycle of a slide file.
enum class SlideState {
  kScanning,   // a writer is (or was, if it died) appending tiles
  kComplete,   // finished: index sorted, checksums written
  kFailed,     // the scan was abandoned
  kRecovered,  // an unfinished scan completed after a crash
};
std::string_view slide_state_name(SlideState s);
Result<SlideState> parse_slide_state(std::string_view s);

struct SlideHeader {
  std::string slide_id;     // unique, e.g. a UUID-like "vs-20261126-..."
  std::string name;         // human label, e.g. "plate 3 well B4"
  std::string date;         // ISO 8601 acquisition start
  std::string assay;
  std::string instrument;
  std::string objective;    // e.g. "40x/0.95"
  double magnification = 40;
  double pixel_size_um = 0.1625;
  std::map<std::string, std::string> attributes;  // free key/value pairs

  bool operator==(const SlideHeader&) const = default;
};

// Display colour as linear RGB in [0, 1].
struct Rgb {
  float r = 1, g = 1, b = 1;
  bool operator==(const Rgb&) const = default;
};
// "#rrggbb" <-> Rgb.
Result<Rgb> parse_rgb(std::string_view hex);
std::string rgb_to_hex(const Rgb& c);

struct ChannelInfo {
  std::string name;             // "DAPI"
  double excitation_nm = 0;
  double emission_nm = 0;
  Rgb color;                    // default display colour
  uint16_t contrast_low = 0;    // default contrast window [low, high]
  uint16_t contrast_high = 4095;

  bool operator==(const ChannelInfo&) const = default;
};

void to_json(nlohmann::json& j, const SlideHeader& h);
void from_json(const nlohmann::json& j, SlideHeader& h);
void to_json(nlohmann::json& j, const ChannelInfo& c);
void from_json(const nlohmann::json& j, ChannelInfo& c);
void to_json(nlohmann::json& j, const MosaicGeometry& g);
void from_json(const nlohmann::json& j, MosaicGeometry& g);
void to_json(nlohmann::json& j, const FieldOfView& f);
void from_json(const nlohmann::json& j, FieldOfView& f);
void to_json(nlohmann::json& j, const TileKey& k);
void from_json(const nlohmann::json& j, TileKey& k);

// Parses JSON text into T, turning nlohmann's exceptions into a Status that
// names `what` ("slide header", "request", ...).
template <typename T>
Result<T> parse_json_as(std::string_view text, std::string_view what) {
  try {
    return nlohmann::json::parse(text).get<T>();
  } catch (const std::exception& e) {
    return Status::invalid_argument(std::string(what) + ": " + e.what());
  }
}

// Default channel table for n channels (DAPI-, FITC-, TRITC-, Cy5-like, ...).
std::vector<ChannelInfo> default_channels(int n);

}  // namespace vslide
