// RemoteSlide::read of a large tile as several "tile" requests for parts of
// its chunks, sent at once on one connection: while part i+1 crosses the
// network (the ZeroMQ I/O thread receives it), this thread hashes and decodes
// the Blosc blocks part i completed. One Blosc thread, as local reads.
#include <chrono>
#include <cstring>

#include <zmq_addon.hpp>

#include "chunk_stream.h"
#include "remote_slide_impl.h"

namespace vslide::remote {

using Clock = std::chrono::steady_clock;

namespace {

// The tile being assembled: metadata from the first part to arrive, one
// stream per block, blocks other than a whole-plane one decoded aside.
struct Assembly {
  StoredTile meta;
  std::vector<uint64_t> sizes;
  Image16 image;
  std::vector<std::vector<uint8_t>> scratch;  // per block; empty for a whole-plane block
  std::vector<std::unique_ptr<ChunkStream>> streams;

  Status start(const StoredTile& m, const std::vector<uint64_t>& s, const std::string& where) {
    auto fail = [&](const std::string& what) { return Status::corruption(where + ": " + what); };
    if (m.height <= 0 || m.width <= 0 || m.height > 65536 || m.width > 65536) {
      return fail("implausible plane size " + std::to_string(m.width) + "x" + std::to_string(m.height));
    }
    meta = m;
    sizes = s;
    if (image.width() != m.width || image.height() != m.height) image = Image16(m.width, m.height);
    for (const auto& b : m.blocks) {
      if (b.y < 0 || b.x < 0 || b.y >= m.height || b.x >= m.width || b.height <= 0 || b.width <= 0 ||
          b.height > 65536 || b.width > 65536) {
        return fail("block geometry outside the plane");
      }
      const size_t i = streams.size();
      const bool whole = b.y == 0 && b.x == 0 && b.height == m.height && b.width == m.width;
      std::span<uint8_t> out;
      scratch.emplace_back();
      if (whole) {
        out = {reinterpret_cast<uint8_t*>(image.data()), image.byte_size()};
      } else {
        scratch[i].resize(size_t(b.height) * size_t(b.width) * 2);
        out = scratch[i];
      }
      streams.push_back(std::make_unique<ChunkStream>(m.codec, sizes[i], b.checksum, out));
    }
    return Status();
  }

