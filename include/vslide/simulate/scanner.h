// SyntheticScanner: a simulated slide scanner with a procedurally generated
// specimen and a known ground truth.
//
// The specimen lives in slide coordinates (micrometres) and is evaluated
// lazily, one field of view at a time: nothing slide-sized is ever held in
// memory. Nuclei sit on a hashed grid of cells (each cell's content comes
// from hash(seed, cell)), so any region can be generated on demand and the
// overlapping parts of neighbouring tiles show the same specimen.
//
// Frames. The slide frame is the camera frame: tile pixels are axis aligned
// in it. The stage axes are rotated by `shear_deg` against the camera, so a
// field the stage reports at (c * step_x, r * step_y) truly lies at
// R(shear) * (c * step_x, r * step_y) + jitter: placed by reported positions
// the mosaic is sheared; the truth (field_truth) is what registration should
// recover. A field's position is that of its tile's top-left pixel corner.
//
// Content per channel: 0 DAPI-like nuclei with bright chromocentres; 1 a
// cytoplasm marker around each nucleus (dimmer inside the nucleus); 2 sparse
// nuclear foci; 3+ alternate between a membrane-like ring and a nuclear
// marker present in a subset of cells. A few sub-micron beads show in every
// channel. Per-colour offsets shift each channel by a fixed sub-pixel/pixel
// amount. Illumination falls off towards the tile corners (vignetting);
// Poisson noise (normal approximation) plus read noise over a dark offset;
// values clamp to 12 bits (0..4095).
//
// z planes: plane k sits at (k - (Z-1)/2) * z_step_um from focus; blur grows
// with the distance. Time points: the specimen drifts slightly and bleaches.
//
// Thread-safety: immutable after construction; every method is const and
// safe to call from many threads at once. Rendering is deterministic for
// (config, key): the same key always gives the same pixels.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "vslide/core/image.h"
#include "vslide/core/slide_header.h"
#include "vslide/core/tile.h"

namespace vslide {

struct ScanConfig {
  int32_t rows = 6, cols = 8, channels = 3, z_planes = 1, timepoints = 1;
  int32_t tile_width = 2560, tile_height = 2160;
  double overlap = 0.1;           // fraction of the tile overlapping its neighbour
  double stage_jitter_um = 1.5;   // sd of stage position error
  double shear_deg = 0.3;         // camera rotation vs stage axes (sheared mosaic)
  double sparse = 0.0;            // fraction of fields skipped (sparse mosaic), never all
  double pixel_size_um = 0.1625;  // 6.5 um camera pixel at 40x
  double z_step_um = 1.0;
  uint64_t seed = 7;
};

// Checks a config: positive sizes, overlap in [0, 0.9], sparse in [0, 1],
// non-negative jitter, positive pixel size. Returns InvalidArgument naming
// the bad field.
Status validate(const ScanConfig& config);

struct FieldTruth {
  int32_t row, col;
  double true_x_um, true_y_um;          // where the tile's top-left pixel really was
  double reported_x_um, reported_y_um;  // what the stage reported
};

struct NucleusTruth {
  int64_t id;                 // unique per nucleus on the slide (derived from its cell)
  double x_um, y_um;          // centre in slide coordinates (at t = 0)
  double radius_um;           // geometric mean of the semi-axes
  double major_um = 0, minor_um = 0, angle_rad = 0;  // the ellipse itself
};

class SyntheticScanner {
 public:
  // REQUIRES: validate(config).ok(); an invalid config is clamped to the
  // nearest valid one (sizes at least 1, fractions into range).
  explicit SyntheticScanner(const ScanConfig& config);

  const ScanConfig& config() const { return config_; }
  const MosaicGeometry& geometry() const { return geometry_; }
  // slide_id derived from the seed and the config; name, date, instrument
  // "vslide simulator", objective "40x/0.95", pixel size; the config in attributes.
  SlideHeader header() const;
  // default_channels(n) with contrast windows suited to the simulated content.
  std::vector<ChannelInfo> channels() const;

  // Acquisition (serpentine) order, sparse fields omitted. stage_* = what the
  // stage REPORTED; acquired_unix_s advances with the scan.
  const std::vector<FieldOfView>& fields() const { return fields_; }
  // Same order as fields(): true and reported positions.
  const std::vector<FieldTruth>& field_truth() const { return truth_; }
  // True position of any (row, col) of the grid, skipped fields included.
  FieldTruth truth_at(int32_t row, int32_t col) const;

  // Fixed per-colour shift of channel w, in pixels (channel 0 is unshifted).
  void channel_offset_px(int32_t channel, double* dx, double* dy) const;
  // Specimen drift at time point t in micrometres (0 at t = 0).
  void drift_um(int32_t t, double* dx, double* dy) const;
  // The sensor model's ground truth, for shading tests: the relative
  // illumination (1 at the centre) of tile pixel (x, y), whose centre lies at
  // (x + 0.5, y + 0.5), and the camera's dark offset in counts.
  double illumination(int32_t x_px, int32_t y_px) const;
  static double dark_counts();

  // Nuclei whose centres lie in [x0, x1) x [y0, y1) (slide micrometres, t = 0),
  // ordered by id. Cost grows with the area, not with the slide.
  std::vector<NucleusTruth> nuclei_in(double x0_um, double y0_um, double x1_um, double y1_um) const;

  // Renders one colour plane of a field at level 0. REQUIRES:
  // geometry().contains(key) and key.level == 0; otherwise render() returns an
  // empty image and render_into() writes zeros. Fields skipped by `sparse`
  // still render (the specimen is there; the scan just did not visit it).
  Image16 render(const TileKey& key) const;
  // Same into caller-owned memory of tile_width * tile_height pixels.
  void render_into(const TileKey& key, uint16_t* out) const;

  // {"config":..., "fields":[...], "nuclei":[...]}: the whole truth of the
  // scanned area, for files and tests. Cost grows with the scanned area.
  nlohmann::json truth_json() const;

 private:
  ScanConfig config_;
  MosaicGeometry geometry_;
  std::vector<FieldOfView> fields_;
  std::vector<FieldTruth> truth_;
  std::vector<FieldTruth> grid_truth_;  // rows * cols, row-major, skipped fields included
};

void to_json(nlohmann::json& j, const ScanConfig& c);
void to_json(nlohmann::json& j, const FieldTruth& f);
void to_json(nlohmann::json& j, const NucleusTruth& n);

}  // namespace vslide
