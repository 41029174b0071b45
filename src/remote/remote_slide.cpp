#include "vslide/remote/remote_slide.h"

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include <zmq_addon.hpp>

#include "tile_cache.h"
#include "vslide/remote/curve.h"
#include "vslide/remote/protocol.h"
#include "vslide/storage/codec.h"

namespace vslide::remote {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// The "id" of a reply; 0 when absent or not an unsigned integer.
uint64_t reply_id_of(const json& body) {
  if (!body.is_object()) return 0;
  auto it = body.find("id");
  return it != body.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

struct Reply {
  json body;
  std::vector<zmq::message_t> payloads;
};

// Decodes blocks given as (metadata, bytes) into the plane.
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

}  // namespace

void tune_allocator_for_tiles() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Return values ignored on purpose: a refused hint leaves glibc's defaults, which work, slower.
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 128 << 20);
  });
}

Result<Image16> decode_stored_tile(const StoredTile& tile, const std::string& where) {
  std::vector<std::span<const uint8_t>> data;
  for (const auto& b : tile.blocks) data.emplace_back(b.bytes.data(), b.bytes.size());
  return decode_blocks(tile, data, where);
}

struct RemoteSlide::Impl {
  std::string url;
  RemoteUrl address;
  RemoteSlideOptions options;
  zmq::context_t context{1};

  // Set by open(); header fields are fixed afterwards, the rest guarded by mutex.
  SlideHeader header;
  MosaicGeometry geometry;
  std::vector<ChannelInfo> channels;
  CodecSpec codec;
  std::vector<int32_t> zoom_levels;
  std::vector<std::string> layers;
  mutable std::mutex mutex;
  SlideState state = SlideState::kScanning;  // guarded by mutex
  std::shared_ptr<const TileIndex> index;    // guarded by mutex

  mutable std::mutex pool_mutex;
  mutable std::vector<std::unique_ptr<zmq::socket_t>> pool;  // idle sockets, guarded by pool_mutex
  mutable std::atomic<uint64_t> next_id{1};
  mutable std::atomic<uint64_t> n_requests{0}, n_retries{0}, n_hits{0}, n_misses{0}, n_prefetched{0};

  mutable TileCache cache{0};

  // Read-ahead, guarded by prefetch_mutex.
  mutable std::mutex prefetch_mutex;
  mutable std::condition_variable prefetch_cv, prefetch_done_cv;
  mutable std::deque<TileKey> prefetch_queue;
  mutable bool prefetch_busy = false, prefetch_stop = false;
  mutable std::thread prefetch_thread;

  std::unique_ptr<zmq::socket_t> new_socket() const;
  Result<Reply> call(json request, const std::string& what) const;
  Result<std::shared_ptr<const WireTile>> fetch(const TileKey& key) const;
  std::vector<Result<std::shared_ptr<const WireTile>>> fetch_batch(const std::vector<TileKey>& keys) const;
  Status load_header();
  Status load_index();
  void prefetch_loop() const;
};

std::unique_ptr<zmq::socket_t> RemoteSlide::Impl::new_socket() const {
  auto s = std::make_unique<zmq::socket_t>(const_cast<zmq::context_t&>(context), zmq::socket_type::dealer);
  s->set(zmq::sockopt::linger, 0);
  s->set(zmq::sockopt::rcvhwm, 64);
  if (!options.server_public_key.empty()) {
    s->set(zmq::sockopt::curve_serverkey, options.server_public_key);
    s->set(zmq::sockopt::curve_publickey, options.client_public_key);
    s->set(zmq::sockopt::curve_secretkey, options.client_secret_key);
  }
  s->connect(address.endpoint);
  return s;
}

