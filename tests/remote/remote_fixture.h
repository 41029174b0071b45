// Small slides and live servers for the tile dealer tests.
#pragma once

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "common/testing.h"
#include "vslide/remote/remote_slide.h"
#include "vslide/remote/tile_server.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::testing {

// Deterministic 12-bit content that differs per key.
inline Image16 remote_test_plane(int width, int height, const TileKey& k) {
  Image16 img(width, height);
  std::mt19937 rng(uint32_t(k.row * 7919 + k.col * 104729 + k.channel * 31 + k.level * 7));
  std::poisson_distribution<int> noise(250);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      img.at(x, y) = uint16_t(std::min(4095, noise(rng) + ((x * 3 + y + k.channel) % 41 < 3 ? 2500 : 0)));
  return img;
}

struct RemoteSlideSpec {
  std::string id = "vs-remote-0001";
  int rows = 2, cols = 3, channels = 2, height = 48, width = 40;
  int chunk_height = 0, chunk_width = 0;  // 0 = one block per plane
  bool with_level1 = true;
  bool with_layers = true;
};

// Writes a slide: every field except (rows-1, cols-1), zoom level 1, an
// overview of channel 0, a label layer "nuclei" on (0,0) and its objects.
inline std::string make_remote_test_slide(const TempDir& dir, const RemoteSlideSpec& spec = {}) {
  const std::string path = dir.file(spec.id + ".h5");
  MosaicGeometry g;
  g.rows = spec.rows;
  g.cols = spec.cols;
  g.channels = spec.channels;
  g.tile_height = spec.height;
  g.tile_width = spec.width;
  SlideHeader h;
  h.slide_id = spec.id;
  h.name = "remote test slide";
  h.date = "2026-11-26T01:00:00Z";
  h.attributes["purpose"] = "remote tests";
  CreateOptions opt;
  opt.chunk_height = spec.chunk_height;
  opt.chunk_width = spec.chunk_width;
  auto s = Hdf5Slide::create(path, h, g, default_channels(spec.channels), opt);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  if (!s.ok()) return path;
  auto& slide = **s;
  for (int r = 0; r < g.rows; ++r)
    for (int c = 0; c < g.cols; ++c) {
      if (r == g.rows - 1 && c == g.cols - 1) continue;  // a hole: NotFound
      EXPECT_TRUE(slide.write_field(FieldOfView{r, c, c * 6.5, r * 7.8, 1.0, 0}).ok());
      for (int ch = 0; ch < g.channels; ++ch) {
        TileKey k{r, c, ch, 0, 0, 0};
        EXPECT_TRUE(slide.write_plane(k, remote_test_plane(g.tile_width, g.tile_height, k)).ok());
      }
    }
  if (spec.with_level1) {
    EXPECT_TRUE(slide.add_zoom_level(1).ok());
    for (int r = 0; r < g.rows; ++r)
      for (int c = 0; c < g.cols; ++c) {
        if (r == g.rows - 1 && c == g.cols - 1) continue;
        TileKey k{r, c, 0, 0, 0, 1};
        EXPECT_TRUE(slide.write_plane(k, remote_test_plane(g.level_width(1), g.level_height(1), k)).ok());
      }
  }
  if (spec.with_layers) {
    Overview ov;
    ov.image = remote_test_plane(17, 11, TileKey{9, 9, 0, 0, 0, 0});
    ov.um_per_px = 4.5;
    ov.origin_x_um = -2;
    EXPECT_TRUE(slide.write_overview(ov).ok());
    LabelTile labels;
    labels.width = g.tile_width;
    labels.height = g.tile_height;
    labels.labels.resize(size_t(labels.width) * size_t(labels.height));
    for (size_t i = 0; i < labels.labels.size(); ++i) labels.labels[i] = uint32_t(i % 7 == 0 ? i / 7 : 0);
    EXPECT_TRUE(slide.write_labels("nuclei", TileKey{0, 0, 0, 0, 0, 0}, labels).ok());
    EXPECT_TRUE(slide.write_objects_json("nuclei", R"([{"id":1,"area":42.5}])").ok());
  }
  EXPECT_TRUE(slide.finish().ok());
  return path;
}

// A bound server on 127.0.0.1:* serving the given files.
inline std::unique_ptr<remote::TileServer> start_test_server(const std::vector<std::string>& paths,
                                                            remote::TileServerOptions options = {}) {
  auto library = std::make_shared<remote::SlideLibrary>();
  for (const auto& p : paths) {
    Status s = library->add_file(p);
    EXPECT_TRUE(s.ok()) << s.to_string();
  }
  if (options.bind.empty() && options.connect.empty()) options.bind = "tcp://127.0.0.1:*";
  auto server = remote::TileServer::start(library, options);
  EXPECT_TRUE(server.ok()) << server.status().to_string();
  return server.ok() ? std::move(server).value() : nullptr;
}

// Every level-0 key of the geometry and level-1 keys of channel 0.
inline std::vector<TileKey> all_keys(const MosaicGeometry& g, bool level1) {
  std::vector<TileKey> keys;
  for (int r = 0; r < g.rows; ++r)
    for (int c = 0; c < g.cols; ++c) {
      for (int ch = 0; ch < g.channels; ++ch) keys.push_back(TileKey{r, c, ch, 0, 0, 0});
      if (level1) keys.push_back(TileKey{r, c, 0, 0, 0, 1});
    }
  return keys;
}

}  // namespace vslide::testing
