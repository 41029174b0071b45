// Registration of a slide's fields of view from their overlaps (part `register`).
//
// Method (docs/REGISTRATION.md): for every pair of neighbouring fields the
// overlap strips predicted by the stage are phase-correlated (FFTW, Hann
// window, on strips binned to ~64 px across) for the integer shift, then
// refined at full resolution by a symmetric Lucas-Kanade step on high-passed
// strips; the normalised cross-correlation (NCC) of the aligned strips is the
// pair's score. Pairs scoring below a threshold learnt from the slide (the
// 99th percentile of the same score on pairs of fields that do NOT overlap,
// as ASHLAR does) are rejected. One weighted least-squares solution then
// places every field: accepted pairs tie fields together, the stage
// positions (mapped through the fitted stage-to-mosaic affine) are a weak
// prior, so textureless fields and isolated groups stay where the stage put
// them. Colour registration: per-channel offset (optionally scale) against a
// reference channel, from phase correlation of the same field's colours.
//
// Reads only through SlideSource, so a served slide registers the same way.
// Raw planes and stage positions are never changed.
//
// Thread-safety: register_slide runs its own worker threads; the options'
// progress callback is called from them (serialised).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vslide/core/registration.h"
#include "vslide/core/slide_source.h"
#include "vslide/core/status.h"

namespace vslide {

// The measurement of one pair of neighbouring fields (b is right of or below a).
struct PairMeasurement {
  int32_t row_a = 0, col_a = 0, row_b = 0, col_b = 0;
  // Measured displacement of b's top-left pixel from a's, in pixels
  // (valid when `measured`); stage_dx/dy_px: what the stage said.
  double dx_px = 0, dy_px = 0;
  double stage_dx_px = 0, stage_dy_px = 0;
  double score = 0;      // NCC of the aligned overlaps, -1..1
  bool measured = false;  // a shift was found (even if then rejected)
  bool accepted = false;  // used by the global solution
  double residual_px = 0;  // |solution - measurement| for accepted pairs
  std::string why;       // why not measured / not accepted ("" when accepted)
};

// Stage-to-mosaic affine: mosaic_px = A * stage_px + t, stage_px = stage_um / pixel_size.
struct StageCalibration {
  bool fitted = false;
  std::string why;  // when not fitted
  double a11 = 1, a12 = 0, a21 = 0, a22 = 1, tx_px = 0, ty_px = 0;
  double rotation_deg = 0;  // camera rotation vs the stage x axis
  double shear_deg = 0;     // departure of the stage axes from orthogonal
  double scale_x = 1, scale_y = 1;  // mosaic px per nominal stage px along each stage axis
  double pixel_size_um = 0;         // calibrated: nominal / mean scale
  double rms_px = 0;                // RMS of registered positions about the affine
  int32_t fields_used = 0;
};

struct FieldIssue {
  int32_t row = 0, col = 0;
  std::string why;
};

struct RegisterOptions {
  int32_t channel = 0;  // channel the fields are registered on (also the colour reference)
  int32_t z = 0, t = 0;
  unsigned threads = 0;  // 0 = one per core
  // Floor under the learnt NCC threshold, and how many non-overlapping pairs learn it.
  double min_score = 0.05;
  int32_t null_pairs = 96;
  // Accepted pairs whose residual after the solution exceeds this are dropped
  // and the solution is run again (repetitive texture, a wrong peak).
  double max_residual_px = 2.0;
  // Colour registration of the other channels against `channel`.
  bool colour = true;
  bool colour_scale = false;  // also fit a per-channel magnification
  int32_t colour_fields = 12; // fields sampled for colour registration
  // Pairs already measured (a previous run's report, for a slide still
  // scanning): their measurement is reused when both fields are unchanged.
  std::vector<PairMeasurement> previous_pairs;
  std::vector<double> previous_null_scores;
  // Progress: called with (done, total) work items.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct RegisterResult {
  Registration registration;  // ready for SlideWriter::write_registration
  std::vector<PairMeasurement> pairs;
  std::vector<double> null_scores;  // scores of non-overlapping pairs
  double threshold = 0;             // NCC threshold used
  StageCalibration calibration;
  std::vector<FieldIssue> unmeasured;  // fields left at their (calibrated) stage position, and why
  std::vector<std::string> colour_issues;  // channels whose offset could not be measured, and why
  int32_t fields = 0, fields_measured = 0, pairs_reused = 0;
  // CPU seconds (summed over threads) reading/decoding fields, in FFTs and
  // in the sub-pixel refinement; wall seconds of the whole run.
  double read_s = 0, fft_s = 0, refine_s = 0, solve_s = 0, colour_s = 0, wall_s = 0;
  // Wall seconds inside the reads, summed over threads: above read_s by the
  // time spent waiting (for the disk, or for a core on a busy machine).
  double read_wall_s = 0;
  // The whole report (what Registration::report_json holds).
  nlohmann::json report() const;
};

// Registers every field present with the chosen plane. InvalidArgument for a
// channel/z/t outside the slide; a slide with fewer than two fields, no
// overlap or no texture is not an error: every field keeps its stage
// position and `unmeasured` says why.
Result<RegisterResult> register_slide(const SlideSource& slide, const RegisterOptions& options);

// Registration of the slide's other (z, t) planes against `reference` (a
// register_slide result for options.z/t): each plane is registered on its
// own (options' channel, no colour registration), and a field whose position
// there differs from the reference by more than `tolerance_px` gets a
// PlanePlacement in reference->registration.plane_fields (sorted); planes
// where nothing moved add nothing. A plane whose fields cannot be measured
// keeps the reference positions (never invented). `summary` (optional)
// receives one JSON object per plane: z, t, fields measured, fields moved,
// largest move in pixels. InvalidArgument as register_slide.
Status register_other_planes(const SlideSource& slide, const RegisterOptions& options, double tolerance_px,
                             RegisterResult* reference, nlohmann::json* summary = nullptr);

// Pairs stored in a registration's report_json (for RegisterOptions::previous_pairs).
std::vector<PairMeasurement> pairs_from_report(const std::string& report_json);
std::vector<double> null_scores_from_report(const std::string& report_json);

void to_json(nlohmann::json& j, const PairMeasurement& p);
void to_json(nlohmann::json& j, const StageCalibration& c);

}  // namespace vslide
