// Small slides with known pixels and positions for the export tests, and a
// dump of their raw planes for the independent reference in check_export.py.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <tuple>

#include "vslide/storage/hdf5_slide.h"

namespace vslide::testing {

struct ExportSlideSpec {
  int rows = 2, cols = 3, channels = 2, z = 2, t = 2;
  int tile_w = 64, tile_h = 48, overlap_px = 12;
  double pixel_um = 0.5;
  // Store one moved field and a colour offset for channel 1, and (with z > 1)
  // plane z 1, t 0 placing fields (0, 0) and (0, 2) apart (per-plane positions).
  bool registration = false;
};

// Smooth content plus noise, distinct per plane, 12-bit range.
inline Image16 export_plane(const ExportSlideSpec& s, const TileKey& k) {
  Image16 img(s.tile_w, s.tile_h);
  std::mt19937 rng(uint32_t(k.row * 7919 + k.col * 104729 + k.channel * 31 + k.z * 131 + k.t * 977));
  std::uniform_int_distribution<int> noise(0, 200);
  for (int y = 0; y < s.tile_h; ++y) {
    for (int x = 0; x < s.tile_w; ++x) {
      const int base = 300 + 40 * k.channel + 25 * k.z + 15 * k.t + ((x / 8 + y / 8 + k.row + k.col) % 5) * 500;
      img.at(x, y) = uint16_t(std::min(4095, base + noise(rng)));
    }
  }
  return img;
}

// Stage position of (r, c): a regular grid with an irregular sub-pixel jitter.
inline FieldOfView export_field(const ExportSlideSpec& s, int r, int c) {
  const double step_x = (s.tile_w - s.overlap_px) * s.pixel_um, step_y = (s.tile_h - s.overlap_px) * s.pixel_um;
  return FieldOfView{r, c, 10 + c * step_x + 0.137 * ((r * 5 + c * 3) % 7) - 0.3,
                     20 + r * step_y + 0.211 * ((r * 3 + c * 2) % 5) - 0.25, 0, 0};
}

// Writes the slide and dumps every plane (raw little-endian uint16) plus
// manifest.json (the effective positions and colour offsets) into `dump`.
inline Status make_export_slide(const std::string& path, const ExportSlideSpec& s, const std::string& dump) {
  MosaicGeometry g;
  g.rows = s.rows;
  g.cols = s.cols;
  g.channels = s.channels;
  g.z_planes = s.z;
  g.timepoints = s.t;
  g.tile_width = s.tile_w;
  g.tile_height = s.tile_h;
  g.pixel_size_um = s.pixel_um;
  SlideHeader h;
  h.slide_id = "vs-export-test";
  h.name = "export test";
  h.pixel_size_um = s.pixel_um;
  std::vector<ChannelInfo> ch = default_channels(s.channels);
  ch[0].name = "Hoechst & co";
  auto slide = Hdf5Slide::create(path, h, g, ch, CreateOptions{});
  if (!slide.ok()) return slide.status();
  std::filesystem::create_directories(dump);
  nlohmann::json fields = nlohmann::json::array();
  Registration reg;
  for (int r = 0; r < s.rows; ++r) {
    for (int c = 0; c < s.cols; ++c) {
      FieldOfView f = export_field(s, r, c);
      VSLIDE_RETURN_IF_ERROR((*slide)->write_field(f));
      double x = f.stage_x_um, y = f.stage_y_um;
      if (s.registration) {
        // Registration moves (1, 1) by about 3 px right and 1.6 px up; the others keep their stage positions.
        if (r == 1 && c == 1) {
          x += 1.53;
          y -= 0.83;
        }
        reg.fields.push_back(FieldPlacement{r, c, x, y, true, 0.1});
      }
      fields.push_back({{"row", r}, {"col", c}, {"x_um", x}, {"y_um", y}});
      for (int t = 0; t < s.t; ++t) {
        for (int z = 0; z < s.z; ++z) {
          for (int k = 0; k < s.channels; ++k) {
            const TileKey key{r, c, k, z, t, 0};
            Image16 img = export_plane(s, key);
            VSLIDE_RETURN_IF_ERROR((*slide)->write_plane(key, img));
            std::ofstream o(dump + "/" + std::to_string(r) + "_" + std::to_string(c) + "_" + std::to_string(k) +
                                "_" + std::to_string(z) + "_" + std::to_string(t) + ".u16",
                            std::ios::binary);
            o.write(reinterpret_cast<const char*>(img.data()), std::streamsize(img.byte_size()));
          }
        }
      }
    }
  }
  nlohmann::json offsets = nlohmann::json::array(), plane_fields = nlohmann::json::array();
  if (s.registration) {
    reg.channel_offsets.push_back(ChannelOffset{0, 0, 0, 1, 1});
    if (s.channels > 1) reg.channel_offsets.push_back(ChannelOffset{1, 2.0, -1.0, 1, 0.9});
    for (const auto& o : reg.channel_offsets) offsets.push_back({{"channel", o.channel}, {"dx", o.dx_px}, {"dy", o.dy_px}});
    if (s.z > 1) {
      // Plane z 1 of t 0: (0, 0) lies up and left (widening the default region), (0, 2) down and right.
      for (const auto& [c, dx, dy] : {std::tuple{0, -1.7, -0.9}, std::tuple{2, 2.3, 1.1}}) {
        if (c >= s.cols) continue;
        const FieldPlacement* f = reg.find(0, c);
        reg.plane_fields.push_back(
            PlanePlacement{1, 0, FieldPlacement{0, c, f->x_um + dx, f->y_um + dy, true, 0.1}});
        plane_fields.push_back({{"z", 1}, {"t", 0}, {"row", 0}, {"col", c}, {"x_um", f->x_um + dx},
                                {"y_um", f->y_um + dy}});
      }
    }
    reg.report_json = "{}";
    VSLIDE_RETURN_IF_ERROR((*slide)->write_registration(reg));
  }
  VSLIDE_RETURN_IF_ERROR((*slide)->finish());
  nlohmann::json m = {{"rows", s.rows}, {"cols", s.cols}, {"channels", s.channels}, {"z", s.z}, {"t", s.t},
                      {"tile_w", s.tile_w}, {"tile_h", s.tile_h}, {"pixel_um", s.pixel_um},
                      {"fields", fields}, {"plane_fields", plane_fields}, {"channel_offsets", offsets},
                      {"channel_names", nlohmann::json::array()}};
  for (const auto& c : ch) m["channel_names"].push_back(c.name);
  std::ofstream(dump + "/manifest.json") << m.dump(2);
  return Status();
}

}  // namespace vslide::testing
