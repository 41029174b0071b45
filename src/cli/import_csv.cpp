// The tiles CSV of `vslide import-tiles`: the rows come from the library's
// parser (vslide/storage/tiles_csv.h); here the TIFF files they name are
// opened and each row becomes a plane of the plan.
#include <filesystem>
#include <fstream>
#include <iterator>

#include "import_plan.h"

namespace vslide::cli {

Result<ImportPlan> plan_from_csv(const std::string& csv, PositionUnits units) {
  std::ifstream in(csv, std::ios::binary);
  if (!in) return Status::not_found(csv + ": cannot open");
  std::error_code ec;
  const auto size = std::filesystem::file_size(csv, ec);
  if (!ec && size > kMaxTilesCsvBytes) {
    return Status::invalid_argument(csv + ": " + std::to_string(size) + " bytes, a tiles CSV holds at most " +
                                    std::to_string(kMaxTilesCsvBytes));
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::io_error(csv + ": read failed");
  VSLIDE_ASSIGN_OR_RETURN(TilesCsv rows, parse_tiles_csv(text, csv, units));
  ImportPlan plan;
  plan.source = csv;
  plan.units = rows.units;
  const auto base = std::filesystem::path(csv).parent_path();
  std::map<std::string, size_t> file_index;
  std::map<std::pair<int, int>, size_t> field_index;
  for (const TilesCsvRow& r : rows.rows) {
    const std::string where = csv + " line " + std::to_string(r.line);
    const std::filesystem::path p = r.path;
    const std::string path = p.is_absolute() ? p.string() : (base / p).string();
    auto [fit, new_file] = file_index.emplace(path, plan.files.size());
    if (new_file) {
      auto dir = TiffDirectory::open(path);
      if (!dir.ok()) return dir.status().with_context(where + ": tile " + r.key.to_string());
      plan.files.push_back(std::move(dir).value());
    }
    const TiffDirectory& dir = plan.files[fit->second];
    if (r.page < 0 && dir.pages.size() > 1) {
      return Status::invalid_argument(where + ": " + path + " has " + std::to_string(dir.pages.size()) +
                                      " pages; say which in a 'page' column, or import an OME-TIFF with --ome-tiff");
    }
    if (r.page >= int(dir.pages.size())) {
      return Status::out_of_range(where + ": page " + std::to_string(r.page) + " but " + path + " has " +
                                  std::to_string(dir.pages.size()));
    }
    // The parser made sure every row of a field gives the same position.
    auto [fld, new_field] = field_index.emplace(std::pair{r.key.row, r.key.col}, plan.fields.size());
    if (new_field) plan.fields.push_back(ImportField{r.key.row, r.key.col, r.x, r.y, r.z_um, where});
    plan.planes.push_back(ImportPlane{r.key, fld->second, fit->second, std::max(r.page, 0), where});
    if (dir.pixel_size_um && !plan.pixel_size_um) plan.pixel_size_um = dir.pixel_size_um;
  }
  return plan;
}

}  // namespace vslide::cli
