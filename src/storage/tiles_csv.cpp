#include "vslide/storage/tiles_csv.h"

#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "vslide/storage/tiff_io.h"

namespace vslide {
namespace {

// Splits one line at commas outside double quotes; quotes are dropped and a
// carriage return (a CRLF file) is not part of any field.
std::vector<std::string> split_csv(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) out.push_back(std::move(cur)), cur.clear();
    else if (c != '\r') cur += c;
  }
  out.push_back(std::move(cur));
  for (auto& f : out) {
    f.erase(0, f.find_first_not_of(" \t"));
    f.erase(f.find_last_not_of(" \t") + 1);
  }
  return out;
}

// Whole-text integers only: "1.5", "1e3", " 1", "" are not integers.
bool parse_integer(const std::string& s, int64_t* out) {
  const char* b = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
  auto [p, ec] = std::from_chars(b, s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// Whole-text finite decimal numbers: "nan", "inf", "1e999", "0x10" are not.
bool parse_finite(const std::string& s, double* out) {
  const char* b = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
  auto [p, ec] = std::from_chars(b, s.data() + s.size(), *out, std::chars_format::general);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out);
}

std::string number_text(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

// The next line of `text` from `*pos` (without its '\n'); false at the end.
bool next_line(std::string_view text, size_t* pos, std::string_view* line) {
  if (*pos >= text.size()) return false;
  size_t end = text.find('\n', *pos);
  if (end == std::string_view::npos) end = text.size();
  *line = text.substr(*pos, end - *pos);
  *pos = end + 1;
  return true;
}

}  // namespace

Result<PositionUnits> parse_position_units(const std::string& text) {
  if (text.empty()) return PositionUnits::kUnknown;
  if (text == "um" || text == "µm" || text == "micron" || text == "micrometres") return PositionUnits::kMicrometres;
  if (text == "px" || text == "pixels") return PositionUnits::kPixels;
  return Status::invalid_argument("position units '" + text + "': expected um or px");
}

Result<TilesCsv> parse_tiles_csv(std::string_view text, const std::string& source, PositionUnits units) {
  if (text.size() > kMaxTilesCsvBytes) {
    return Status::invalid_argument(source + ": " + std::to_string(text.size()) + " bytes, a tiles CSV holds at most " +
                                    std::to_string(kMaxTilesCsvBytes));
  }
  size_t pos = 0;
  std::string_view first;
  if (!next_line(text, &pos, &first)) return Status::invalid_argument(source + ": empty file");
  if (first.substr(0, 3) == "\xEF\xBB\xBF") first.remove_prefix(3);  // UTF-8 byte-order mark
  const auto head = split_csv(first);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < head.size(); ++i) {
    if (!col.emplace(head[i], i).second) {
      return Status::invalid_argument(source + ": column '" + head[i] + "' appears twice");
    }
  }
  // Which columns hold the stage position, and in which unit.
  std::string xcol, ycol;
  for (auto [suffix, u] : {std::pair{"_um", PositionUnits::kMicrometres}, std::pair{"_px", PositionUnits::kPixels},
                           std::pair{"", PositionUnits::kUnknown}}) {
    if (col.count(std::string("stage_x") + suffix) && col.count(std::string("stage_y") + suffix)) {
      xcol = std::string("stage_x") + suffix, ycol = std::string("stage_y") + suffix;
      if (u != PositionUnits::kUnknown) {
        if (units != PositionUnits::kUnknown && units != u) {
          return Status::invalid_argument(source + ": columns " + xcol + "/" + ycol + " contradict --position-units");
        }
        units = u;
      }
      break;
    }
  }
  const char* kExpected = " (expected path,row,col,channel,stage_x_um,stage_y_um[,z,t,page,stage_z_um];"
                          " stage_x_px,stage_y_px for pixels, or stage_x,stage_y with --position-units)";
  for (const char* need : {"path", "row", "col", "channel"}) {
    if (!col.count(need)) return Status::invalid_argument(source + ": header lacks column '" + need + "'" + kExpected);
  }
  if (xcol.empty()) return Status::invalid_argument(source + ": header lacks the stage position columns" + kExpected);
  if (units == PositionUnits::kUnknown) {
    return Status::invalid_argument(source + ": columns stage_x/stage_y do not say their unit: give --position-units um or px");
  }
  TilesCsv out;
  out.units = units;
  out.has_page_column = col.count("page") > 0;
  const double limit = units == PositionUnits::kPixels ? kMaxStagePositionPx : kMaxStagePositionUm;
  std::map<std::pair<int32_t, int32_t>, size_t> field_row;  // (row, col) -> first row placing the field
  std::set<std::tuple<int32_t, int32_t, int32_t, int32_t, int32_t>> seen;
  std::string_view raw;
  for (int n = 2; next_line(text, &pos, &raw); ++n) {
    if (raw.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const auto f = split_csv(raw);
    const std::string where = source + " line " + std::to_string(n);
    if (f.size() != head.size()) {
      return Status::invalid_argument(where + ": " + std::to_string(f.size()) + " fields, the header has " +
                                      std::to_string(head.size()));
    }
    auto integer = [&](const char* name, int64_t lo, int64_t hi, int64_t fallback) -> Result<int32_t> {
      if (!col.count(name)) return int32_t(fallback);
      const std::string& v = f[col.at(name)];
      int64_t x = 0;
      if (!parse_integer(v, &x)) return Status::invalid_argument(where + ": " + name + " '" + v + "' is not an integer");
      if (x < lo || x > hi) {
        return Status::invalid_argument(where + ": " + name + " " + v + " is outside " + std::to_string(lo) + ".." +
                                        std::to_string(hi));
      }
      return int32_t(x);
    };
    auto real = [&](const std::string& name, double bound) -> Result<double> {
      if (!col.count(name)) return 0.0;
      const std::string& v = f[col.at(name)];
      double x = 0;
      if (!parse_finite(v, &x)) return Status::invalid_argument(where + ": " + name + " '" + v + "' is not a finite number");
      if (std::abs(x) > bound) {
        return Status::invalid_argument(where + ": " + name + " " + v + " is beyond +-" + std::to_string(int64_t(bound)));
      }
      return x;
    };
    TilesCsvRow row;
    row.line = n;
    VSLIDE_ASSIGN_OR_RETURN(row.key.row, integer("row", 0, kMaxTilesCsvGridIndex, 0));
    VSLIDE_ASSIGN_OR_RETURN(row.key.col, integer("col", 0, kMaxTilesCsvGridIndex, 0));
    VSLIDE_ASSIGN_OR_RETURN(row.key.channel, integer("channel", 0, 63, 0));
    VSLIDE_ASSIGN_OR_RETURN(row.key.z, integer("z", 0, 4095, 0));
    VSLIDE_ASSIGN_OR_RETURN(row.key.t, integer("t", 0, kMaxTilesCsvGridIndex, 0));
    VSLIDE_ASSIGN_OR_RETURN(row.page, integer("page", 0, kMaxTiffPages - 1, -1));
    VSLIDE_ASSIGN_OR_RETURN(row.x, real(xcol, limit));
    VSLIDE_ASSIGN_OR_RETURN(row.y, real(ycol, limit));
    VSLIDE_ASSIGN_OR_RETURN(row.z_um, real("stage_z_um", kMaxStagePositionUm));
    const TileKey& k = row.key;
    if (!seen.insert({k.row, k.col, k.channel, k.z, k.t}).second) {
      return Status::already_exists(where + ": duplicate tile " + k.to_string());
    }
    row.path = f[col.at("path")];
    if (row.path.empty()) return Status::invalid_argument(where + ": empty path");
    auto [it, first_of_field] = field_row.emplace(std::pair{k.row, k.col}, out.rows.size());
    if (!first_of_field) {
      const TilesCsvRow& old = out.rows[it->second];
      if (old.x != row.x || old.y != row.y) {
        return Status::invalid_argument(where + ": field (" + std::to_string(k.row) + "," + std::to_string(k.col) +
                                        ") at (" + number_text(row.x) + ", " + number_text(row.y) + ") but line " +
                                        std::to_string(old.line) + " put it at (" + number_text(old.x) + ", " +
                                        number_text(old.y) + "): a field has one stage position");
      }
    }
    out.rows.push_back(std::move(row));
  }
  if (out.rows.empty()) return Status::invalid_argument(source + ": no tiles listed");
  return out;
}

}  // namespace vslide
