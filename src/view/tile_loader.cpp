#include "vslide/view/tile_loader.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

namespace vslide::view {

namespace {
using Clock = std::chrono::steady_clock;
}

TileLoader::TileLoader(const SlideSource& slide, TileCache& tiles, LabelCache& labels, LoaderOptions options)
    : slide_(slide), tiles_(tiles), labels_(labels), options_(std::move(options)) {
  stored_levels_ = options_.stored_levels ? *options_.stored_levels : slide_.zoom_levels();
  stored_levels_.push_back(0);
  std::sort(stored_levels_.begin(), stored_levels_.end());
  stored_levels_.erase(std::unique(stored_levels_.begin(), stored_levels_.end()), stored_levels_.end());
  const int n = options_.threads > 0 ? options_.threads : default_threads();
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { worker(); });
}

int TileLoader::default_threads() {
  int n = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
  if (n <= 0) n = int(std::thread::hardware_concurrency());
  return std::clamp(n, 2, 64);
}

TileLoader::~TileLoader() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    pending_.clear();
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TileLoader::request(const std::vector<TileKey>& keys) {
  {
    std::lock_guard lock(mu_);
    pending_.clear();
    std::unordered_set<TileKey, TileKeyHash> seen;
    for (const TileKey& k : keys) {
      if (in_flight_.count(k) || failed_.count(k) || !seen.insert(k).second) continue;
      const bool cached = LoadKey::is_labels(k) ? labels_.contains(k) : tiles_.contains(k);
      if (!cached) pending_.push_back(k);
    }
  }
  work_cv_.notify_all();
}

std::optional<Status> TileLoader::failure(const TileKey& key) const {
  std::lock_guard lock(mu_);
  auto it = failed_.find(key);
  if (it == failed_.end()) return std::nullopt;
  return it->second;
}

uint64_t TileLoader::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

uint64_t TileLoader::wait_progress(uint64_t generation, Clock::time_point deadline) const {
  std::unique_lock lock(mu_);
  done_cv_.wait_until(lock, deadline, [&] { return generation_ != generation || stop_; });
  return generation_;
}

bool TileLoader::idle() const {
  std::lock_guard lock(mu_);
  return pending_.empty() && in_flight_.empty();
}

bool TileLoader::wait_idle(Clock::time_point deadline) const {
  std::unique_lock lock(mu_);
  return done_cv_.wait_until(lock, deadline,
                             [&] { return stop_ || (pending_.empty() && in_flight_.empty()); });
}

std::optional<Overview> TileLoader::overview_placement(int32_t channel) const {
  std::lock_guard lock(mu_);
  auto it = overview_placement_.find(channel);
  if (it == overview_placement_.end()) return std::nullopt;
  return it->second;
}

LoaderStats TileLoader::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void TileLoader::reset_stats() {
  std::lock_guard lock(mu_);
  stats_ = LoaderStats{};
}

void TileLoader::clear_failures() {
  std::lock_guard lock(mu_);
  failed_.clear();
}

void TileLoader::worker() {
  // Best effort: a thread that may not lower its priority still loads.
  if (options_.nice > 0) (void)setpriority(PRIO_PROCESS, pid_t(syscall(SYS_gettid)), options_.nice);
  for (;;) {
    TileKey key;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
      if (stop_) return;
      key = pending_.front();
      pending_.pop_front();
      if (in_flight_.count(key)) continue;
      in_flight_.insert(key);
    }
    LoaderStats local;
    const auto t0 = Clock::now();
    Status s = load(key, local);
    local.load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    {
      std::lock_guard lock(mu_);
      in_flight_.erase(key);
      if (!s.ok()) {
        failed_[key] = s;
        ++stats_.failures;
      }
      stats_.planes_loaded += local.planes_loaded;
      stats_.planes_computed += local.planes_computed;
      stats_.bytes_decoded += local.bytes_decoded;
      stats_.labels_loaded += local.labels_loaded;
      stats_.load_ms += local.load_ms;
      ++generation_;
    }
    done_cv_.notify_all();
  }
}

