// vslide export-tile: one plane as a 16-bit TIFF.
#include <iostream>

#include "args.h"
#include "command.h"
#include "open_slide.h"
#include "vslide/storage/tiff_io.h"

namespace vslide::cli {
namespace {

int run_export(int argc, char** argv) {
  std::string path, out;
  TileKey k;
  k.row = k.col = k.channel = -1;
  ArgParser p("vslide export-tile SLIDE --row R --col C --channel W [--z Z] [--t T] [--level L] --out tile.tif",
              "Writes one stored plane as a 16-bit grayscale TIFF.");
  p.positional("SLIDE", "slide file or tcp://host:port/SLIDE_ID", &path);
  p.option("--row", "R", "mosaic row", &k.row);
  p.option("--col", "C", "mosaic column", &k.col);
  p.option("--channel", "W", "colour channel", &k.channel);
  p.option("--z", "Z", "z plane (default 0)", &k.z);
  p.option("--t", "T", "time point (default 0)", &k.t);
  p.option("--level", "L", "zoom level (default 0: raw)", &k.level);
  p.option("--out", "FILE", "TIFF file to write", &out);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (k.row < 0 || k.col < 0 || k.channel < 0) return p.usage_error("--row, --col and --channel are required");
  if (out.empty()) return p.usage_error("--out is required");
  if (same_file(path, out)) return p.usage_error("--out " + out + " is the slide itself; refusing to overwrite it");

  auto slide = open_slide(path);
  if (!slide.ok()) {
    std::cerr << "vslide export-tile: " << slide.status().to_string() << "\n";
    return 1;
  }
  auto img = (*slide)->read(k);
  if (!img.ok()) {
    std::cerr << "vslide export-tile: " << img.status().to_string() << "\n";
    return 1;
  }
  if (Status s = write_then_rename(out, [&](const std::string& tmp) { return write_tiff16(tmp, *img); }); !s.ok()) {
    std::cerr << "vslide export-tile: " << s.to_string() << "\n";
    return 1;
  }
  std::cout << "wrote " << out << " (" << img->width() << "x" << img->height() << ", tile " << k.to_string() << ")\n";
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("export-tile", "write one stored plane as a 16-bit TIFF", vslide::cli::run_export);