  // Checks every block and places the ones decoded aside.
  Status finish(const std::string& where) {
    for (size_t i = 0; i < streams.size(); ++i) {
      const auto& b = meta.blocks[i];
      if (Status s = streams[i]->finish(); !s.ok()) {
        return Status::corruption(where + ": block at (" + std::to_string(b.y) + "," + std::to_string(b.x) +
                                  "): " + s.message());
      }
      if (scratch[i].empty()) continue;
      const int rows = std::min(b.height, meta.height - b.y), cols = std::min(b.width, meta.width - b.x);
      const auto* src = reinterpret_cast<const uint16_t*>(scratch[i].data());
      for (int y = 0; y < rows; ++y) {
        std::memcpy(image.row(b.y + y) + b.x, src + size_t(y) * size_t(b.width), size_t(cols) * 2);
      }
    }
    return Status();
  }
};

bool same_layout(const StoredTile& a, const std::vector<uint64_t>& as, const StoredTile& b,
                 const std::vector<uint64_t>& bs) {
  if (a.height != b.height || a.width != b.width || as != bs || a.blocks.size() != b.blocks.size()) return false;
  for (size_t i = 0; i < a.blocks.size(); ++i) {
    const auto &x = a.blocks[i], &y = b.blocks[i];
    if (x.y != y.y || x.x != y.x || x.height != y.height || x.width != y.width || x.checksum != y.checksum) return false;
  }
  return true;
}

}  // namespace

Result<Image16> RemoteSlide::Impl::read_streamed(const TileKey& key, int parts) const {
  n_misses.fetch_add(1, std::memory_order_relaxed);
  const std::string where = url + ": tile " + key.to_string();
  json key_json;
  to_json(key_json, key);
  for (int attempt = 0; attempt <= options.retries; ++attempt) {
    n_requests.fetch_add(uint64_t(parts), std::memory_order_relaxed);
    if (attempt > 0) n_retries.fetch_add(1, std::memory_order_relaxed);
    std::unique_ptr<zmq::socket_t> socket;
    try {
      socket = borrow_socket();
      const uint64_t first_id = next_id.fetch_add(uint64_t(parts));
      for (int i = 0; i < parts; ++i) {
        json request{{"v", kProtocolVersion}, {"id", first_id + uint64_t(i)}, {"op", "tile"},
                     {"slide", address.slide_id}, {"key", key_json}, {"part", json::array({i, parts})}};
        const std::string text = request.dump();
        socket->send(zmq::message_t(), zmq::send_flags::sndmore);
        socket->send(zmq::buffer(text), zmq::send_flags::none);
      }
      Assembly tile;
      // Zero-fill the output while the first part is on its way, off the
      // critical path (0.1-0.2 ms of the first part's decode, docs/PERFORMANCE.md).
      // Its size is the level's tile size; start() allocates again if the reply's differs.
      tile.image = Image16(geometry.level_width(key.level), geometry.level_height(key.level));
      std::vector<bool> received(size_t(parts), false);
      int pending = parts;
      const auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
      Reply r;
      while (pending > 0 && next_reply(*socket, deadline, &r)) {
        json& body = r.body;
        const uint64_t id = reply_id_of(body);
        if (id < first_id || id >= first_id + uint64_t(parts)) {
          // A late reply to an abandoned request, or an error that lost our id (busy).
          if (id == 0 && body.is_object() && body.contains("ok") && body["ok"] == false) {
            return status_from_error_reply(body, where);
          }
          continue;
        }
        // Any failure below leaves replies in flight: the socket is not pooled again.
        if (!(body.contains("ok") && body["ok"] == true)) return status_from_error_reply(body, where);
        if (!body.contains("tile")) return Status::corruption(where + ": tile reply without 'tile'");
        std::vector<zmq::message_t>& payloads = r.payloads;
        const auto part = body.find("part");
        if (part == body.end()) {
          // A server that ignores "part" sent the whole tile: decode it as one.
          size_t next = 0;
          VSLIDE_ASSIGN_OR_RETURN(auto whole, take_tile(body["tile"], payloads, &next, where, geometry));
          std::vector<std::span<const uint8_t>> data;
          for (const auto& m : whole->data) data.emplace_back(static_cast<const uint8_t*>(m.data()), m.size());
          return decode_blocks(whole->meta, data, url);
        }
        const int index = int(id - first_id);
        if (!part->is_array() || part->size() != 2 || (*part)[0] != index || (*part)[1] != parts) {
          return Status::corruption(where + ": reply 'part' " + part->dump() + " does not answer part " +
                                    std::to_string(index) + " of " + std::to_string(parts));
        }
        if (received[size_t(index)]) continue;  // a duplicate (e.g. replayed by a broker)
        std::vector<uint64_t> sizes;
        auto meta = tile_meta_from_json(body["tile"], &sizes);
        if (!meta.ok()) return Status::corruption(where + ": " + meta.status().message());
        if (Status s = check_tile_meta(*meta, sizes, geometry); !s.ok()) return Status::corruption(where + ": " + s.message());
        if (tile.streams.empty()) {
          VSLIDE_RETURN_IF_ERROR(tile.start(*meta, sizes, where));
        } else if (!same_layout(tile.meta, tile.sizes, *meta, sizes)) {
          return Status::corruption(where + ": part " + std::to_string(index) + " describes another tile layout");
        }
        if (payloads.size() != sizes.size()) {
          return Status::corruption(where + ": part " + std::to_string(index) + " has " +
                                    std::to_string(payloads.size()) + " payload frames for " +
                                    std::to_string(sizes.size()) + " blocks");
        }
        for (size_t b = 0; b < sizes.size(); ++b) {
          const uint64_t begin = part_begin(sizes[b], index, parts), end = part_end(sizes[b], index, parts);
          if (payloads[b].size() != end - begin) {
            return Status::corruption(where + ": part " + std::to_string(index) + " of block " + std::to_string(b) +
                                      " holds " + std::to_string(payloads[b].size()) + " bytes, expected " +
                                      std::to_string(end - begin));
          }
          Status s = tile.streams[b]->add(begin, {static_cast<const uint8_t*>(payloads[b].data()), payloads[b].size()});
          if (!s.ok()) return Status::corruption(where + ": block " + std::to_string(b) + ": " + s.message());
        }
        received[size_t(index)] = true;
        --pending;
      }
      if (pending == 0) {
        return_socket(std::move(socket));
        VSLIDE_RETURN_IF_ERROR(tile.finish(where));
        return std::move(tile.image);
      }
      // Not every part came in time: this socket may still receive them; drop it.
    } catch (const zmq::error_t& e) {
      return Status::io_error(where + ": " + e.what());
    }
  }
  return Status::unavailable(where + ": no complete reply within " + std::to_string(options.timeout_ms) + " ms (" +
                             std::to_string(options.retries + 1) + " tries of " + std::to_string(parts) + " parts)");
}

}  // namespace vslide::remote
