// `vslide bench simulate`: how fast the synthetic scanner renders camera
// tiles on one core, against memcpy of the same tile measured in the same run.
// The target (issue 2): >= 300 MB/s per core, well under the cost of
// compressing the tile.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "progress.h"
#include "vslide/simulate/scanner.h"

namespace vslide::cli {
namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int bench_simulate(int argc, char** argv) {
  std::string tile = "2560x2160";
  int tiles = 12, channels = 3;
  bool json = false;
  ArgParser p("vslide bench simulate [--tiles N] [--tile WxH] [--channels C] [--json]",
              "Renders synthetic camera tiles on one core and compares with memcpy of the same tile.");
  p.option("--tiles", "N", "tiles to render (cycling over fields and channels; default 12)", &tiles);
  p.option("--tile", "WxH", "tile size (default 2560x2160)", &tile);
  p.option("--channels", "C", "channels to cycle over (default 3)", &channels);
  p.flag("--json", "machine-readable output", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  ScanConfig config;
  if (!parse_size(tile, &config.tile_width, &config.tile_height)) return p.usage_error("--tile: expected WxH, got '" + tile + "'");
  if (tiles < 1) return p.usage_error("--tiles must be >= 1");
  config.channels = channels;
  if (Status s = validate(config); !s.ok()) return p.usage_error(s.message());

  const SyntheticScanner scanner(config);
  const size_t pixels = size_t(config.tile_width) * size_t(config.tile_height);
  const double mb = double(pixels * 2) / 1e6;
  std::vector<uint16_t> out(pixels), copy(pixels);
  scanner.render_into(TileKey{0, 0, 0, 0, 0, 0}, out.data());  // warm tables and pages

  std::vector<double> render_ms, per_channel_ms[8], memcpy_ms;
  ProgressBar bar("bench simulate", uint64_t(tiles), !json);
  for (int i = 0; i < tiles; ++i) {
    const TileKey key{(i / channels / config.cols) % config.rows, (i / channels) % config.cols, i % channels, 0, 0, 0};
    const auto t0 = Clock::now();
    scanner.render_into(key, out.data());
    const auto t1 = Clock::now();
    std::memcpy(copy.data(), out.data(), pixels * 2);
    const auto t2 = Clock::now();
    const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    render_ms.push_back(ms);
    if (key.channel < 8) per_channel_ms[key.channel].push_back(ms);
    memcpy_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    bar.add(1);
  }
  bar.finish();
  volatile uint16_t sink = copy[pixels / 2];
  (void)sink;

  const double r = median(render_ms), m = median(memcpy_ms);
  nlohmann::json result = {{"tile", tile}, {"tiles", tiles}, {"tile_mb", mb},
                           {"render_ms", r}, {"render_mb_s", mb / r * 1e3},
                           {"memcpy_ms", m}, {"memcpy_mb_s", mb / m * 1e3},
                           {"render_vs_memcpy", m / r}, {"target_mb_s", 300}};
  for (int c = 0; c < std::min(channels, 8); ++c)
    if (!per_channel_ms[c].empty()) result["channel_mb_s"].push_back(mb / median(per_channel_ms[c]) * 1e3);
  if (json) {
    std::cout << result.dump(2) << "\n";
    return 0;
  }
  std::printf("synthetic scanner, %s tiles (%.1f MB), %d tiles, one core, medians:\n", tile.c_str(), mb, tiles);
  std::printf("  render   %8.2f ms/tile  %8.0f MB/s   (target >= 300 MB/s: %s)\n", r, mb / r * 1e3,
              mb / r * 1e3 >= 300 ? "met" : "MISSED");
  for (int c = 0; c < std::min(channels, 8); ++c)
    if (!per_channel_ms[c].empty())
      std::printf("    channel %d %6.2f ms/tile  %8.0f MB/s\n", c, median(per_channel_ms[c]), mb / median(per_channel_ms[c]) * 1e3);
  std::printf("  memcpy   %8.2f ms/tile  %8.0f MB/s   (reference)\n", m, mb / m * 1e3);
  std::printf("  render / memcpy speed: %.3f\n", m / r);
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_BENCH("simulate", "synthetic scanner tile rendering vs memcpy (MB/s per core)", vslide::cli::bench_simulate);
