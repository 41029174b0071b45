// vslide register: registered positions of every field, colour offsets and
// the stage calibration, stored in the slide beside the stage positions.
#include <cstdio>
#include <iostream>

#include "args.h"
#include "command.h"
#include "open_slide.h"
#include "progress.h"
#include "vslide/register/register.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {
namespace {

bool is_url(const std::string& path) { return path.rfind("tcp://", 0) == 0 || path.rfind("ipc://", 0) == 0; }

// Stores the result in the slide file: only /registration changes (raw planes
// and stage positions are untouched), so the file is opened in place rather
// than copied.
Status store(const std::string& path, const Registration& reg) {
  auto w = Hdf5Slide::open(path, OpenMode::kAppend);
  if (!w.ok()) return w.status();
  VSLIDE_RETURN_IF_ERROR((*w)->write_registration(reg));
  return (*w)->flush();
}

void print_human(const RegisterResult& r, const std::string& path, bool stored, const Status& store_status) {
  size_t accepted = 0, measured = 0;
  for (const auto& p : r.pairs) {
    accepted += p.accepted;
    measured += p.measured;
  }
  std::printf("%s: %d of %d fields registered; %zu of %zu neighbour pairs accepted (%zu measured, %d reused), "
              "NCC threshold %.3f from %zu non-overlapping pairs\n",
              path.c_str(), r.fields_measured, r.fields, accepted, r.pairs.size(), measured, r.pairs_reused,
              r.threshold, r.null_scores.size());
  const auto& c = r.calibration;
  if (c.fitted) {
    std::printf("stage calibration: rotation %.4f deg, shear %.4f deg, scale %.5f x %.5f, pixel size %.5f um, "
                "residual %.2f px RMS over %d fields\n",
                c.rotation_deg, c.shear_deg, c.scale_x, c.scale_y, c.pixel_size_um, c.rms_px, c.fields_used);
  } else {
    std::printf("stage calibration: not fitted (%s)\n", c.why.c_str());
  }
  for (const auto& o : r.registration.channel_offsets) {
    if (o.channel == r.registration.reference_channel) continue;
    std::printf("channel %d vs %d: offset %+.3f, %+.3f px, scale %.5f (score %.2f)\n", o.channel,
                r.registration.reference_channel, o.dx_px, o.dy_px, o.scale, o.score);
  }
  for (const auto& why : r.colour_issues) std::printf("colour: %s\n", why.c_str());
  const size_t shown = std::min<size_t>(r.unmeasured.size(), 20);
  for (size_t i = 0; i < shown; ++i) {
    std::printf("field (%d,%d) not measured: %s\n", r.unmeasured[i].row, r.unmeasured[i].col,
                r.unmeasured[i].why.c_str());
  }
  if (shown < r.unmeasured.size()) {
    std::printf("... %zu more fields not measured (--json lists them all)\n", r.unmeasured.size() - shown);
  }
  std::printf("time: %.2f s wall; summed over threads: read %.2f s, FFT %.2f s, refinement %.2f s; solve %.3f s, "
              "colour %.2f s\n",
              r.wall_s, r.read_s, r.fft_s, r.refine_s, r.solve_s, r.colour_s);
  if (stored) {
    std::printf("stored in %s (/registration); stage positions and raw planes unchanged\n", path.c_str());
  } else if (!store_status.ok()) {
    std::printf("NOT stored: %s\n", store_status.to_string().c_str());
  }
}

int run_register(int argc, char** argv) {
  std::string path;
  int channel = 0, z = 0, t = 0, threads = 0, null_pairs = 96, colour_fields = 12;
  double min_score = 0.05, max_residual = 2.0;
  bool json = false, no_colour = false, colour_scale = false, dry_run = false, fresh = false, all_planes = false;
  double plane_tolerance = 0.25;
  ArgParser p("vslide register SLIDE [--channel C] [--json]",
              "Registers the fields of view from their overlaps: the shift of every pair of neighbours by phase\n"
              "correlation of the overlap strips with sub-pixel refinement and an NCC score; pairs below a\n"
              "threshold learnt from non-overlapping pairs are rejected; one weighted least-squares solution\n"
              "places every field (the stage position is a weak prior, so fields that cannot be measured keep\n"
              "it). Also measures each channel's offset against channel C and fits the stage-to-mosaic affine\n"
              "(rotation, shear, pixel size). Stores the result in the slide (/registration); stage positions\n"
              "and raw planes are never changed. A slide still scanning registers what has landed; a later\n"
              "run reuses the pairs already measured. Fields that could not be measured are listed with why.\n"
              "See docs/REGISTRATION.md.");
  p.positional("SLIDE", "slide file (or tcp://host:port/SLIDE_ID: measured, not stored)", &path);
  p.option("--channel", "C", "channel to register on, also the colour reference (default 0)", &channel, 0, 1023);
  p.option("--z", "Z", "z plane (default 0)", &z, 0, 65535);
  p.option("--t", "T", "time point (default 0)", &t, 0, 65535);
  p.option("--threads", "N", "worker threads (default: one per core)", &threads, 0, 1024);
  p.option("--min-score", "S", "floor under the learnt NCC threshold (default 0.05)", &min_score, -1.0, 1.0);
  p.option("--null-pairs", "N", "non-overlapping pairs that learn the threshold (default 96)", &null_pairs, 0,
           100000);
  p.option("--max-residual", "PX", "drop pairs the global solution contradicts by more (default 2 px)",
           &max_residual, 0.01, 1e6);
  p.option("--colour-fields", "N", "fields sampled for colour registration (default 12)", &colour_fields, 1, 100000);
  p.flag("--no-colour", "skip colour registration", &no_colour);
  p.flag("--colour-scale", "also fit each channel's magnification against the reference", &colour_scale);
  p.flag("--all-planes",
         "also register every other z plane and time point; store a field's position per plane where it\n"
         "differs from the --z/--t plane's by more than --plane-tolerance (a stage that revisits fields)",
         &all_planes);
  p.option("--plane-tolerance", "PX", "with --all-planes: smallest difference stored per plane (default 0.25 px)",
           &plane_tolerance, 0.0, 1e6);
  p.flag("--fresh", "measure every pair again instead of reusing a stored registration's pairs", &fresh);
  p.flag("--dry-run", "measure and report, do not store", &dry_run);
  p.flag("--json", "print the whole report as one JSON object", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;

  RegisterOptions o;
  o.channel = channel;
  o.z = z;
  o.t = t;
  o.threads = unsigned(threads);
  o.min_score = min_score;
  o.null_pairs = null_pairs;
  o.max_residual_px = max_residual;
  o.colour = !no_colour;
  o.colour_scale = colour_scale;
  o.colour_fields = colour_fields;
  Result<RegisterResult> result = Status::internal("not run");
  nlohmann::json planes_summary = nlohmann::json::array();
  bool scanning = false;
  {
    auto slide = open_slide(path);
    if (!slide.ok()) {
      std::cerr << "vslide register: " << slide.status().to_string() << "\n";
      return 1;
    }
    if (!fresh) {
      if (auto prev = (*slide)->read_registration();
          prev.ok() && prev->reference_channel == channel && prev->reference_z == z && prev->reference_t == t) {
        o.previous_pairs = pairs_from_report(prev->report_json);
        o.previous_null_scores = null_scores_from_report(prev->report_json);
      }
    }
    ProgressBar bar("register", (*slide)->index()->field_count(), !json);
    o.progress = [&bar](uint64_t done, uint64_t) { bar.update(done); };
    result = register_slide(**slide, o);
    scanning = (*slide)->state() == SlideState::kScanning;
    bar.finish();
    if (result.ok()) {
      result->registration.reference_z = z;
      result->registration.reference_t = t;
    }
    if (result.ok() && all_planes) {
      RegisterOptions po = o;
      po.progress = nullptr;
      if (Status s = register_other_planes(**slide, po, plane_tolerance, &*result, &planes_summary); !s.ok())
        result = s;
    }
  }
  if (!result.ok()) {
    std::cerr << "vslide register: " << result.status().to_string() << "\n";
    return result.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  bool stored = false;
  Status store_status;
  if (dry_run) {
    store_status = Status::failed_precondition("--dry-run");
  } else if (is_url(path)) {
    store_status = Status::failed_precondition("a served slide is measured, not changed: run on the file to store");
  } else {
    store_status = store(path, result->registration);
    stored = store_status.ok();
    if (!stored && scanning) {
      // The scanner holds the file: what has landed is measured and reported;
      // run again once the scan is finished to store it.
      store_status = store_status.with_context("the slide is still being scanned; run vslide register again when "
                                               "it is finished to store the registration");
    }
  }
  if (json) {
    nlohmann::json j = result->report();
    j["path"] = path;
    j["stored"] = stored;
    if (all_planes) {
      j["planes"] = planes_summary;
      j["plane_placements"] = result->registration.plane_fields.size();
    }
    if (!stored) j["not_stored_because"] = store_status.to_string();
    std::cout << j.dump(2) << "\n";
  } else {
    print_human(*result, path, stored, store_status);
    for (const auto& pl : planes_summary) {
      std::printf("plane z %d t %d: %d fields measured, %d placed apart from z %d t %d (largest %.2f px)\n",
                  pl["z"].get<int>(), pl["t"].get<int>(), pl["fields_measured"].get<int>(),
                  pl["fields_moved"].get<int>(), z, t, pl["largest_move_px"].get<double>());
    }
  }
  // Not storing on request, for a served slide or while the scanner holds the
  // file is no failure; a store that failed otherwise is.
  return stored || dry_run || is_url(path) || scanning ? 0 : 1;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("register", "register fields from their overlaps (positions, colour offsets, calibration)",
               vslide::cli::run_register);
