// vslide simulate: a synthetic scan written as a virtual slide.
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "args.h"
#include "scan_options.h"
#include "command.h"
#include "parallel.h"
#include "write_aside.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {
namespace {

int run_simulate(int argc, char** argv) {
  std::string out, layout_s = "linear", codec_s = "blosc-lz4-bitshuffle", chunk_s, name;
  ScanArgs scan;
  int threads = 0;
  bool quiet = false;
  ArgParser p("vslide simulate OUT.h5 [--rows 6 --cols 8 --channels 3 ...]",
              "Simulates a scan of a synthetic specimen and writes it as a virtual slide.\n"
              "The ground truth (true field positions, nuclei) goes to OUT.truth.json.");
  p.positional("OUT.h5", "slide file to create (replaced if it exists)", &out);
  add_scan_options(p, &scan);
  p.option("--name", "TEXT", "slide name", &name);
  p.option("--layout", "L", "linear (default), packed or grid", &layout_s);
  p.option("--chunk", "HxW", "chunk block size (default: the whole tile)", &chunk_s);
  p.option("--codec", "C", "blosc-lz4-bitshuffle (default), blosc-lz4-shuffle, blosc-zstd-bitshuffle, gzip, none",
           &codec_s);
  p.option("--threads", "N", "worker threads (default: one per core)", &threads, 0, 1024);
  p.flag("--quiet", "no progress bar or summary", &quiet);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;

  if (int rc = finish_scan_options(p, &scan); rc >= 0) return rc;
  const ScanConfig& cfg = scan.config;
  CreateOptions opt;
  opt.overwrite = true;
  auto layout = parse_layout(layout_s);
  if (!layout.ok()) return p.usage_error(layout.status().message());
  opt.layout = *layout;
  auto codec = CodecSpec::parse(codec_s);
  if (!codec.ok()) return p.usage_error(codec.status().message());
  opt.codec = *codec;
  if (!chunk_s.empty()) {
    // HxW: rows first, as HDF5 chunk shapes are written.
    int h = 0, w = 0;
    if (!parse_size(chunk_s, &h, &w)) return p.usage_error("bad --chunk '" + chunk_s + "' (HxW)");
    opt.chunk_height = h;
    opt.chunk_width = w;
  }

  SyntheticScanner scanner(cfg);
  SlideHeader header = scanner.header();
  if (!name.empty()) header.name = name;
  auto slide = Hdf5Slide::create(out, header, scanner.geometry(), scanner.channels(), opt);
  if (!slide.ok()) {
    std::cerr << "vslide simulate: " << slide.status().to_string() << "\n";
    return 1;
  }
  const auto& g = scanner.geometry();
  for (const auto& f : scanner.fields()) {
    if (Status s = (*slide)->write_field(f); !s.ok()) {
      std::cerr << "vslide simulate: " << s.to_string() << " (" << out << " removed)\n";
      ::unlink(out.c_str());
      exit_without_closing(1);
    }
  }
  std::vector<TileKey> keys;
  for (const auto& f : scanner.fields())
    for (int t = 0; t < g.timepoints; ++t)
      for (int z = 0; z < g.z_planes; ++z)
        for (int c = 0; c < g.channels; ++c) keys.push_back(TileKey{f.row, f.col, c, z, t, 0});
  ProgressBar bar("simulate", keys.size(), !quiet);
  Status st = parallel_for(
      keys.size(), unsigned(threads),
      [&](size_t i) {
        Image16 img = scanner.render(keys[i]);
        return (*slide)->write_plane(keys[i], img);
      },
      &bar);
  if (st.ok()) st = (*slide)->finish();
  if (!st.ok()) {
    // A half-written file is no slide: remove it, and leave without HDF5's
    // close, which can crash after a failed write (ENOSPC).
    std::cerr << "vslide simulate: " << st.to_string() << " (" << out << " removed)\n";
    ::unlink(out.c_str());
    exit_without_closing(1);
  }
  const std::string truth_path = (out.size() > 3 && out.substr(out.size() - 3) == ".h5" ? out.substr(0, out.size() - 3) : out) +
                                 ".truth.json";
  std::ofstream(truth_path) << scanner.truth_json().dump() << "\n";
  if (!quiet) {
    std::cout << "wrote " << out << ": " << header.slide_id << ", " << scanner.fields().size() << " fields, "
              << keys.size() << " planes, " << (*slide)->bytes_raw() / 1e6 << " MB raw, "
              << (*slide)->bytes_stored() / 1e6 << " MB stored (ratio "
              << double((*slide)->bytes_raw()) / double(std::max<uint64_t>(1, (*slide)->bytes_stored())) << ")\n"
              << "ground truth: " << truth_path << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("simulate", "simulate a scan of a synthetic specimen into a slide file", vslide::cli::run_simulate);
