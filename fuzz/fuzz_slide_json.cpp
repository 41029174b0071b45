// The JSON a file or a peer hands us: slide header, geometry, channel table,
// tile key, tile metadata, tile index. Each parser must return an error or a
// value within the limits, never crash, overflow or allocate without bound.
#include <cstdint>
#include <string_view>

#include "vslide/core/slide_header.h"
#include "vslide/remote/protocol.h"

using namespace vslide;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto g = parse_json_as<MosaicGeometry>(text, "geometry"); g.ok() && g->valid()) {
    // Valid geometries never overflow: these must not trip UBSan.
    volatile int64_t planes = g->planes_per_field();
    volatile size_t bytes = g->plane_bytes();
    (void)planes;
    (void)bytes;
    for (int level = 0; level < 16; ++level) (void)g->level_height(level), (void)g->level_width(level);
  }
  (void)parse_json_as<SlideHeader>(text, "header");
  (void)parse_json_as<std::vector<ChannelInfo>>(text, "channels");
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  (void)remote::key_from_json(j);
  (void)remote::codec_from_json(j);
  std::vector<uint64_t> sizes;
  MosaicGeometry g;
  g.rows = g.cols = 4;
  g.channels = 2;
  g.tile_height = 64;
  g.tile_width = 48;
  if (auto t = remote::tile_meta_from_json(j, &sizes); t.ok()) (void)remote::check_tile_meta(*t, sizes, g);
  (void)remote::index_from_json(j, &g);
  if (j.is_object() && j.contains("index")) (void)remote::index_from_json(j["index"]);
  return 0;
}