Result<Reply> RemoteSlide::Impl::call(json request, const std::string& what) const {
  const std::string context_msg = url + ": " + what;
  for (int attempt = 0; attempt <= options.retries; ++attempt) {
    n_requests.fetch_add(1, std::memory_order_relaxed);
    if (attempt > 0) n_retries.fetch_add(1, std::memory_order_relaxed);
    std::unique_ptr<zmq::socket_t> socket;
    try {
      {
        std::lock_guard lock(pool_mutex);
        if (!pool.empty()) {
          socket = std::move(pool.back());
          pool.pop_back();
        }
      }
      if (!socket) socket = new_socket();
      const uint64_t id = next_id.fetch_add(1);
      request["id"] = id;
      request["v"] = kProtocolVersion;
      const std::string text = request.dump();
      socket->send(zmq::message_t(), zmq::send_flags::sndmore);
      socket->send(zmq::buffer(text), zmq::send_flags::none);
      const auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        zmq::pollitem_t item{socket->handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, left) == 0) break;
        std::vector<zmq::message_t> frames;
        (void)zmq::recv_multipart(*socket, std::back_inserter(frames));
        if (frames.size() < 2 || frames[0].size() != 0) continue;  // not a reply of ours
        json body = json::parse(frames[1].to_string_view(), nullptr, false);
        const uint64_t reply_id = reply_id_of(body);
        if (reply_id != id) {
          // A late reply to an abandoned request, or a busy/parse error without our id.
          if (reply_id == 0 && body.is_object() && body.contains("ok") && body["ok"] == false) {
            std::lock_guard lock(pool_mutex);
            pool.push_back(std::move(socket));
            return status_from_error_reply(body, context_msg);
          }
          continue;
        }
        {
          std::lock_guard lock(pool_mutex);
          if (pool.size() < 64) pool.push_back(std::move(socket));
        }
        if (!(body.contains("ok") && body["ok"] == true)) return status_from_error_reply(body, context_msg);
        Reply r;
        r.body = std::move(body);
        for (size_t i = 2; i < frames.size(); ++i) r.payloads.push_back(std::move(frames[i]));
        return r;
      }
      // No reply in time: this socket may still receive it later; drop it.
    } catch (const zmq::error_t& e) {
      return Status::io_error(context_msg + ": " + e.what());
    }
  }
  return Status::unavailable(context_msg + ": no reply within " + std::to_string(options.timeout_ms) + " ms (" +
                             std::to_string(options.retries + 1) + " tries)");
}

namespace {

// Checks a tile's metadata against its payload frames and takes the frames.
Result<std::shared_ptr<const WireTile>> take_tile(const json& meta, std::vector<zmq::message_t>& payloads,
                                                  size_t* next, const std::string& where) {
  std::vector<uint64_t> sizes;
  auto parsed = tile_meta_from_json(meta, &sizes);
  if (!parsed.ok()) return Status::corruption(where + ": " + parsed.status().message());
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

}  // namespace

Result<std::shared_ptr<const WireTile>> RemoteSlide::Impl::fetch(const TileKey& key) const {
  if (auto hit = cache.get(key)) {
    n_hits.fetch_add(1, std::memory_order_relaxed);
    return hit;
  }
  n_misses.fetch_add(1, std::memory_order_relaxed);
  json key_json;
  to_json(key_json, key);
  VSLIDE_ASSIGN_OR_RETURN(Reply r, call(json{{"op", "tile"}, {"slide", address.slide_id}, {"key", key_json}},
                                        "tile " + key.to_string()));
  if (!r.body.contains("tile")) return Status::corruption(url + ": tile reply without 'tile'");
  size_t next = 0;
  return take_tile(r.body["tile"], r.payloads, &next, url + ": tile " + key.to_string());
}

std::vector<Result<std::shared_ptr<const WireTile>>> RemoteSlide::Impl::fetch_batch(
    const std::vector<TileKey>& keys) const {
  std::vector<Result<std::shared_ptr<const WireTile>>> out;
  json arr = json::array();
  for (const auto& k : keys) {
    json kj;
    to_json(kj, k);
    arr.push_back(kj);
  }
  auto r = call(json{{"op", "tiles"}, {"slide", address.slide_id}, {"keys", arr}},
                "batch of " + std::to_string(keys.size()) + " tiles");
  if (!r.ok() || !r->body.contains("tiles") || !r->body["tiles"].is_array() || r->body["tiles"].size() != keys.size()) {
    Status s = r.ok() ? Status::corruption(url + ": batch reply does not list every tile") : r.status();
    for (size_t i = 0; i < keys.size(); ++i) out.emplace_back(s);
    return out;
  }
  size_t next = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const json& t = r->body["tiles"][i];
    if (t.is_object() && t.contains("ok") && t["ok"] == true) {
      out.push_back(take_tile(t, r->payloads, &next, url + ": tile " + keys[i].to_string()));
    } else {
      out.emplace_back(status_from_error_reply(t, url + ": tile " + keys[i].to_string()));
    }
  }
  return out;
}

