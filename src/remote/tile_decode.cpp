#include <cstring>

#include "remote_slide_impl.h"
#include "vslide/storage/codec.h"

namespace vslide::remote {

Result<Image16> decode_blocks(const StoredTile& tile, const std::vector<std::span<const uint8_t>>& data,
                              const std::string& where) {
  auto fail = [&](const std::string& what) {
    return Status::corruption(where + ": tile " + tile.key.to_string() + ": " + what);
  };
  if (tile.height <= 0 || tile.width <= 0 || tile.height > 65536 || tile.width > 65536) {
    return fail("implausible plane size " + std::to_string(tile.width) + "x" + std::to_string(tile.height));
  }
  if (data.size() != tile.blocks.size()) return fail("block count and data count differ");
  Image16 image(tile.width, tile.height);
  std::vector<uint16_t> scratch;
  for (size_t i = 0; i < tile.blocks.size(); ++i) {
    const auto& b = tile.blocks[i];
    if (b.checksum != 0 && chunk_checksum(data[i]) != b.checksum) {
      return fail("block at (" + std::to_string(b.y) + "," + std::to_string(b.x) + ") fails its checksum");
    }
    if (b.y < 0 || b.x < 0 || b.y >= tile.height || b.x >= tile.width || b.height <= 0 || b.width <= 0 ||
        b.height > 65536 || b.width > 65536) {
      return fail("block geometry outside the plane");
    }
    const bool whole = b.y == 0 && b.x == 0 && b.height == tile.height && b.width == tile.width;
    uint16_t* dst = image.data();
    if (!whole) {
      scratch.assign(size_t(b.height) * size_t(b.width), 0);
      dst = scratch.data();
    }
    std::span<uint8_t> out(reinterpret_cast<uint8_t*>(dst), size_t(b.height) * size_t(b.width) * 2);
    if (Status s = decode_chunk(tile.codec, data[i], out); !s.ok()) return fail(s.message());
    if (!whole) {
      const int rows = std::min(b.height, tile.height - b.y), cols = std::min(b.width, tile.width - b.x);
      for (int y = 0; y < rows; ++y) {
        std::memcpy(image.row(b.y + y) + b.x, scratch.data() + size_t(y) * size_t(b.width), size_t(cols) * 2);
      }
    }
  }
  return image;
}


Result<Image16> decode_stored_tile(const StoredTile& tile, const std::string& where) {
  std::vector<std::span<const uint8_t>> data;
  for (const auto& b : tile.blocks) data.emplace_back(b.bytes.data(), b.bytes.size());
  return decode_blocks(tile, data, where);
}

Result<std::shared_ptr<const WireTile>> take_tile(const json& meta, std::vector<zmq::message_t>& payloads,
                                                  size_t* next, const std::string& where, const MosaicGeometry& g) {
  std::vector<uint64_t> sizes;
  auto parsed = tile_meta_from_json(meta, &sizes);
  if (!parsed.ok()) return Status::corruption(where + ": " + parsed.status().message());
  if (Status s = check_tile_meta(*parsed, sizes, g); !s.ok()) return Status::corruption(where + ": " + s.message());
  auto tile = std::make_shared<WireTile>();
  tile->meta = std::move(parsed).value();
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (*next >= payloads.size()) return Status::corruption(where + ": reply lacks payload frames");
    if (payloads[*next].size() != sizes[i]) {
      return Status::corruption(where + ": payload frame holds " + std::to_string(payloads[*next].size()) +
                                " bytes, metadata says " + std::to_string(sizes[i]));
    }
    tile->data.push_back(std::move(payloads[(*next)++]));
  }
  return std::shared_ptr<const WireTile>(std::move(tile));
}

}  // namespace vslide::remote
