// vslide import-tiles: a virtual slide from existing 16-bit TIFF fields,
// listed in a CSV or described by OME-TIFF metadata (import_plan.h).
#include <cmath>
#include <filesystem>
#include <iostream>
#include <set>

#include "args.h"
#include "command.h"
#include "import_plan.h"
#include "parallel.h"
#include "write_aside.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {
namespace {

int run_import(int argc, char** argv) {
  std::string out, csv, layout_s = "linear", codec_s = "blosc-lz4-bitshuffle", chunk_s, name, id, units_s;
  std::vector<std::string> ome;
  ChannelTableOptions ch;
  double pixel_um = 0;
  int threads = 0;
  bool no_spacing_check = false, quiet = false;
  ArgParser p("vslide import-tiles OUT.h5 (--tiles-csv FILE.csv | --ome-tiff FILE|DIR ...) [--pixel-size-um UM]\n"
              "             [--channel-names A,B,..] [--channels-json FILE] [--layout L] [--codec C]",
              "Builds a slide from existing 16-bit TIFF fields of view, bit-exact.\n"
              "CSV: path,row,col,channel,stage_x_um,stage_y_um[,z,t,page,stage_z_um] (paths relative to the\n"
              "CSV; stage_x_px,stage_y_px for positions in pixels; a multi-page TIFF needs a page column).\n"
              "OME-TIFF (Micro-Manager, Bio-Formats, tifffile...): every plane of every image lands where its\n"
              "OME-XML says (TheC/TheZ/TheT, PositionX/Y/Z, PhysicalSizeX, channel names and colours); a page\n"
              "the metadata does not describe is refused, never dropped. Mosaic rows and columns come from\n"
              "the positions. The tile spacing is checked against tile size x pixel size.\n"
              "Channel table: the options, else --channels-json, else the OME-XML, else 'Channel N' with\n"
              "contrast windows from the data's 0.1-99.9 percentiles.");
  p.positional("OUT.h5", "slide file to create (replaced only when the import succeeds)", &out);
  p.option("--tiles-csv", "FILE", "the list of planes", &csv);
  p.multi("--ome-tiff", "FILE|DIR", "OME-TIFF file, or a folder of *.ome.tif (repeatable)", &ome);
  p.option("--pixel-size-um", "UM", "object-side pixel size (default: from the files; required when they lack it)",
           &pixel_um, 1e-4, 1e4);
  p.option("--position-units", "um|px", "unit of the stage positions (default: from the CSV columns; um for OME)",
           &units_s);
  p.flag("--no-spacing-check", "import even when the tile spacing does not match tile size x pixel size",
         &no_spacing_check);
  p.option("--channel-names", "A,B,..", "channel names, one per channel", &ch.names);
  p.option("--channel-colors", "#RRGGBB,..", "display colours (hex or red, green, blue, cyan, magenta, yellow, white)",
           &ch.colors);
  p.option("--excitation-nm", "NM,..", "excitation wavelengths", &ch.excitation_nm);
  p.option("--emission-nm", "NM,..", "emission wavelengths", &ch.emission_nm);
  p.option("--windows", "LO:HI,..", "display contrast windows (default: 0.1-99.9 percentiles of the data)", &ch.windows);
  p.option("--channels-json", "FILE", "channel table as JSON: [{\"name\", \"color\", \"excitation_nm\", ...}, ...]",
           &ch.json_file);
  p.option("--layout", "L", "linear (default), packed or grid", &layout_s);
  p.option("--codec", "C", "blosc-lz4-bitshuffle (default), blosc-lz4-shuffle, blosc-zstd-bitshuffle, gzip, none",
           &codec_s);
  p.option("--chunk", "HxW", "chunk block size (default: the whole tile)", &chunk_s);
  p.option("--name", "TEXT", "slide name", &name);
  p.option("--slide-id", "ID", "slide identifier (default: from the output file name)", &id);
  p.option("--threads", "N", "worker threads (default: one per core)", &threads, 0, 1024);
  p.flag("--quiet", "no progress bar or summary", &quiet);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (csv.empty() == ome.empty()) return p.usage_error("give exactly one of --tiles-csv and --ome-tiff");
  auto units = parse_position_units(units_s);
  if (!units.ok()) return p.usage_error(units.status().message());
  CreateOptions opt;
  opt.overwrite = true;
  auto layout = parse_layout(layout_s);
  if (!layout.ok()) return p.usage_error(layout.status().message());
  opt.layout = *layout;
  auto codec = CodecSpec::parse(codec_s);
  if (!codec.ok()) return p.usage_error(codec.status().message());
  opt.codec = *codec;
  if (!chunk_s.empty() && !parse_size(chunk_s, &opt.chunk_height, &opt.chunk_width)) {
    return p.usage_error("bad --chunk '" + chunk_s + "' (HxW)");
  }
  // The slide is written under a temporary name and renamed when complete:
  // a failed import leaves no file that looks like a slide, and an old OUT survives it.
  // The name is made new and unguessable just before the slide is created
  // (create_temporary_beside): a fixed OUT.importing let a symlink planted
  // there point the import at another file.
  std::string tmp;
  auto fail = [&](const Status& s) {
    std::cerr << "vslide import-tiles: " << s.to_string() << "\n";
    std::error_code ec;
    if (!tmp.empty()) std::filesystem::remove(tmp, ec);
    return 1;
  };
  auto plan = csv.empty() ? plan_from_ome_tiff(ome, *units) : plan_from_csv(csv, *units);
  if (!plan.ok()) return fail(plan.status());
  // Never write over an input.
  std::vector<std::string> inputs = {csv, ch.json_file};
  for (const auto& f : plan->files) inputs.push_back(f.path);
  for (const auto& in : inputs) {
    if (!in.empty() && same_file(in, out)) {
      return fail(Status::invalid_argument(out + " is an input of this import (" + in + "): refusing to overwrite it"));
    }
  }
  auto tile = check_pages(*plan);
  if (!tile.ok()) return fail(tile.status());
  const auto [tile_w, tile_h] = *tile;
  if (pixel_um == 0) {
    if (!plan->pixel_size_um) {
      return fail(Status::invalid_argument(plan->source + ": the files do not state a pixel size: give --pixel-size-um"));
    }
    pixel_um = *plan->pixel_size_um;
  } else if (plan->pixel_size_um && std::abs(*plan->pixel_size_um - pixel_um) > 1e-3 * pixel_um && !quiet) {
    std::cerr << "vslide import-tiles: note: the files say " << format_number(*plan->pixel_size_um)
              << " um per pixel; using --pixel-size-um " << format_number(pixel_um) << "\n";
  }
  const double to_um = plan->units == PositionUnits::kPixels ? pixel_um : 1.0;
  if (Status s = assign_grid(&*plan, tile_w * pixel_um / to_um, tile_h * pixel_um / to_um); !s.ok()) return fail(s);
  std::vector<FieldOfView> fields;
  for (const auto& f : plan->fields) fields.push_back(FieldOfView{f.row, f.col, f.x * to_um, f.y * to_um, f.z_um, 0});
  if (!no_spacing_check) {
    if (Status s = check_spacing(*plan, fields, tile_w * pixel_um, tile_h * pixel_um, pixel_um); !s.ok()) return fail(s);
  }
  MosaicGeometry g;
  g.tile_width = tile_w;
  g.tile_height = tile_h;
  g.pixel_size_um = pixel_um;
  std::set<TileKey> keys;
  for (const auto& pl : plan->planes) {
    if (!keys.insert(pl.key).second) {
      return fail(Status::already_exists(pl.label + ": a second plane for tile " + pl.key.to_string()));
    }
    g.rows = std::max(g.rows, pl.key.row + 1);
    g.cols = std::max(g.cols, pl.key.col + 1);
    g.channels = std::max(g.channels, pl.key.channel + 1);
    g.z_planes = std::max(g.z_planes, pl.key.z + 1);
    g.timepoints = std::max(g.timepoints, pl.key.t + 1);
  }
  if (g.channels > 64) return fail(Status::invalid_argument(plan->source + ": " + std::to_string(g.channels) + " channels, at most 64"));
  std::string channel_note;
  auto channels = build_channel_table(*plan, g.channels, ch, &channel_note);
  if (!channels.ok()) return fail(channels.status());
  SlideHeader h;
  h.slide_id = id.empty() ? std::filesystem::path(out).stem().string() : id;
  h.name = name.empty() ? h.slide_id : name;
  h.instrument = "imported";
  h.magnification = 0;  // unknown: the pixel size is what the files or the user said
  h.pixel_size_um = pixel_um;
  h.attributes["imported_from"] = plan->source;
  h.attributes["channel_table_from"] = channel_note;
  auto made = create_temporary_beside(out, ".importing-");
  if (!made.ok()) return fail(made.status());
  tmp = *made;
  auto slide = Hdf5Slide::create(tmp, h, g, *channels, opt);
  if (!slide.ok()) return fail(slide.status());
  for (const auto& f : fields) {
    if (Status s = (*slide)->write_field(f); !s.ok()) {
      fail(s);
      exit_without_closing(1);  // HDF5's close after a failed write (ENOSPC) can crash
    }
  }
  ProgressBar bar("import", plan->planes.size(), !quiet);
  Status st = parallel_for(
      plan->planes.size(), unsigned(threads),
      [&](size_t i) -> Status {
        const ImportPlane& pl = plan->planes[i];
        auto img = read_tiff_page(plan->files[pl.file], pl.page);
        if (!img.ok()) return img.status().with_context("tile " + pl.key.to_string());
        return (*slide)->write_plane(pl.key, *img);
      },
      &bar);
  if (st.ok()) st = (*slide)->finish();
  if (!st.ok()) {
    fail(st);  // the temporary file is removed
    exit_without_closing(1);  // HDF5's close after a failed write (ENOSPC) can crash
  }
  const uint64_t raw = (*slide)->bytes_raw(), stored = (*slide)->bytes_stored();
  slide->reset();
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return fail(Status::io_error(out + ": cannot rename " + tmp + " onto it: " + ec.message()));
  if (!quiet) {
    std::cout << "wrote " << out << ": " << fields.size() << " fields (" << g.rows << "x" << g.cols << "), "
              << plan->planes.size() << " planes of " << tile_w << "x" << tile_h << " at " << format_number(pixel_um)
              << " um/px, ratio " << double(raw) / double(std::max<uint64_t>(1, stored)) << "\n"
              << "channels (" << channel_note << "):";
    for (const auto& c : *channels) std::cout << " " << c.name << " [" << c.contrast_low << ".." << c.contrast_high << "]";
    std::cout << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("import-tiles", "build a slide from 16-bit TIFF / OME-TIFF fields", vslide::cli::run_import);