Status RemoteSlide::Impl::load_header() {
  VSLIDE_ASSIGN_OR_RETURN(Reply h, call(json{{"op", "header"}, {"slide", address.slide_id}}, "header"));
  VSLIDE_ASSIGN_OR_RETURN(Reply c, call(json{{"op", "channels"}, {"slide", address.slide_id}}, "channels"));
  try {
    header = h.body.at("header").get<SlideHeader>();
    geometry = h.body.at("geometry").get<MosaicGeometry>();
    VSLIDE_ASSIGN_OR_RETURN(codec, codec_from_json(h.body.at("codec")));
    zoom_levels = h.body.at("zoom_levels").get<std::vector<int32_t>>();
    layers = h.body.at("detection_layers").get<std::vector<std::string>>();
    VSLIDE_ASSIGN_OR_RETURN(SlideState st, parse_slide_state(h.body.at("state").get<std::string>()));
    channels = c.body.at("channels").get<std::vector<ChannelInfo>>();
    std::lock_guard lock(mutex);
    state = st;
  } catch (const std::exception& e) {
    return Status::corruption(url + ": header reply: " + e.what());
  }
  return Status();
}

Status RemoteSlide::Impl::load_index() {
  VSLIDE_ASSIGN_OR_RETURN(Reply r, call(json{{"op", "index"}, {"slide", address.slide_id}}, "index"));
  if (!r.body.contains("index")) return Status::corruption(url + ": index reply without 'index'");
  auto idx = index_from_json(r.body["index"]);
  if (!idx.ok()) return Status::corruption(url + ": " + idx.status().message());
  std::lock_guard lock(mutex);
  index = std::make_shared<const TileIndex>(std::move(idx).value());
  return Status();
}

