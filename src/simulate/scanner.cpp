// The stage model (serpentine scan, overlap, jitter, camera rotation, sparse
// fields, per-colour offsets, z planes, drift) on top of the specimen.
#include "vslide/simulate/scanner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "render.h"
#include "specimen.h"

namespace vslide {
namespace {

constexpr double kPi = 3.141592653589793;
constexpr double kSecondsPerField = 0.35;
constexpr double kDriftXPerT = 0.35, kDriftYPerT = -0.2;  // um per time point
constexpr double kBleachPerT = 0.97;

ScanConfig clamped(ScanConfig c) {
  c.rows = std::max(1, c.rows);
  c.cols = std::max(1, c.cols);
  c.channels = std::max(1, c.channels);
  c.z_planes = std::max(1, c.z_planes);
  c.timepoints = std::max(1, c.timepoints);
  c.tile_width = std::max(1, c.tile_width);
  c.tile_height = std::max(1, c.tile_height);
  c.overlap = std::clamp(c.overlap, 0.0, 0.9);
  c.sparse = std::clamp(c.sparse, 0.0, 1.0);
  c.stage_jitter_um = std::max(0.0, c.stage_jitter_um);
  if (!(c.pixel_size_um > 0)) c.pixel_size_um = 0.1625;
  if (!(c.z_step_um >= 0)) c.z_step_um = 1.0;
  return c;
}

uint64_t config_hash(const ScanConfig& c) {
  uint64_t h = sim::mix64(c.seed);
  for (int64_t v : {int64_t(c.rows), int64_t(c.cols), int64_t(c.channels), int64_t(c.z_planes),
                    int64_t(c.timepoints), int64_t(c.tile_width), int64_t(c.tile_height),
                    int64_t(std::llround(c.overlap * 1e6)), int64_t(std::llround(c.stage_jitter_um * 1e6)),
                    int64_t(std::llround(c.shear_deg * 1e6)), int64_t(std::llround(c.sparse * 1e6)),
                    int64_t(std::llround(c.pixel_size_um * 1e9)), int64_t(std::llround(c.z_step_um * 1e6))})
    h = sim::hash_combine(h, uint64_t(v));
  return h;
}

// A fixed acquisition start per seed: 2026-01-01 09:00 UTC plus seed % 365 days.
double start_unix_s(uint64_t seed) { return 1767258000.0 + double(seed % 365) * 86400.0; }

std::string iso8601(double unix_s) {
  const std::time_t t = std::time_t(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Status validate(const ScanConfig& c) {
  auto bad = [](const std::string& what) { return Status::invalid_argument("scan config: " + what); };
  if (c.rows < 1 || c.cols < 1) return bad("rows and cols must be >= 1");
  if (c.channels < 1 || c.z_planes < 1 || c.timepoints < 1) return bad("channels, z planes and time points must be >= 1");
  if (c.tile_width < 1 || c.tile_height < 1) return bad("tile size must be positive");
  if (!(c.overlap >= 0 && c.overlap <= 0.9)) return bad("overlap must lie in [0, 0.9]");
  if (!(c.sparse >= 0 && c.sparse <= 1)) return bad("sparse must lie in [0, 1]");
  if (!(c.stage_jitter_um >= 0)) return bad("stage jitter must be >= 0");
  if (!(c.pixel_size_um > 0)) return bad("pixel size must be > 0");
  if (!(c.z_step_um >= 0)) return bad("z step must be >= 0");
  if (!std::isfinite(c.shear_deg) || std::abs(c.shear_deg) > 45) return bad("shear must lie in [-45, 45] degrees");
  return Status();
}

SyntheticScanner::SyntheticScanner(const ScanConfig& config) : config_(clamped(config)) {
  const ScanConfig& c = config_;
  geometry_.rows = c.rows;
  geometry_.cols = c.cols;
  geometry_.channels = c.channels;
  geometry_.z_planes = c.z_planes;
  geometry_.timepoints = c.timepoints;
  geometry_.tile_width = c.tile_width;
  geometry_.tile_height = c.tile_height;
  geometry_.pixel_size_um = c.pixel_size_um;

  // The stage steps along its own axes; the camera is rotated against them,
  // so in the camera (slide) frame the true grid is rotated, plus jitter.
  const double step_x = c.tile_width * (1 - c.overlap) * c.pixel_size_um;
  const double step_y = c.tile_height * (1 - c.overlap) * c.pixel_size_um;
  const double th = c.shear_deg * kPi / 180, ct = std::cos(th), st = std::sin(th);
  const uint64_t jitter_key = sim::hash_combine(c.seed, 0x6a697474ULL);
  grid_truth_.resize(size_t(c.rows) * size_t(c.cols));
  for (int32_t r = 0; r < c.rows; ++r) {
    for (int32_t col = 0; col < c.cols; ++col) {
      FieldTruth& f = grid_truth_[size_t(r) * size_t(c.cols) + size_t(col)];
      f.row = r;
      f.col = col;
      f.reported_x_um = col * step_x;
      f.reported_y_um = r * step_y;
      const uint64_t h = sim::hash_combine(sim::hash_combine(jitter_key, uint64_t(r)), uint64_t(col));
      const double jx = c.stage_jitter_um * sim::normal(sim::mix64(h + 1), sim::mix64(h + 2));
      const double jy = c.stage_jitter_um * sim::normal(sim::mix64(h + 3), sim::mix64(h + 4));
      f.true_x_um = ct * f.reported_x_um - st * f.reported_y_um + jx;
      f.true_y_um = st * f.reported_x_um + ct * f.reported_y_um + jy;
    }
  }

  // Sparse: skip exactly round(sparse * N) fields (never all), chosen by hash.
  const size_t n = grid_truth_.size();
  const size_t skip = std::min(n - 1, size_t(std::llround(c.sparse * double(n))));
  std::vector<bool> skipped(n, false);
  if (skip > 0) {
    std::vector<std::pair<uint64_t, size_t>> order(n);
    const uint64_t sparse_key = sim::hash_combine(c.seed, 0x73707273ULL);
    for (size_t i = 0; i < n; ++i) order[i] = {sim::hash_combine(sparse_key, i), i};
    std::sort(order.begin(), order.end());
    for (size_t i = 0; i < skip; ++i) skipped[order[i].second] = true;
  }

  const double t0 = start_unix_s(c.seed);
  for (int32_t r = 0; r < c.rows; ++r) {
    for (int32_t k = 0; k < c.cols; ++k) {
      const int32_t col = (r % 2 == 0) ? k : c.cols - 1 - k;  // serpentine
      const size_t i = size_t(r) * size_t(c.cols) + size_t(col);
      if (skipped[i]) continue;
      const FieldTruth& f = grid_truth_[i];
      FieldOfView fov;
      fov.row = r;
      fov.col = col;
      fov.stage_x_um = f.reported_x_um;
      fov.stage_y_um = f.reported_y_um;
      fov.stage_z_um = 0;
      fov.acquired_unix_s = t0 + kSecondsPerField * double(fields_.size());
      fields_.push_back(fov);
      truth_.push_back(f);
    }
  }
}

FieldTruth SyntheticScanner::truth_at(int32_t row, int32_t col) const {
  row = std::clamp(row, 0, config_.rows - 1);
  col = std::clamp(col, 0, config_.cols - 1);
  return grid_truth_[size_t(row) * size_t(config_.cols) + size_t(col)];
}

void SyntheticScanner::channel_offset_px(int32_t channel, double* dx, double* dy) const {
  static constexpr double kOffsets[][2] = {{0, 0}, {0.6, -0.35}, {-0.45, 0.8}, {1.1, 0.4}};
  if (channel >= 0 && channel < 4) {
    *dx = kOffsets[channel][0];
    *dy = kOffsets[channel][1];
    return;
  }
  const uint64_t h = sim::hash_combine(0xc0102ULL, uint64_t(channel));
  *dx = sim::uniform(sim::mix64(h + 1), -1.2, 1.2);
  *dy = sim::uniform(sim::mix64(h + 2), -1.2, 1.2);
}

double SyntheticScanner::illumination(int32_t x_px, int32_t y_px) const {
  return sim::illumination(x_px, y_px, config_.tile_width, config_.tile_height);
}
double SyntheticScanner::dark_counts() { return sim::dark_counts(); }

void SyntheticScanner::drift_um(int32_t t, double* dx, double* dy) const {
  *dx = kDriftXPerT * t;
  *dy = kDriftYPerT * t;
}

SlideHeader SyntheticScanner::header() const {
  const ScanConfig& c = config_;
  SlideHeader h;
  char id[32];
  std::snprintf(id, sizeof id, "vs-sim-%016llx", static_cast<unsigned long long>(config_hash(c)));
  h.slide_id = id;
  h.name = "simulated slide (seed " + std::to_string(c.seed) + ")";
  h.date = iso8601(start_unix_s(c.seed));
  h.assay = "synthetic nuclei / cytoplasm / foci";
  h.instrument = "vslide simulator";
  h.objective = "40x/0.95";
  h.magnification = 40;
  h.pixel_size_um = c.pixel_size_um;
  h.attributes["simulator.seed"] = std::to_string(c.seed);
  h.attributes["simulator.overlap"] = std::to_string(c.overlap);
  h.attributes["simulator.stage_jitter_um"] = std::to_string(c.stage_jitter_um);
  h.attributes["simulator.shear_deg"] = std::to_string(c.shear_deg);
  h.attributes["simulator.sparse"] = std::to_string(c.sparse);
  h.attributes["simulator.z_step_um"] = std::to_string(c.z_step_um);
  return h;
}

std::vector<ChannelInfo> SyntheticScanner::channels() const {
  std::vector<ChannelInfo> ch = default_channels(config_.channels);
  // Windows from the dark offset (~100 + autofluorescence) to bright content.
  static constexpr uint16_t kHigh[] = {1400, 450, 1200, 700};
  for (size_t i = 0; i < ch.size(); ++i) {
    ch[i].contrast_low = 130;
    ch[i].contrast_high = i < 4 ? kHigh[i] : 900;
  }
  return ch;
}

std::vector<NucleusTruth> SyntheticScanner::nuclei_in(double x0, double y0, double x1, double y1) const {
  std::vector<NucleusTruth> out;
  if (!(x1 > x0 && y1 > y0)) return out;
  const sim::Specimen specimen(config_.seed);
  specimen.for_each_nucleus(x0, y0, x1, y1, [&](const sim::Nucleus& n) {
    if (n.x_um >= x0 && n.x_um < x1 && n.y_um >= y0 && n.y_um < y1)
      out.push_back({n.id, n.x_um, n.y_um, n.radius_um(), n.a_um, n.b_um, n.angle_rad});
  });
  std::sort(out.begin(), out.end(), [](const NucleusTruth& a, const NucleusTruth& b) { return a.id < b.id; });
  return out;
}

Image16 SyntheticScanner::render(const TileKey& key) const {
  if (!geometry_.contains(key) || key.level != 0) return Image16();
  Image16 img(config_.tile_width, config_.tile_height);
  render_into(key, img.data());
  return img;
}

void SyntheticScanner::render_into(const TileKey& key, uint16_t* out) const {
  const size_t n = size_t(config_.tile_width) * size_t(config_.tile_height);
  if (!geometry_.contains(key) || key.level != 0) {
    std::fill(out, out + n, uint16_t(0));
    return;
  }
  const FieldTruth f = truth_at(key.row, key.col);
  double ox, oy, dx, dy;
  channel_offset_px(key.channel, &ox, &oy);
  drift_um(key.t, &dx, &dy);
  sim::PlaneSpec spec;
  spec.width = config_.tile_width;
  spec.height = config_.tile_height;
  spec.pixel_um = config_.pixel_size_um;
  // Pixel (u, v) sees specimen point origin + (u + 0.5, v + 0.5) * pixel; the
  // specimen drifting by +d makes the camera see the point that was at -d.
  spec.origin_x_um = f.true_x_um + ox * config_.pixel_size_um - dx;
  spec.origin_y_um = f.true_y_um + oy * config_.pixel_size_um - dy;
  spec.channel = key.channel;
  spec.defocus_um = (key.z - 0.5 * (config_.z_planes - 1)) * config_.z_step_um;
  spec.bleach = std::pow(kBleachPerT, key.t);
  uint64_t h = sim::hash_combine(config_.seed, 0x6e6f6973ULL);
  for (int32_t v : {key.row, key.col, key.channel, key.z, key.t}) h = sim::hash_combine(h, uint64_t(uint32_t(v)));
  spec.noise_key = h;
  render_plane(sim::Specimen(config_.seed), spec, out);
}

nlohmann::json SyntheticScanner::truth_json() const {
  nlohmann::json j;
  j["config"] = config_;
  j["fields"] = truth_;
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  const double w = config_.tile_width * config_.pixel_size_um, h = config_.tile_height * config_.pixel_size_um;
  for (const FieldTruth& f : truth_) {
    x0 = std::min(x0, f.true_x_um);
    y0 = std::min(y0, f.true_y_um);
    x1 = std::max(x1, f.true_x_um + w);
    y1 = std::max(y1, f.true_y_um + h);
  }
  j["nuclei"] = nuclei_in(x0, y0, x1, y1);
  return j;
}

void to_json(nlohmann::json& j, const ScanConfig& c) {
  j = {{"rows", c.rows}, {"cols", c.cols}, {"channels", c.channels}, {"z_planes", c.z_planes},
       {"timepoints", c.timepoints}, {"tile_width", c.tile_width}, {"tile_height", c.tile_height},
       {"overlap", c.overlap}, {"stage_jitter_um", c.stage_jitter_um}, {"shear_deg", c.shear_deg},
       {"sparse", c.sparse}, {"pixel_size_um", c.pixel_size_um}, {"z_step_um", c.z_step_um},
       {"seed", c.seed}};
}

void to_json(nlohmann::json& j, const FieldTruth& f) {
  j = {{"row", f.row}, {"col", f.col}, {"true_x_um", f.true_x_um}, {"true_y_um", f.true_y_um},
       {"reported_x_um", f.reported_x_um}, {"reported_y_um", f.reported_y_um}};
}

void to_json(nlohmann::json& j, const NucleusTruth& n) {
  j = {{"id", n.id}, {"x_um", n.x_um}, {"y_um", n.y_um}, {"radius_um", n.radius_um},
       {"major_um", n.major_um}, {"minor_um", n.minor_um}, {"angle_rad", n.angle_rad}};
}

}  // namespace vslide