std::shared_ptr<const TileLoader::HiddenLabels> TileLoader::hidden_labels(int32_t layer) {
  {
    std::lock_guard lock(mu_);
    if (auto it = hidden_.find(layer); it != hidden_.end()) return it->second;
  }
  // Parsed outside the lock; two threads may both parse, the first one wins.
  auto hidden = std::make_shared<HiddenLabels>();
  auto json = slide_.read_objects_json(options_.label_layers[size_t(layer)]);
  if (json.ok()) {
    const nlohmann::json table = nlohmann::json::parse(*json, nullptr, /*allow_exceptions=*/false);
    if (table.is_array())
      for (const nlohmann::json& o : table)
        if (o.is_object() && o.value("kept", true) == false && o.contains("row") && o.contains("col") &&
            o.contains("label"))
          (*hidden)[{o["row"].get<int32_t>(), o["col"].get<int32_t>()}].push_back(o["label"].get<uint32_t>());
  }
  for (auto& [field, labels] : *hidden) std::sort(labels.begin(), labels.end());
  std::lock_guard lock(mu_);
  return hidden_.emplace(layer, std::move(hidden)).first->second;
}

Status TileLoader::load(const TileKey& key, LoaderStats& local) {
  if (LoadKey::is_overview(key)) {
    VSLIDE_ASSIGN_OR_RETURN(Overview ov, slide_.read_overview(key.channel));
    local.bytes_decoded += ov.image.byte_size();
    const size_t bytes = ov.image.byte_size();
    auto image = std::make_shared<const Image16>(std::move(ov.image));
    {
      std::lock_guard lock(mu_);
      ov.image = Image16();
      overview_placement_[key.channel] = ov;
    }
    tiles_.put(key, image, bytes);
    return Status();
  }
  if (LoadKey::is_labels(key)) {
    const int32_t layer = -1 - key.z;
    if (layer < 0 || size_t(layer) >= options_.label_layers.size()) {
      return Status::internal("label request for unknown layer number " + std::to_string(layer));
    }
    const std::string& name = options_.label_layers[size_t(layer)];
    auto lt = slide_.read_labels(name, TileKey{key.row, key.col, 0, 0, 0, 0});
    if (!lt.ok()) return lt.status().with_context("detection layer '" + name + "'");
    LabelTile out = std::move(*lt);
    const auto hidden = hidden_labels(layer);
    if (auto it = hidden->find({key.row, key.col}); it != hidden->end()) {
      for (uint32_t& v : out.labels)
        if (v && std::binary_search(it->second.begin(), it->second.end(), v)) v = 0;
    }
    if (key.level > 0) {  // nearest-neighbour subsampling keeps labels intact
      const int f = 1 << key.level;
      LabelTile s;
      s.width = (out.width + f - 1) / f;
      s.height = (out.height + f - 1) / f;
      s.labels.resize(size_t(s.width) * size_t(s.height));
      for (int y = 0; y < s.height; ++y) {
        for (int x = 0; x < s.width; ++x) {
          s.labels[size_t(y) * size_t(s.width) + size_t(x)] =
              out.labels[size_t(y * f) * size_t(out.width) + size_t(x * f)];
        }
      }
      out = std::move(s);
    }
    ++local.labels_loaded;
    const size_t bytes = out.labels.size() * 4;
    labels_.put(key, std::make_shared<const LabelTile>(std::move(out)), bytes);
    return Status();
  }
  return load_plane(key, local);
}

Status TileLoader::load_plane(const TileKey& key, LoaderStats& local) {
  const bool stored = std::binary_search(stored_levels_.begin(), stored_levels_.end(), key.level);
  Image16 image;
  Result<Image16> stored_read = Status::not_found("");
  if (stored) stored_read = slide_.read(key);
  // A layer `vslide pyramid` has not finished yet lacks some planes: those
  // are computed like a layer that is not stored at all.
  if (stored && !(key.level > 0 && stored_read.status().code() == StatusCode::kNotFound)) {
    if (!stored_read.ok()) return stored_read.status();
    image = std::move(stored_read).value();
    local.bytes_decoded += image.byte_size();
  } else {
    // The nearest finer stored layer, downsampled the rest of the way.
    int32_t finer = 0;
    for (int32_t l : stored_levels_) {
      if (l < key.level) finer = l;
    }
    TileKey src = key;
    src.level = finer;
    auto r = slide_.read(src);
    if (!r.ok() && finer > 0 && r.status().code() == StatusCode::kNotFound) {
      src.level = finer = 0;
      r = slide_.read(src);
    }
    if (!r.ok()) return r.status().with_context("computing " + key.to_string());
    local.bytes_decoded += r->byte_size();
    image = downsample(r->view(), 1 << (key.level - finer));
    ++local.planes_computed;
  }
  ++local.planes_loaded;
  const size_t bytes = image.byte_size();
  tiles_.put(key, std::make_shared<const Image16>(std::move(image)), bytes);
  return Status();
}

}  // namespace vslide::view
