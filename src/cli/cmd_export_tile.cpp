// vslide export-tile: one stored plane, or a fused region of the mosaic, as
// a 16-bit TIFF.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "args.h"
#include "command.h"
#include "open_slide.h"
#include "vslide/core/placement.h"
#include "vslide/export/fusion.h"
#include "vslide/storage/tiff_io.h"

namespace vslide::cli {
namespace {

// Fields drawn into a region of at most this many pixels (a 16-bit TIFF of 1 GiB).
constexpr int64_t kMaxRegionPixels = int64_t(1) << 29;

bool parse_region(const std::string& s, std::array<double, 4>* r) {
  double x = 0, y = 0, w = 0, h = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%lf,%lf,%lf,%lf%c", &x, &y, &w, &h, &tail) != 4) return false;
  if (!std::isfinite(x) || !std::isfinite(y) || !(w > 0) || !(h > 0) || !std::isfinite(w) || !std::isfinite(h))
    return false;
  *r = {x, y, x + w, y + h};
  return true;
}

// The region fused from every field over it (MosaicFuser: linear feathering
// in overlaps, colour offsets and flat-field where stored), one output plane.
Result<Image16> fuse_region(const SlideSource& slide, const std::array<double, 4>& region, const TileKey& k,
                            PositionsMode positions, bool flatfield, bool* registered) {
  FusionOptions fo;
  fo.region_um = region;
  fo.channels = {k.channel};
  fo.levels = 1;
  fo.use_registration = positions == PositionsMode::kRegistered;
  fo.use_flatfield = flatfield;
  VSLIDE_ASSIGN_OR_RETURN(auto fuser, MosaicFuser::create(slide, fo));
  const FusionPlan& plan = fuser->plan();
  *registered = plan.registered;
  if (plan.width * plan.height > kMaxRegionPixels)
    return Status::invalid_argument("region of " + std::to_string(plan.width) + "x" + std::to_string(plan.height) +
                                    " pixels is larger than export-tile writes (2^29 pixels); use vslide export");
  if (k.z >= plan.z_planes || k.t >= plan.timepoints)
    return Status::invalid_argument(slide.describe() + ": no z " + std::to_string(k.z) + " t " + std::to_string(k.t));
  Image16 img(int32_t(plan.width), int32_t(plan.height));
  VSLIDE_RETURN_IF_ERROR(fuser->fuse_block(0, OutputPlane{0, k.z, k.t}, 0, 0, int32_t(plan.width),
                                           int32_t(plan.height), img.pixels()));
  return img;
}

int run_export(int argc, char** argv) {
  std::string path, out, region_arg, positions_arg, flatfield_arg = "on";
  TileKey k;
  k.row = k.col = k.channel = -1;
  ArgParser p("vslide export-tile SLIDE (--row R --col C | --region X,Y,W,H) --channel W [--z Z] [--t T] "
              "[--level L] [--positions stage|registered] --out tile.tif",
              "Writes one stored plane (--row, --col: the raw tile, as stored) or a region of the mosaic\n"
              "(--region, slide micrometres: every field over it placed at its registered position when\n"
              "the slide is registered, --positions stage for the stage's, blended linearly in the\n"
              "overlaps, colour offsets and flat-field applied where stored: docs/EXPORT.md) as a\n"
              "16-bit grayscale TIFF.");
  p.positional("SLIDE", "slide file or tcp://host:port/SLIDE_ID", &path);
  p.option("--row", "R", "mosaic row", &k.row);
  p.option("--col", "C", "mosaic column", &k.col);
  p.option("--region", "X,Y,W,H", "region in slide micrometres (top-left corner and size)", &region_arg);
  p.option("--positions", "MODE", "with --region: registered (default; the stage's when not registered) or stage",
           &positions_arg);
  p.option("--flatfield", "on|off", "with --region: shading correction where stored (default on)", &flatfield_arg);
  p.option("--channel", "W", "colour channel", &k.channel);
  p.option("--z", "Z", "z plane (default 0)", &k.z);
  p.option("--t", "T", "time point (default 0)", &k.t);
  p.option("--level", "L", "zoom level of a stored plane (default 0: raw)", &k.level);
  p.option("--out", "FILE", "TIFF file to write", &out);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  const bool region = !region_arg.empty();
  std::array<double, 4> r{};
  if (region) {
    if (k.row >= 0 || k.col >= 0) return p.usage_error("--region and --row/--col exclude each other");
    if (!parse_region(region_arg, &r)) return p.usage_error("--region: expected X,Y,W,H in micrometres, W and H > 0");
    if (k.level != 0) return p.usage_error("--region is fused at level 0; --level applies to a stored plane");
  } else {
    if (k.row < 0 || k.col < 0) return p.usage_error("--row and --col (or --region) are required");
    if (!positions_arg.empty()) return p.usage_error("--positions applies to --region only");
  }
  if (k.channel < 0) return p.usage_error("--channel is required");
  if (k.z < 0 || k.t < 0) return p.usage_error("--z and --t must not be negative");
  PositionsMode positions = PositionsMode::kRegistered;
  if (!positions_arg.empty()) {
    auto m = parse_positions_mode(positions_arg);
    if (!m.ok()) return p.usage_error("--positions: " + m.status().message());
    positions = *m;
  }
  if (flatfield_arg != "on" && flatfield_arg != "off") return p.usage_error("--flatfield: expected on or off");
  if (out.empty()) return p.usage_error("--out is required");
  if (same_file(path, out)) return p.usage_error("--out " + out + " is the slide itself; refusing to overwrite it");

  auto slide = open_slide(path);
  if (!slide.ok()) {
    std::cerr << "vslide export-tile: " << slide.status().to_string() << "\n";
    return 1;
  }
  bool registered = false;
  auto img = region ? fuse_region(**slide, r, k, positions, flatfield_arg == "on", &registered) : (*slide)->read(k);
  if (!img.ok()) {
    std::cerr << "vslide export-tile: " << img.status().to_string() << "\n";
    return 1;
  }
  if (Status s = write_then_rename(out, [&](const std::string& tmp) { return write_tiff16(tmp, *img); }); !s.ok()) {
    std::cerr << "vslide export-tile: " << s.to_string() << "\n";
    return 1;
  }
  if (region) {
    std::cout << "wrote " << out << " (" << img->width() << "x" << img->height() << ", region " << region_arg
              << " um, channel " << k.channel << ", " << (registered ? "registered" : "stage") << " positions)\n";
  } else {
    std::cout << "wrote " << out << " (" << img->width() << "x" << img->height() << ", tile " << k.to_string()
              << ")\n";
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("export-tile", "write one stored plane or a fused region as a 16-bit TIFF",
               vslide::cli::run_export);
