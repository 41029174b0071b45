// The tiles CSV of `vslide import-tiles`: one row per plane.
#include <filesystem>
#include <fstream>
#include <set>

#include "args.h"
#include "import_plan.h"

namespace vslide::cli {
namespace {

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
  for (auto& f : out) {  // spaces around a field are not part of it
    f.erase(0, f.find_first_not_of(" \t"));
    f.erase(f.find_last_not_of(" \t") + 1);
  }
  return out;
}

// Stage positions: at most 1 m from the origin, in either unit.
constexpr double kMaxPosition = 1e6;
constexpr double kMaxPositionPx = 1e9;

}  // namespace

Result<PositionUnits> parse_position_units(const std::string& text) {
  if (text.empty()) return PositionUnits::kUnknown;
  if (text == "um" || text == "µm" || text == "micron" || text == "micrometres") return PositionUnits::kMicrometres;
  if (text == "px" || text == "pixels") return PositionUnits::kPixels;
  return Status::invalid_argument("position units '" + text + "': expected um or px");
}

Result<ImportPlan> plan_from_csv(const std::string& csv, PositionUnits units) {
  std::ifstream in(csv, std::ios::binary);
  if (!in) return Status::not_found(csv + ": cannot open");
  std::string line;
  if (!std::getline(in, line)) return Status::invalid_argument(csv + ": empty file");
  if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark (Excel writes one)
  const auto head = split_csv(line);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < head.size(); ++i) {
    if (!col.emplace(head[i], i).second) return Status::invalid_argument(csv + ": column '" + head[i] + "' appears twice");
  }
  // Which columns hold the stage position, and in which unit.
  std::string xcol, ycol;
  for (auto [suffix, u] : {std::pair{"_um", PositionUnits::kMicrometres}, std::pair{"_px", PositionUnits::kPixels},
                           std::pair{"", PositionUnits::kUnknown}}) {
    if (col.count(std::string("stage_x") + suffix) && col.count(std::string("stage_y") + suffix)) {
      xcol = std::string("stage_x") + suffix, ycol = std::string("stage_y") + suffix;
      if (u != PositionUnits::kUnknown) {
        if (units != PositionUnits::kUnknown && units != u) {
          return Status::invalid_argument(csv + ": columns " + xcol + "/" + ycol + " contradict --position-units");
        }
        units = u;
      }
      break;
    }
  }
  const char* kExpected = " (expected path,row,col,channel,stage_x_um,stage_y_um[,z,t,page,stage_z_um];"
                          " stage_x_px,stage_y_px for pixels, or stage_x,stage_y with --position-units)";
  for (const char* need : {"path", "row", "col", "channel"}) {
    if (!col.count(need)) return Status::invalid_argument(csv + ": header lacks column '" + need + "'" + kExpected);
  }
  if (xcol.empty()) return Status::invalid_argument(csv + ": header lacks the stage position columns" + kExpected);
  if (units == PositionUnits::kUnknown) {
    return Status::invalid_argument(csv + ": columns stage_x/stage_y do not say their unit: give --position-units um or px");
  }
  ImportPlan plan;
  plan.source = csv;
  plan.units = units;
  const auto base = std::filesystem::path(csv).parent_path();
  std::map<std::string, size_t> file_index;
  std::map<std::pair<int, int>, size_t> field_index;
  std::set<std::tuple<int, int, int, int, int>> seen;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto f = split_csv(line);
    const std::string where = csv + " line " + std::to_string(n);
    if (f.size() != head.size()) {
      return Status::invalid_argument(where + ": " + std::to_string(f.size()) + " fields, the header has " +
                                      std::to_string(head.size()));
    }
    auto integer = [&](const char* name, int64_t lo, int64_t hi, int64_t fallback) -> Result<int> {
      if (!col.count(name)) return int(fallback);
      const std::string& v = f[col.at(name)];
      int64_t x = 0;
      if (!parse_int(v, &x)) return Status::invalid_argument(where + ": " + name + " '" + v + "' is not an integer");
      if (x < lo || x > hi) {
        return Status::invalid_argument(where + ": " + name + " " + v + " is outside " + std::to_string(lo) + ".." +
                                        std::to_string(hi));
      }
      return int(x);
    };
    auto real = [&](const std::string& name, double limit) -> Result<double> {
      if (!col.count(name)) return 0.0;
      const std::string& v = f[col.at(name)];
      double x = 0;
      if (!parse_real(v, &x)) return Status::invalid_argument(where + ": " + name + " '" + v + "' is not a finite number");
      if (std::abs(x) > limit) {
        return Status::invalid_argument(where + ": " + name + " " + v + " is beyond +-" + std::to_string(int64_t(limit)));
      }
      return x;
    };
    VSLIDE_ASSIGN_OR_RETURN(int row, integer("row", 0, 100000, 0));
    VSLIDE_ASSIGN_OR_RETURN(int c, integer("col", 0, 100000, 0));
    VSLIDE_ASSIGN_OR_RETURN(int channel, integer("channel", 0, 63, 0));
    VSLIDE_ASSIGN_OR_RETURN(int z, integer("z", 0, 4095, 0));
    VSLIDE_ASSIGN_OR_RETURN(int t, integer("t", 0, 100000, 0));
    VSLIDE_ASSIGN_OR_RETURN(int page, integer("page", 0, kMaxTiffPages - 1, -1));
    const double limit = units == PositionUnits::kPixels ? kMaxPositionPx : kMaxPosition;
    VSLIDE_ASSIGN_OR_RETURN(double x, real(xcol, limit));
    VSLIDE_ASSIGN_OR_RETURN(double y, real(ycol, limit));
    VSLIDE_ASSIGN_OR_RETURN(double zpos, real("stage_z_um", kMaxPosition));
    if (!seen.insert({row, c, channel, z, t}).second) {
      return Status::already_exists(where + ": duplicate tile " + TileKey{row, c, channel, z, t}.to_string());
    }
    std::filesystem::path p = f[col.at("path")];
    if (p.empty()) return Status::invalid_argument(where + ": empty path");
    const std::string path = p.is_absolute() ? p.string() : (base / p).string();
    auto [fit, new_file] = file_index.emplace(path, plan.files.size());
    if (new_file) {
      auto dir = TiffDirectory::open(path);
      if (!dir.ok()) return dir.status().with_context(where + ": tile " + TileKey{row, c, channel, z, t}.to_string());
      plan.files.push_back(std::move(dir).value());
    }
    const TiffDirectory& dir = plan.files[fit->second];
    if (page < 0 && dir.pages.size() > 1) {
      return Status::invalid_argument(where + ": " + path + " has " + std::to_string(dir.pages.size()) +
                                      " pages; say which in a 'page' column, or import an OME-TIFF with --ome-tiff");
    }
    if (page >= int(dir.pages.size())) {
      return Status::out_of_range(where + ": page " + std::to_string(page) + " but " + path + " has " +
                                  std::to_string(dir.pages.size()));
    }
    auto [fld, new_field] = field_index.emplace(std::pair{row, c}, plan.fields.size());
    if (new_field) {
      plan.fields.push_back(ImportField{row, c, x, y, zpos, where});
    } else if (const ImportField& old = plan.fields[fld->second]; old.x != x || old.y != y) {
      return Status::invalid_argument(where + ": field (" + std::to_string(row) + "," + std::to_string(c) + ") at (" +
                                      f[col.at(xcol)] + ", " + f[col.at(ycol)] + ") but " + old.label +
                                      " put it elsewhere: a field has one stage position");
    }
    plan.planes.push_back(ImportPlane{TileKey{row, c, channel, z, t}, fld->second, fit->second, std::max(page, 0), where});
    if (dir.pixel_size_um && !plan.pixel_size_um) plan.pixel_size_um = dir.pixel_size_um;
  }
  if (plan.planes.empty()) return Status::invalid_argument(csv + ": no tiles listed");
  return plan;
}

}  // namespace vslide::cli
