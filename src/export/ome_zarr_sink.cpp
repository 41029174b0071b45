// OME-Zarr 0.5 writer: a Zarr v3 group with one array per level ("0", "1",
// ...), shape (t, c, z, y, x), uint16. Each work block is one shard file
// (sharding_indexed codec, index at the end with a crc32c) holding
// tile x tile inner chunks, each encoded with bytes + blosc or zstd. Shards
// are written by the workers in any order, each aside and renamed, so a shard
// file is always whole (--resume keeps them); the zarr.json files are written
// last, so an unfinished folder is no readable image even before the rename.
#include <blosc.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "pyramid_sink.h"

namespace vslide {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// CRC-32C (Castagnoli), as the Zarr v3 crc32c codec appends it (little endian).
uint32_t crc32c(const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

Status write_file(const fs::path& p, const void* data, size_t n) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), std::streamsize(n));
  f.close();
  if (!f) return Status::io_error(p.string() + ": write failed (disk full?)");
  return Status();
}

// Written aside and renamed: a shard file that exists is whole, which is
// what lets --resume keep it.
Status write_file_whole(const fs::path& p, const void* data, size_t n) {
  const fs::path tmp = p.string() + ".tmp";
  VSLIDE_RETURN_IF_ERROR(write_file(tmp, data, n));
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) return Status::io_error(tmp.string() + " -> " + p.string() + ": " + ec.message());
  return Status();
}

class OmeZarrSink final : public PyramidSink {
 public:
  OmeZarrSink(fs::path root, const SlideSource& src, const FusionPlan& plan, const SinkSettings& s,
              std::string codec)
      : root_(std::move(root)), src_(src), plan_(plan), s_(s), codec_(std::move(codec)) {}

