#include "vslide/remote/remote_slide.h"

#include <malloc.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include <zmq_addon.hpp>

#include "remote_slide_impl.h"
#include "vslide/remote/curve.h"
#include "vslide/storage/codec.h"

namespace vslide::remote {

using Clock = std::chrono::steady_clock;

void tune_allocator_for_tiles() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Return values ignored on purpose: a refused hint leaves glibc's defaults, which work, slower.
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 128 << 20);
  });
}

std::unique_ptr<zmq::socket_t> RemoteSlide::Impl::new_socket() const {
  auto s = std::make_unique<zmq::socket_t>(const_cast<zmq::context_t&>(context), zmq::socket_type::dealer);
  s->set(zmq::sockopt::linger, 0);
  s->set(zmq::sockopt::rcvhwm, 64);
  // A frame from a hostile or broken server over this size drops the connection
  // before it is buffered (the request then times out): no reply may make us allocate more.
  s->set(zmq::sockopt::maxmsgsize, max_frame_bytes);
  if (!options.server_public_key.empty()) {
    s->set(zmq::sockopt::curve_serverkey, options.server_public_key);
    s->set(zmq::sockopt::curve_publickey, options.client_public_key);
    s->set(zmq::sockopt::curve_secretkey, options.client_secret_key);
  }
  s->connect(address.endpoint);
  return s;
}

std::unique_ptr<zmq::socket_t> RemoteSlide::Impl::borrow_socket() const {
  {
    std::lock_guard lock(pool_mutex);
    if (!pool.empty()) {
      auto socket = std::move(pool.back());
      pool.pop_back();
      return socket;
    }
  }
  return new_socket();
}

void RemoteSlide::Impl::return_socket(std::unique_ptr<zmq::socket_t> socket) const {
  std::lock_guard lock(pool_mutex);
  if (pool.size() < 64) pool.push_back(std::move(socket));
}

bool next_reply(zmq::socket_t& socket, std::chrono::steady_clock::time_point deadline, Reply* out) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, left) == 0) return false;
    std::vector<zmq::message_t> frames;
    (void)zmq::recv_multipart(socket, std::back_inserter(frames));
    if (frames.size() < 2 || frames[0].size() != 0) continue;  // not a reply of ours
    out->body = json::parse(frames[1].to_string_view(), nullptr, false);
    out->payloads.clear();
    for (size_t i = 2; i < frames.size(); ++i) out->payloads.push_back(std::move(frames[i]));
    return true;
  }
}