void RemoteSlide::Impl::prefetch_loop() const {
  std::unique_lock lock(prefetch_mutex);
  for (;;) {
    prefetch_cv.wait(lock, [&] { return prefetch_stop || !prefetch_queue.empty(); });
    if (prefetch_stop) return;
    std::vector<TileKey> batch;
    while (!prefetch_queue.empty() && batch.size() < std::max<size_t>(1, options.prefetch_batch)) {
      if (!cache.contains(prefetch_queue.front())) batch.push_back(prefetch_queue.front());
      prefetch_queue.pop_front();
    }
    prefetch_busy = true;
    lock.unlock();
    if (!batch.empty()) {
      auto results = fetch_batch(batch);
      for (size_t i = 0; i < batch.size(); ++i) {
        if (results[i].ok()) {
          cache.put(batch[i], *results[i]);
          n_prefetched.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    lock.lock();
    prefetch_busy = false;
    if (prefetch_queue.empty()) prefetch_done_cv.notify_all();
  }
}

Result<std::unique_ptr<RemoteSlide>> RemoteSlide::open(const std::string& url, RemoteSlideOptions options) {
  VSLIDE_ASSIGN_OR_RETURN(auto address, parse_remote_url(url));
  if (options.tune_allocator) tune_allocator_for_tiles();
  auto impl = std::make_unique<Impl>();
  impl->url = url;
  impl->address = std::move(address);
  impl->options = std::move(options);
  impl->cache.set_capacity(impl->options.cache_bytes);
  if (impl->options.timeout_ms <= 0) impl->options.timeout_ms = 1;
  if (impl->options.retries < 0) impl->options.retries = 0;
  VSLIDE_RETURN_IF_ERROR(impl->load_header());
  VSLIDE_RETURN_IF_ERROR(impl->load_index());
  return std::unique_ptr<RemoteSlide>(new RemoteSlide(std::move(impl)));
}

Result<std::unique_ptr<RemoteSlide>> RemoteSlide::open_from_env(const std::string& url, RemoteSlideOptions options) {
  const char* server = std::getenv("VSLIDE_CURVE_SERVER_KEY");
  const char* client = std::getenv("VSLIDE_CURVE_CLIENT_KEY");
  if (server && *server) {
    if (!client || !*client) {
      return Status::invalid_argument("VSLIDE_CURVE_SERVER_KEY is set but VSLIDE_CURVE_CLIENT_KEY is not");
    }
    VSLIDE_ASSIGN_OR_RETURN(auto s, read_key_file(server));
    VSLIDE_ASSIGN_OR_RETURN(auto c, read_key_file(client));
    if (c.secret_key.empty()) return Status::invalid_argument(std::string(client) + ": no secret-key");
    options.server_public_key = s.public_key;
    options.client_public_key = c.public_key;
    options.client_secret_key = c.secret_key;
  }
  return open(url, std::move(options));
}

RemoteSlide::RemoteSlide(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RemoteSlide::~RemoteSlide() {
  {
    std::lock_guard lock(impl_->prefetch_mutex);
    impl_->prefetch_stop = true;
  }
  impl_->prefetch_cv.notify_all();
  if (impl_->prefetch_thread.joinable()) impl_->prefetch_thread.join();
  impl_->pool.clear();
}

std::string RemoteSlide::describe() const { return impl_->url; }
const SlideHeader& RemoteSlide::header() const { return impl_->header; }
const MosaicGeometry& RemoteSlide::geometry() const { return impl_->geometry; }
const std::vector<ChannelInfo>& RemoteSlide::channels() const { return impl_->channels; }
CodecSpec RemoteSlide::codec() const { return impl_->codec; }
std::vector<int32_t> RemoteSlide::zoom_levels() const { return impl_->zoom_levels; }
std::vector<std::string> RemoteSlide::detection_layers() const { return impl_->layers; }

SlideState RemoteSlide::state() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->state;
}

std::shared_ptr<const TileIndex> RemoteSlide::index() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->index;
}

Status RemoteSlide::refresh() {
  VSLIDE_ASSIGN_OR_RETURN(Reply h, impl_->call(json{{"op", "header"}, {"slide", impl_->address.slide_id}}, "header"));
  auto st = parse_slide_state(h.body.value("state", std::string("?")));
  if (!st.ok()) return Status::corruption(impl_->url + ": " + st.status().message());
  {
    std::lock_guard lock(impl_->mutex);
    impl_->state = *st;
  }
  return impl_->load_index();
}

Result<Image16> RemoteSlide::read(const TileKey& key) const {
  VSLIDE_ASSIGN_OR_RETURN(auto tile, impl_->fetch(key));
  std::vector<std::span<const uint8_t>> data;
  for (const auto& m : tile->data) data.emplace_back(static_cast<const uint8_t*>(m.data()), m.size());
  return decode_blocks(tile->meta, data, impl_->url);
}

Result<StoredTile> RemoteSlide::read_chunk(const TileKey& key) const {
  VSLIDE_ASSIGN_OR_RETURN(auto tile, impl_->fetch(key));
  return tile->to_stored();
}

std::vector<Result<StoredTile>> RemoteSlide::read_chunks(const std::vector<TileKey>& keys) const {
  std::vector<Result<StoredTile>> out;
  for (size_t start = 0; start < keys.size(); start += kMaxBatchKeys) {
    std::vector<TileKey> part(keys.begin() + start, keys.begin() + std::min(keys.size(), start + kMaxBatchKeys));
    for (auto& r : impl_->fetch_batch(part)) {
      if (r.ok()) out.emplace_back((*r)->to_stored());
      else out.emplace_back(r.status());
    }
  }
  return out;
}

void RemoteSlide::prefetch(const std::vector<TileKey>& keys) const {
  std::lock_guard lock(impl_->prefetch_mutex);
  if (!impl_->prefetch_thread.joinable()) impl_->prefetch_thread = std::thread([impl = impl_.get()] { impl->prefetch_loop(); });
  impl_->prefetch_queue.clear();
  for (const auto& k : keys) {
    if (!impl_->cache.contains(k)) impl_->prefetch_queue.push_back(k);
  }
  impl_->prefetch_cv.notify_all();
}

bool RemoteSlide::cached(const TileKey& key) const { return impl_->cache.contains(key); }

void RemoteSlide::wait_prefetch() const {
  std::unique_lock lock(impl_->prefetch_mutex);
  impl_->prefetch_done_cv.wait(lock, [&] { return impl_->prefetch_queue.empty() && !impl_->prefetch_busy; });
}

Result<Overview> RemoteSlide::read_overview(int32_t channel) const {
  VSLIDE_ASSIGN_OR_RETURN(Reply r, impl_->call(json{{"op", "overview"}, {"slide", impl_->address.slide_id},
                                                    {"channel", channel}}, "overview of channel " + std::to_string(channel)));
  try {
    const json& o = r.body.at("overview");
    Overview ov;
    ov.channel = o.at("channel").get<int32_t>();
    const int w = o.at("width").get<int>(), h = o.at("height").get<int>();
    if (w < 0 || h < 0 || r.payloads.size() != 1 || r.payloads[0].size() != size_t(w) * size_t(h) * 2) {
      return Status::corruption(impl_->url + ": overview payload does not match its size");
    }
    ov.image = Image16(w, h);
    if (!r.payloads[0].empty()) std::memcpy(ov.image.data(), r.payloads[0].data(), r.payloads[0].size());
    ov.origin_x_um = o.at("origin_x_um").get<double>();
    ov.origin_y_um = o.at("origin_y_um").get<double>();
    ov.um_per_px = o.at("um_per_px").get<double>();
    return ov;
  } catch (const std::exception& e) {
    return Status::corruption(impl_->url + ": overview reply: " + e.what());
  }
}

Result<LabelTile> RemoteSlide::read_labels(const std::string& layer, const TileKey& key) const {
  json kj;
  to_json(kj, key);
  VSLIDE_ASSIGN_OR_RETURN(Reply r, impl_->call(json{{"op", "labels"}, {"slide", impl_->address.slide_id},
                                                    {"layer", layer}, {"key", kj}},
                                               "labels '" + layer + "' tile " + key.to_string()));
  try {
    LabelTile t;
    t.width = r.body.at("labels").at("width").get<int32_t>();
    t.height = r.body.at("labels").at("height").get<int32_t>();
    if (t.width < 0 || t.height < 0 || r.payloads.size() != 1 ||
        r.payloads[0].size() != size_t(t.width) * size_t(t.height) * 4) {
      return Status::corruption(impl_->url + ": label payload does not match its size");
    }
    t.labels.resize(size_t(t.width) * size_t(t.height));
    if (!t.labels.empty()) std::memcpy(t.labels.data(), r.payloads[0].data(), r.payloads[0].size());
    return t;
  } catch (const std::exception& e) {
    return Status::corruption(impl_->url + ": labels reply: " + e.what());
  }
}

Result<std::string> RemoteSlide::read_objects_json(const std::string& layer) const {
  VSLIDE_ASSIGN_OR_RETURN(Reply r, impl_->call(json{{"op", "objects"}, {"slide", impl_->address.slide_id},
                                                    {"layer", layer}}, "objects '" + layer + "'"));
  if (r.payloads.size() != 1) return Status::corruption(impl_->url + ": objects reply without its payload");
  return r.payloads[0].to_string();
}

Result<json> RemoteSlide::server_status() const {
  VSLIDE_ASSIGN_OR_RETURN(Reply r, impl_->call(json{{"op", "status"}}, "status"));
  return r.body.value("server", json::object());
}

Result<json> RemoteSlide::list_slides() const {
  VSLIDE_ASSIGN_OR_RETURN(Reply r, impl_->call(json{{"op", "list"}}, "list"));
  return r.body.value("slides", json::array());
}

RemoteSlide::Stats RemoteSlide::stats() const {
  return Stats{impl_->n_requests.load(), impl_->n_retries.load(), impl_->n_hits.load(), impl_->n_misses.load(),
               impl_->n_prefetched.load()};
}

}  // namespace vslide::remote
