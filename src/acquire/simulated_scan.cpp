#include "vslide/acquire/simulated_scan.h"

#include "vslide/storage/codec.h"

namespace vslide::acquire {

ScanSpec scan_spec_for(const SyntheticScanner& scanner, const CodecSpec& codec) {
  ScanSpec s;
  s.header = scanner.header();
  s.geometry = scanner.geometry();
  s.channels = scanner.channels();
  s.codec = codec;
  return s;
}

std::vector<PlaneToSend> planes_in_order(const SyntheticScanner& scanner) {
  const MosaicGeometry& g = scanner.geometry();
  std::vector<PlaneToSend> out;
  out.reserve(scanner.fields().size() * size_t(g.planes_per_field()));
  for (const FieldOfView& f : scanner.fields()) {
    for (int32_t t = 0; t < g.timepoints; ++t) {
      for (int32_t z = 0; z < g.z_planes; ++z) {
        for (int32_t c = 0; c < g.channels; ++c) {
          TileKey k;
          k.row = f.row;
          k.col = f.col;
          k.channel = c;
          k.z = z;
          k.t = t;
          out.push_back(PlaneToSend{f, k});
        }
      }
    }
  }
  return out;
}

Result<std::shared_ptr<const std::vector<uint8_t>>> render_encoded(const SyntheticScanner& scanner,
                                                                   const TileKey& key, const CodecSpec& codec) {
  Image16 image = scanner.render(key);
  if (image.empty()) return Status::out_of_range("simulator: " + key.to_string() + " is outside the mosaic");
  std::span<const uint8_t> raw(reinterpret_cast<const uint8_t*>(image.data()), image.byte_size());
  if (codec.family == CodecFamily::kNone) {
    return std::make_shared<const std::vector<uint8_t>>(raw.begin(), raw.end());
  }
  auto encoded = encode_chunk(codec, raw);
  if (!encoded.ok()) return encoded.status().with_context("simulator: " + key.to_string());
  return std::make_shared<const std::vector<uint8_t>>(std::move(encoded).value());
}

}  // namespace vslide::acquire