  Status write_block(const BlockJob& job, std::span<const uint16_t> pixels) override {
    const int32_t t = s_.tile, per = s_.block / s_.tile;
    const size_t raw = size_t(t) * size_t(t) * 2;
    // Per-thread buffers, reused shard after shard (fresh pages are expensive here).
    thread_local std::vector<uint16_t> buf;
    thread_local std::vector<uint8_t> shard, scratch, index;
    buf.resize(size_t(t) * size_t(t));
    shard.clear();
    index.clear();
    for (int32_t cy = 0; cy < per; ++cy) {
      for (int32_t cx = 0; cx < per; ++cx) {
        const int32_t cw = std::min(t, job.w - cx * t), ch = std::min(t, job.h - cy * t);
        if (cw <= 0 || ch <= 0) {  // wholly outside the array: empty
          put_u64(index, ~uint64_t(0));
          put_u64(index, ~uint64_t(0));
          continue;
        }
        std::fill(buf.begin(), buf.end(), 0);
        for (int32_t y = 0; y < ch; ++y) {
          std::memcpy(buf.data() + size_t(y) * size_t(t),
                      pixels.data() + size_t(cy * t + y) * size_t(job.w) + size_t(cx * t), size_t(cw) * 2);
        }
        size_t n = 0;
        if (codec_ == "zstd") {
          scratch.resize(ZSTD_compressBound(raw));
          n = ZSTD_compress(scratch.data(), scratch.size(), buf.data(), raw, 1);
          if (ZSTD_isError(n)) return Status::internal(root_.string() + ": zstd: " + ZSTD_getErrorName(n));
        } else {
          scratch.resize(raw + BLOSC_MAX_OVERHEAD);
          const int r = blosc_compress_ctx(5, BLOSC_BITSHUFFLE, 2, raw, buf.data(), scratch.data(), scratch.size(),
                                           codec_ == "blosc-zstd" ? "zstd" : "lz4", 0, 1);
          if (r <= 0) return Status::internal(root_.string() + ": blosc failed on a chunk");
          n = size_t(r);
        }
        put_u64(index, shard.size());
        put_u64(index, n);
        shard.insert(shard.end(), scratch.begin(), scratch.begin() + std::ptrdiff_t(n));
      }
    }
    const uint32_t crc = crc32c(index.data(), index.size());
    for (int i = 0; i < 4; ++i) index.push_back(uint8_t(crc >> (8 * i)));
    shard.insert(shard.end(), index.begin(), index.end());
    const fs::path path = shard_path(job);
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) return Status::io_error(path.parent_path().string() + ": " + ec.message());
    return write_file_whole(path, shard.data(), shard.size());
  }

  // A shard is whole when its file exists (written aside and renamed) and
  // its index's crc32c checks.
  bool has_block(const BlockJob& job) const override {
    const fs::path path = shard_path(job);
    const int32_t per = s_.block / s_.tile;
    const size_t index_bytes = size_t(per) * size_t(per) * 16 + 4;
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) return false;
    const auto size = size_t(f.tellg());
    if (size < index_bytes) return false;
    std::vector<uint8_t> index(index_bytes);
    f.seekg(std::streamoff(size - index_bytes));
    if (!f.read(reinterpret_cast<char*>(index.data()), std::streamsize(index_bytes))) return false;
    const uint32_t crc = crc32c(index.data(), index_bytes - 4);
    uint32_t stored = 0;
    for (int i = 0; i < 4; ++i) stored |= uint32_t(index[index_bytes - 4 + size_t(i)]) << (8 * i);
    return crc == stored;
  }

  void abort() override {}

  Status finish() override {
    std::error_code ec;
    fs::remove(root_ / kResumeManifest, ec);  // finished: nothing to resume; never part of the image
    for (int32_t l = 0; l < plan_.levels; ++l) {
      json inner = json::array({{{"name", "bytes"}, {"configuration", {{"endian", "little"}}}}});
      if (codec_ == "zstd") {
        inner.push_back({{"name", "zstd"}, {"configuration", {{"level", 1}, {"checksum", false}}}});
      } else {
        inner.push_back({{"name", "blosc"},
                         {"configuration",
                          {{"cname", codec_ == "blosc-zstd" ? "zstd" : "lz4"},
                           {"clevel", 5},
                           {"shuffle", "bitshuffle"},
                           {"typesize", 2},
                           {"blocksize", 0}}}});
      }
      const int64_t T = plan_.timepoints, C = int64_t(plan_.channels.size()), Z = plan_.z_planes;
      json array = {
          {"zarr_format", 3},
          {"node_type", "array"},
          {"shape", {T, C, Z, plan_.level_height(l), plan_.level_width(l)}},
          {"data_type", "uint16"},
          {"chunk_grid", {{"name", "regular"}, {"configuration", {{"chunk_shape", {1, 1, 1, s_.block, s_.block}}}}}},
          {"chunk_key_encoding", {{"name", "default"}, {"configuration", {{"separator", "/"}}}}},
          {"fill_value", 0},
          {"codecs",
           json::array({{{"name", "sharding_indexed"},
                         {"configuration",
                          {{"chunk_shape", {1, 1, 1, s_.tile, s_.tile}},
                           {"codecs", inner},
                           {"index_codecs",
                            json::array({{{"name", "bytes"}, {"configuration", {{"endian", "little"}}}},
                                         {{"name", "crc32c"}}})},
                           {"index_location", "end"}}}}})},
          {"dimension_names", {"t", "c", "z", "y", "x"}},
          {"attributes", json::object()}};
      const fs::path dir = root_ / std::to_string(l);
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) return Status::io_error(dir.string() + ": " + ec.message());
      const std::string text = array.dump(2);
      VSLIDE_RETURN_IF_ERROR(write_file(dir / "zarr.json", text.data(), text.size()));
    }
    json group = {{"zarr_format", 3},
                  {"node_type", "group"},
                  {"attributes", {{"ome", ome_zarr_attributes(src_, plan_)}}}};
    const std::string text = group.dump(2);
    return write_file(root_ / "zarr.json", text.data(), text.size());
  }

 private:
  fs::path shard_path(const BlockJob& job) const {
    return root_ / std::to_string(job.level) / "c" / std::to_string(job.plane.t) /
           std::to_string(job.plane.channel) / std::to_string(job.plane.z) / std::to_string(job.y / s_.block) /
           std::to_string(job.x / s_.block);
  }

  const fs::path root_;
  const SlideSource& src_;
  const FusionPlan plan_;
  const SinkSettings s_;
  const std::string codec_;
};

}  // namespace

Result<std::unique_ptr<PyramidSink>> open_ome_zarr_sink(const std::string& path, const SlideSource& src,
                                                       const FusionPlan& plan, const SinkSettings& settings) {
  std::string codec = settings.compression.empty() ? "blosc" : settings.compression;
  if (codec != "blosc" && codec != "blosc-zstd" && codec != "zstd") {
    return Status::invalid_argument("OME-Zarr compression must be blosc, blosc-zstd or zstd, not '" + codec + "'");
  }
  if (settings.block % settings.tile != 0) {
    return Status::invalid_argument("the Zarr shard must be a multiple of the inner chunk");
  }
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Status::io_error(path + ": " + ec.message());
  if (settings.resume) {
    // Shards a killed run was writing aside: never part of the image.
    std::vector<fs::path> stale;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->path().extension() == ".tmp") stale.push_back(it->path());
    }
    if (ec) return Status::io_error(path + ": " + ec.message());
    for (const auto& p : stale) fs::remove(p, ec);
  }
  return std::unique_ptr<PyramidSink>(new OmeZarrSink(path, src, plan, settings, codec));
}

}  // namespace vslide