Result<Reply> RemoteSlide::Impl::call(json request, const std::string& what) const {
  const std::string context_msg = url + ": " + what;
  for (int attempt = 0; attempt <= options.retries; ++attempt) {
    n_requests.fetch_add(1, std::memory_order_relaxed);
    if (attempt > 0) n_retries.fetch_add(1, std::memory_order_relaxed);
    std::unique_ptr<zmq::socket_t> socket;
    try {
      socket = borrow_socket();
      const uint64_t id = next_id.fetch_add(1);
      request["id"] = id;
      request["v"] = kProtocolVersion;
      const std::string text = request.dump();
      socket->send(zmq::message_t(), zmq::send_flags::sndmore);
      socket->send(zmq::buffer(text), zmq::send_flags::none);
      const auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
      Reply r;
      while (next_reply(*socket, deadline, &r)) {
        const uint64_t reply_id = reply_id_of(r.body);
        if (reply_id != id) {
          // A late reply to an abandoned request, or a busy/parse error without our id.
          if (reply_id == 0 && r.body.is_object() && r.body.contains("ok") && r.body["ok"] == false) {
            return_socket(std::move(socket));
            return status_from_error_reply(r.body, context_msg);
          }
          continue;
        }
        return_socket(std::move(socket));
        if (!(r.body.contains("ok") && r.body["ok"] == true)) return status_from_error_reply(r.body, context_msg);
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
  return take_tile(r.body["tile"], r.payloads, &next, url + ": tile " + key.to_string(), geometry);
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
      out.push_back(take_tile(t, r->payloads, &next, url + ": tile " + keys[i].to_string(), geometry));
    } else {
      out.emplace_back(status_from_error_reply(t, url + ": tile " + keys[i].to_string()));
    }
  }
  return out;
}

Status RemoteSlide::Impl::load_header() {
  // This client places each (z, t) plane at its own registered positions.
  VSLIDE_ASSIGN_OR_RETURN(Reply h, call(json{{"op", "header"}, {"slide", address.slide_id},
                                             {"features", json::array({kFeaturePlanePositions})}},
                                        "header"));
  VSLIDE_ASSIGN_OR_RETURN(Reply c, call(json{{"op", "channels"}, {"slide", address.slide_id}}, "channels"));
  try {
    header = h.body.at("header").get<SlideHeader>();
    geometry = h.body.at("geometry").get<MosaicGeometry>();
    VSLIDE_ASSIGN_OR_RETURN(codec, codec_from_json(h.body.at("codec")));
    zoom_levels = h.body.at("zoom_levels").get<std::vector<int32_t>>();
    layers = h.body.at("detection_layers").get<std::vector<std::string>>();
    // Optional (servers before streamed tiles do not send it).
    server_tile_parts = h.body.value("tile_parts", 0);
    VSLIDE_ASSIGN_OR_RETURN(SlideState st, parse_slide_state(h.body.at("state").get<std::string>()));
    channels = c.body.at("channels").get<std::vector<ChannelInfo>>();
    // What a server says is checked exactly as what a file says (Hdf5Slide::open):
    // everything below sizes buffers from it.
    if (!geometry.valid()) return Status::corruption(url + ": server's geometry: " + geometry.invalid_reason());
    if (int64_t(channels.size()) != geometry.channels) {
      return Status::corruption(url + ": server lists " + std::to_string(channels.size()) + " channels for a " +
                                std::to_string(geometry.channels) + "-channel geometry");
    }
    for (int32_t z : zoom_levels) {
      if (z < 0 || z >= 16) return Status::corruption(url + ": server's zoom level " + std::to_string(z) + " outside 0..15");
    }
    if (server_tile_parts < 0 || server_tile_parts > kMaxTileParts) server_tile_parts = kMaxTileParts;
    max_frame_bytes = max_reply_frame_bytes(geometry);
    {
      std::lock_guard pool_lock(pool_mutex);
      pool.clear();  // sockets made before the geometry was known carry the small frame limit
    }
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
  auto idx = index_from_json(r.body["index"], &geometry);
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

static_assert(RemoteSlideOptions{}.tile_parts == kMaxTileParts, "streamed reads default to the most parts allowed");

int RemoteSlide::Impl::parts_for(const TileKey& key) const {
  const int wanted = options.tile_parts;
  if (wanted <= 1 || server_tile_parts <= 1 || codec.family != CodecFamily::kBlosc) return 1;
  // Small planes gain nothing from being split: the transfer is short anyway.
  const uint64_t raw = uint64_t(geometry.level_width(key.level)) * uint64_t(geometry.level_height(key.level)) * 2;
  if (raw < options.stream_min_bytes) return 1;
  return std::min({wanted, server_tile_parts, kMaxTileParts});
}

Result<Image16> RemoteSlide::read(const TileKey& key) const {
  if (!impl_->cache.contains(key)) {
    if (const int parts = impl_->parts_for(key); parts > 1) return impl_->read_streamed(key, parts);
  }
  VSLIDE_ASSIGN_OR_RETURN(auto tile, impl_->fetch(key));
  std::vector<std::span<const uint8_t>> data;
  for (const auto& m : tile->data) data.emplace_back(static_cast<const uint8_t*>(m.data()), m.size());
  return decode_blocks(tile->meta, data, impl_->url);
}

// Like Hdf5Slide::read_chunk, hands out only chunks that match their
// checksums: a server checks a chunk the first time it sends it, not every
// time (docs/PROTOCOL.md), so the client checks what it received.
Result<StoredTile> RemoteSlide::Impl::checked_stored(const WireTile& tile) const {
  StoredTile out = tile.to_stored();
  for (size_t b = 0; b < out.blocks.size(); ++b) {
    const auto& blk = out.blocks[b];
    if (blk.checksum != 0 && chunk_checksum(blk.bytes) != blk.checksum) {
      return Status::corruption(url + ": tile " + out.key.to_string() + " block " + std::to_string(b) +
                                ": checksum mismatch in received chunk of " + std::to_string(blk.bytes.size()) +
                                " bytes");
    }
  }
  return out;
}

Result<StoredTile> RemoteSlide::read_chunk(const TileKey& key) const {
  VSLIDE_ASSIGN_OR_RETURN(auto tile, impl_->fetch(key));
  return impl_->checked_stored(*tile);
}

std::vector<Result<StoredTile>> RemoteSlide::read_chunks(const std::vector<TileKey>& keys) const {
  std::vector<Result<StoredTile>> out;
  for (size_t start = 0; start < keys.size(); start += kMaxBatchKeys) {
    std::vector<TileKey> part(keys.begin() + start, keys.begin() + std::min(keys.size(), start + kMaxBatchKeys));
    for (auto& r : impl_->fetch_batch(part)) {
      if (r.ok()) out.push_back(impl_->checked_stored(**r));
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

Result<Registration> RemoteSlide::read_registration() const {
  VSLIDE_ASSIGN_OR_RETURN(Reply r, impl_->call(json{{"op", "registration"}, {"slide", impl_->address.slide_id},
                                                    {"features", json::array({kFeaturePlanePositions})}},
                                               "registration"));
  try {
    const json& j = r.body.at("registration");
    Registration reg;
    reg.reference_channel = j.at("reference_channel").get<int32_t>();
    for (const auto& f : j.at("fields")) {
      reg.fields.push_back(FieldPlacement{f.at(0).get<int32_t>(), f.at(1).get<int32_t>(), f.at(2).get<double>(),
                                          f.at(3).get<double>(), f.at(4).get<bool>(), f.at(5).get<double>()});
    }
    for (const auto& o : j.at("channel_offsets")) {
      reg.channel_offsets.push_back(ChannelOffset{o.at(0).get<int32_t>(), o.at(1).get<double>(), o.at(2).get<double>(),
                                                  o.at(3).get<double>(), o.at(4).get<double>()});
    }
    // Per-plane placements (older servers send none).
    reg.reference_z = j.value("reference_z", 0);
    reg.reference_t = j.value("reference_t", 0);
    if (j.contains("planes")) {
      for (const auto& p : j.at("planes")) {
        reg.plane_fields.push_back(PlanePlacement{
            p.at(0).get<int32_t>(), p.at(1).get<int32_t>(),
            FieldPlacement{p.at(2).get<int32_t>(), p.at(3).get<int32_t>(), p.at(4).get<double>(),
                           p.at(5).get<double>(), p.at(6).get<bool>(), p.at(7).get<double>()}});
      }
    }
    if (r.payloads.size() != 1) return Status::corruption(impl_->url + ": registration reply without its report");
    reg.report_json = r.payloads[0].to_string();
    return reg;
  } catch (const std::exception& e) {
    return Status::corruption(impl_->url + ": registration reply: " + e.what());
  }
}

Result<FlatField> RemoteSlide::read_flatfield(int32_t channel) const {
  VSLIDE_ASSIGN_OR_RETURN(Reply r, impl_->call(json{{"op", "flatfield"}, {"slide", impl_->address.slide_id},
                                                    {"channel", channel}}, "flat-field of channel " + std::to_string(channel)));
  try {
    const json& j = r.body.at("flatfield");
    FlatField ff;
    ff.channel = j.at("channel").get<int32_t>();
    ff.gain_width = j.at("width").get<int32_t>();
    ff.gain_height = j.at("height").get<int32_t>();
    ff.dark = j.at("dark").get<float>();
    if (ff.gain_width <= 0 || ff.gain_height <= 0 || r.payloads.size() != 1 ||
        r.payloads[0].size() != size_t(ff.gain_width) * size_t(ff.gain_height) * sizeof(float)) {
      return Status::corruption(impl_->url + ": flat-field payload does not match its size");
    }
    ff.gain.resize(size_t(ff.gain_width) * size_t(ff.gain_height));
    std::memcpy(ff.gain.data(), r.payloads[0].data(), r.payloads[0].size());
    return ff;
  } catch (const std::exception& e) {
    return Status::corruption(impl_->url + ": flat-field reply: " + e.what());
  }
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
