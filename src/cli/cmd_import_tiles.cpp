// vslide import-tiles: a virtual slide from existing 16-bit TIFF fields.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "args.h"
#include "command.h"
#include "parallel.h"
#include "vslide/storage/hdf5_slide.h"
#include "vslide/storage/tiff_io.h"

namespace vslide::cli {
namespace {

struct CsvRow {
  int line = 0;
  std::string path;
  TileKey key;
  double x = 0, y = 0;
};

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) out.push_back(std::move(cur)), cur.clear();
    else if (c != '\r') cur += c;
  }
  out.push_back(cur);
  return out;
}

Result<std::vector<CsvRow>> read_csv(const std::string& csv) {
  std::ifstream in(csv);
  if (!in) return Status::not_found(csv + ": cannot open");
  std::string line;
  if (!std::getline(in, line)) return Status::invalid_argument(csv + ": empty file");
  auto head = split_csv(line);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < head.size(); ++i) col[head[i]] = i;
  for (const char* need : {"path", "row", "col", "channel", "stage_x_um", "stage_y_um"}) {
    if (!col.count(need)) {
      return Status::invalid_argument(csv + ": header lacks column '" + need +
                                      "' (expected path,row,col,channel,stage_x_um,stage_y_um[,z,t])");
    }
  }
  const auto base = std::filesystem::path(csv).parent_path();
  std::vector<CsvRow> rows;
  std::set<TileKey> seen;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto f = split_csv(line);
    auto where = csv + " line " + std::to_string(n);
    if (f.size() < head.size()) return Status::invalid_argument(where + ": " + std::to_string(f.size()) + " fields, header has " + std::to_string(head.size()));
    CsvRow r;
    r.line = n;
    try {
      std::filesystem::path p = f[col["path"]];
      r.path = p.is_absolute() ? p.string() : (base / p).string();
      r.key.row = std::stoi(f[col["row"]]);
      r.key.col = std::stoi(f[col["col"]]);
      r.key.channel = std::stoi(f[col["channel"]]);
      r.key.z = col.count("z") ? std::stoi(f[col["z"]]) : 0;
      r.key.t = col.count("t") ? std::stoi(f[col["t"]]) : 0;
      r.x = std::stod(f[col["stage_x_um"]]);
      r.y = std::stod(f[col["stage_y_um"]]);
    } catch (const std::exception&) {
      return Status::invalid_argument(where + ": a number field is not a number");
    }
    const auto& k = r.key;
    if (k.row < 0 || k.col < 0 || k.channel < 0 || k.z < 0 || k.t < 0 || k.row > 100000 || k.col > 100000 ||
        k.channel > 63 || k.z > 4095 || k.t > 100000) {
      return Status::invalid_argument(where + ": index out of range");
    }
    if (!seen.insert(k).second) return Status::already_exists(where + ": duplicate tile " + k.to_string());
    rows.push_back(std::move(r));
  }
  if (rows.empty()) return Status::invalid_argument(csv + ": no tiles listed");
  return rows;
}

int run_import(int argc, char** argv) {
  std::string out, csv, layout_s = "linear", codec_s = "blosc-lz4-bitshuffle", chunk_s, name, id;
  double pixel_um = 0.1625;
  int threads = 0;
  ArgParser p("vslide import-tiles OUT.h5 --tiles-csv FILE.csv [--layout L] [--codec C]",
              "Builds a slide from existing 16-bit TIFF fields of view.\n"
              "CSV header: path,row,col,channel,stage_x_um,stage_y_um[,z,t] (paths relative to the CSV).");
  p.positional("OUT.h5", "slide file to create (replaced if it exists)", &out);
  p.option("--tiles-csv", "FILE", "the list of fields", &csv);
  p.option("--layout", "L", "linear (default), packed or grid", &layout_s);
  p.option("--codec", "C", "blosc-lz4-bitshuffle (default), blosc-lz4-shuffle, blosc-zstd-bitshuffle, gzip, none",
           &codec_s);
  p.option("--chunk", "HxW", "chunk block size (default: the whole tile)", &chunk_s);
  p.option("--name", "TEXT", "slide name", &name);
  p.option("--slide-id", "ID", "slide identifier (default: from the output file name)", &id);
  p.option("--pixel-size-um", "UM", "object-side pixel size (default 0.1625)", &pixel_um);
  p.option("--threads", "N", "worker threads (default: one per core)", &threads);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (csv.empty()) return p.usage_error("--tiles-csv is required");
  auto fail = [&](const Status& s) {
    std::cerr << "vslide import-tiles: " << s.to_string() << "\n";
    std::error_code ec;
    std::filesystem::remove(out, ec);
    return 1;
  };
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
  auto rows = read_csv(csv);
  if (!rows.ok()) return fail(rows.status());
  auto first = read_tiff16(rows->front().path);
  if (!first.ok()) return fail(first.status().with_context("tile " + rows->front().key.to_string()));
  MosaicGeometry g;
  g.tile_width = first->width();
  g.tile_height = first->height();
  g.pixel_size_um = pixel_um;
  for (const auto& r : *rows) {
    g.rows = std::max(g.rows, r.key.row + 1);
    g.cols = std::max(g.cols, r.key.col + 1);
    g.channels = std::max(g.channels, r.key.channel + 1);
    g.z_planes = std::max(g.z_planes, r.key.z + 1);
    g.timepoints = std::max(g.timepoints, r.key.t + 1);
  }
  SlideHeader h;
  h.slide_id = id.empty() ? std::filesystem::path(out).stem().string() : id;
  h.name = name.empty() ? h.slide_id : name;
  h.instrument = "imported";
  h.pixel_size_um = pixel_um;
  h.attributes["imported_from"] = csv;
  auto slide = Hdf5Slide::create(out, h, g, default_channels(g.channels), opt);
  if (!slide.ok()) return fail(slide.status());
  std::set<std::pair<int, int>> fields;
  for (const auto& r : *rows) {
    if (!fields.insert({r.key.row, r.key.col}).second) continue;
    if (Status s = (*slide)->write_field(FieldOfView{r.key.row, r.key.col, r.x, r.y, 0, 0}); !s.ok()) return fail(s);
  }
  ProgressBar bar("import", rows->size());
  Status st = parallel_for(
      rows->size(), unsigned(threads),
      [&](size_t i) -> Status {
        const CsvRow& r = (*rows)[i];
        auto img = read_tiff16(r.path);
        if (!img.ok()) return img.status().with_context("tile " + r.key.to_string());
        if (img->width() != g.tile_width || img->height() != g.tile_height) {
          return Status::invalid_argument(r.path + ": tile " + r.key.to_string() + " is " +
                                          std::to_string(img->width()) + "x" + std::to_string(img->height()) +
                                          ", the first tile is " + std::to_string(g.tile_width) + "x" +
                                          std::to_string(g.tile_height));
        }
        return (*slide)->write_plane(r.key, *img);
      },
      &bar);
  if (st.ok()) st = (*slide)->finish();
  if (!st.ok()) {
    slide->reset();
    return fail(st);
  }
  std::cout << "wrote " << out << ": " << fields.size() << " fields, " << rows->size() << " planes, ratio "
            << double((*slide)->bytes_raw()) / double(std::max<uint64_t>(1, (*slide)->bytes_stored())) << "\n";
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("import-tiles", "build a slide from existing 16-bit TIFF fields", vslide::cli::run_import);
