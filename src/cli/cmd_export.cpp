// vslide export: the fused mosaic of a slide (or a region) as a
// multi-resolution OME-TIFF or OME-Zarr 0.5 pyramid, 16-bit, every channel,
// z plane and time point (docs/EXPORT.md).
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "command.h"
#include "open_slide.h"
#include "progress.h"
#include "vslide/export/export.h"

namespace vslide::cli {
namespace {

int fail(const std::string& message) {
  std::cerr << "vslide export: " << message << "\n";
  return 1;
}

// "a,b,c,..." -> numbers; false when malformed.
template <typename T>
bool parse_list(const std::string& text, std::vector<T>* out) {
  out->clear();
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t used = 0;
      const double v = std::stod(part, &used);
      if (used != part.size()) return false;
      out->push_back(T(v));
      if (double(out->back()) != v) return false;
    } catch (...) {
      return false;
    }
  }
  return !out->empty();
}

// True when `out` would land on the slide file itself.
bool same_file(const std::string& slide, const std::string& out) {
  std::error_code ec;
  return std::filesystem::exists(out, ec) && std::filesystem::equivalent(slide, out, ec);
}

int run_export(int argc, char** argv) {
  std::string slide_path, out, format = "ome-tiff", region, channels, compression;
  int levels = 0, tile = 512, shard = 0, threads = 0;
  int64_t memory_mb = 1024;
  bool overwrite = false, resume = false, json = false, no_registration = false, no_flatfield = false, no_zoom = false;
  ArgParser p(
      "vslide export SLIDE OUT --format ome-tiff|ome-zarr [--region-um X0,Y0,X1,Y1] [--channels 0,2] "
      "[--levels N] [--tile 512] [--threads N] [--memory-mb 1024] [--overwrite] [--resume] [--json]",
      "Writes the fused mosaic of a slide (file or tcp:// URL) as a multi-resolution 16-bit pyramid: a tiled "
      "BigTIFF with OME-XML and SubIFD levels (Fiji/Bio-Formats, QuPath) or an OME-Zarr 0.5 group with "
      "sharded Zarr v3 arrays (napari, Neuroglancer, Viv). Registered positions and shading correction are "
      "used where the slide stores them; overlaps are blended by linear feathering. Output goes to "
      "OUT.partial and is renamed to OUT when complete.");
  p.positional("SLIDE", "slide file or tcp:// URL", &slide_path);
  p.positional("OUT", "output file (.ome.tif) or folder (.ome.zarr)", &out);
  p.option("--format", "F", "ome-tiff (default) or ome-zarr", &format);
  p.option("--region-um", "X0,Y0,X1,Y1", "export this slide region (micrometres; default: every field)", &region);
  p.option("--channels", "C,C,...", "channels to export, in this order (default: all)", &channels);
  p.option("--levels", "N", "pyramid levels (default: halve until the image fits in one tile)", &levels);
  p.option("--tile", "PX", "TIFF tile / Zarr inner chunk edge, multiple of 16 (default 512)", &tile);
  p.option("--shard", "PX", "Zarr shard edge, a multiple of --tile (default: from --memory-mb, up to 4 tiles)",
           &shard);
  p.option("--compression", "C", "ome-tiff: deflate (default) or none; ome-zarr: blosc (lz4, bit-shuffle; "
           "default), blosc-zstd or zstd", &compression);
  p.option("--threads", "N", "fusion workers (default: one per core)", &threads);
  p.option("--memory-mb", "MB",
           "bound on the process's anonymous memory (heap): what it holds already, plane cache, blocks in flight "
           "(default 1024; docs/EXPORT.md)", &memory_mb);
  p.flag("--no-registration", "place fields at their stage positions even when the slide is registered",
         &no_registration);
  p.flag("--no-flatfield", "skip the stored shading correction", &no_flatfield);
  p.flag("--no-zoom-layers", "downsample raw planes even where the slide stores zoom layers", &no_zoom);
  p.flag("--overwrite", "replace OUT when it exists", &overwrite);
  p.flag("--resume", "ome-zarr: continue the interrupted export in OUT.partial (same options), keeping its "
         "finished shards", &resume);
  p.flag("--json", "print the report as JSON (no progress bar)", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;

  ExportOptions o;
  auto fmt = parse_export_format(format);
  if (!fmt.ok()) return p.usage_error("--format: " + fmt.status().message());
  o.format = *fmt;
  if (!region.empty()) {
    std::vector<double> r;
    if (!parse_list(region, &r) || r.size() != 4 || !(r[2] > r[0]) || !(r[3] > r[1])) {
      return p.usage_error("--region-um expects X0,Y0,X1,Y1 with X1 > X0 and Y1 > Y0");
    }
    o.fusion.region_um = std::array<double, 4>{r[0], r[1], r[2], r[3]};
  }
  if (!channels.empty() && !parse_list(channels, &o.fusion.channels)) {
    return p.usage_error("--channels expects channel numbers, e.g. 0,2");
  }
  if (levels < 0) return p.usage_error("--levels must be positive");
  if (memory_mb < 64) return p.usage_error("--memory-mb must be at least 64");
  o.fusion.levels = levels;
  o.fusion.fit_size = tile;
  o.fusion.use_registration = !no_registration;
  o.fusion.use_flatfield = !no_flatfield;
  o.fusion.use_zoom_layers = !no_zoom;
  o.tile = tile;
  o.shard = shard;
  o.threads = threads;
  o.memory_bytes = size_t(memory_mb) << 20;
  o.compression = compression;
  o.overwrite = overwrite;
  o.resume = resume;
  if (same_file(slide_path, out) || same_file(slide_path, out + ".partial")) {
    return fail(out + " is the input slide: refusing to write over it");
  }

  auto slide = open_slide(slide_path);
  if (!slide.ok()) return fail(slide.status().to_string());
  // The bar starts with the first block, when the plan (and so the total) is known.
  std::unique_ptr<ProgressBar> bar;
  std::mutex bar_mu;
  o.progress = [&](uint64_t done, uint64_t total) {
    std::lock_guard lock(bar_mu);
    if (!bar) bar = std::make_unique<ProgressBar>("export " + std::filesystem::path(out).filename().string(), total, !json);
    bar->update(done);
  };
  auto report = export_slide(**slide, out, o);
  if (bar) bar->finish();
  if (!report.ok()) return fail(report.status().to_string());
  const ExportReport& r = *report;
  const FusionPlan& plan = r.plan;
  const double mbps = r.seconds > 0 ? double(r.level0_bytes) / 1e6 / r.seconds : 0;
  if (json) {
    nlohmann::json j = {{"path", r.path},
                        {"format", std::string(export_format_name(r.format))},
                        {"compression", r.compression},
                        {"width", plan.width},
                        {"height", plan.height},
                        {"levels", plan.levels},
                        {"channels", plan.channels},
                        {"z_planes", plan.z_planes},
                        {"timepoints", plan.timepoints},
                        {"origin_um", {plan.origin_x_um, plan.origin_y_um}},
                        {"pixel_size_um", plan.pixel_size_um},
                        {"registered", plan.registered},
                        {"planes_placed_apart", plan.planes_placed_apart},
                        {"flatfield", plan.flatfield},
                        {"fields", plan.fields},
                        {"tile", r.tile},
                        {"block", r.block},
                        {"threads", r.threads},
                        {"blocks", r.blocks},
                        {"blocks_resumed", r.blocks_resumed},
                        {"level0_bytes", r.level0_bytes},
                        {"pixel_bytes", r.pixel_bytes},
                        {"file_bytes", r.file_bytes},
                        {"planes_decoded", r.planes_decoded},
                        {"planes_reused", r.planes_reused},
                        {"memory_mb",
                         {{"budget", double(r.memory.budget) / 1048576},
                          {"base", double(r.memory.base) / 1048576},
                          {"fixed", double(r.memory.fixed) / 1048576},
                          {"per_worker", double(r.memory.per_worker) / 1048576},
                          {"cache", double(r.memory.cache) / 1048576},
                          {"planned", double(r.memory.planned) / 1048576}}},
                        {"seconds", r.seconds},
                        {"level0_mb_per_s", mbps}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << r.path << ": " << export_format_name(r.format) << " (" << r.compression << "), " << plan.width
              << " x " << plan.height << " px, " << plan.levels << " levels, " << plan.channels.size()
              << " channels x " << plan.z_planes << " z x " << plan.timepoints << " t; "
              << (plan.registered ? "registered" : "stage") << " positions of " << plan.fields << " fields"
              << (plan.planes_placed_apart > 0
                      ? " (" + std::to_string(plan.planes_placed_apart) + " z/t planes placed apart)"
                      : std::string())
              << "\n"
              << "  " << r.level0_bytes / 1e6 << " MB of level-0 pixels in " << r.seconds << " s (" << mbps
              << " MB/s), " << r.file_bytes / 1e6 << " MB on disk, " << r.threads << " threads, blocks of "
              << r.block << " px\n";
  }
  return 0;
}

}  // namespace

VSLIDE_COMMAND("export", "fused mosaic as an OME-TIFF or OME-Zarr pyramid (Fiji, QuPath, napari)", run_export);

}  // namespace vslide::cli
