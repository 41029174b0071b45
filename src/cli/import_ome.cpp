// OME-TIFF input of `vslide import-tiles`: each OME <Image> is one field of
// view, placed at its planes' PositionX/PositionY; each plane lands on
// (channel, z, t) = (TheC, TheZ, TheT) from the page its <TiffData> names.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "import_plan.h"

namespace vslide::cli {
namespace {

namespace fs = std::filesystem;

Result<std::vector<std::string>> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(in, ec)) {
        const std::string name = e.path().filename().string();
        auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
        if (ends(".ome.tif") || ends(".ome.tiff")) found.push_back(e.path().string());
      }
      if (found.empty()) return Status::not_found(in + ": no *.ome.tif or *.ome.tiff files in this folder");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(in);
    }
  }
  return files;
}

// One plane's stage position, falling back on the image's StageLabel.
struct Where {
  std::optional<double> x, y, z;
};

}  // namespace

Result<ImportPlan> plan_from_ome_tiff(const std::vector<std::string>& inputs, PositionUnits units) {
  VSLIDE_ASSIGN_OR_RETURN(std::vector<std::string> paths, expand_inputs(inputs));
  ImportPlan plan;
  plan.source = paths.front();
  plan.units = units == PositionUnits::kUnknown ? PositionUnits::kMicrometres : units;
  std::map<std::string, size_t> file_index;  // canonical path -> plan.files
  auto add_file = [&](const std::string& path) -> Result<size_t> {
    std::error_code ec;
    const std::string key = fs::weakly_canonical(path, ec).string();
    auto it = file_index.find(key);
    if (it != file_index.end()) return it->second;
    VSLIDE_ASSIGN_OR_RETURN(TiffDirectory dir, TiffDirectory::open(path));
    plan.files.push_back(std::move(dir));
    file_index[key] = plan.files.size() - 1;
    return plan.files.size() - 1;
  };
  // (file, page) -> plane that claims it: each page once, every page claimed.
  std::map<std::pair<size_t, int>, std::string> claimed;
  // An image is known by its ID and the page of its first plane: Micro-Manager
  // repeats a set's XML in every file (same ID, same page), while files written
  // one by one all call their image "Image:0" (same ID, other pages).
  std::set<std::string> images_seen;
  std::optional<std::pair<double, std::string>> pixel_size;
  for (const std::string& path : paths) {
    VSLIDE_ASSIGN_OR_RETURN(size_t self, add_file(path));
    const std::string desc = plan.files[self].description;
    // Micro-Manager and Bio-Formats write the metadata of a file set into
    // one file; the others say <BinaryOnly>: their pages must be claimed by it.
    if (desc.find("<OME") != std::string::npos && desc.find("<BinaryOnly") != std::string::npos) continue;
    if (desc.find("<OME") == std::string::npos) {
      return Status::invalid_argument(path + ": no OME-XML in the first page's ImageDescription (not an OME-TIFF;"
                                      " list plain TIFFs in a --tiles-csv)");
    }
    VSLIDE_ASSIGN_OR_RETURN(OmeMetadata meta, parse_ome_xml(desc, path));
    VSLIDE_ASSIGN_OR_RETURN(std::vector<OmePlaneRef> refs, map_ome_planes(meta, path));
    const fs::path folder = fs::path(path).parent_path();
    auto file_of = [&](const OmePlaneRef& r) -> Result<size_t> {
      if (r.file_name.empty()) return self;
      auto f = add_file((folder / r.file_name).string());
      if (!f.ok()) return f.status().with_context(path + ": TiffData names " + r.file_name);
      return *f;
    };
    std::vector<std::string> first_page(meta.images.size());
    for (const OmePlaneRef& r : refs) {
      if (!first_page[size_t(r.image)].empty()) continue;
      VSLIDE_ASSIGN_OR_RETURN(size_t f, file_of(r));
      first_page[size_t(r.image)] = std::to_string(f) + ":" + std::to_string(r.ifd);
    }
    std::vector<size_t> field_of_image(meta.images.size(), SIZE_MAX);
    for (size_t i = 0; i < meta.images.size(); ++i) {
      const OmeImage& img = meta.images[i];
      const std::string label = path + " image '" + (img.id.empty() ? std::to_string(i) : img.id) + "'";
      if (img.type != "uint16") {
        return Status::invalid_argument(label + ": pixel type '" + img.type + "', vslide imports uint16");
      }
      for (const auto& ch : img.channels) {
        if (ch.samples_per_pixel != 1) {
          return Status::invalid_argument(label + ": channel '" + ch.name + "' has " +
                                          std::to_string(ch.samples_per_pixel) + " samples per pixel (RGB?); vslide imports grayscale");
        }
      }
      if (img.physical_size_x_um) {
        const double px = *img.physical_size_x_um;
        if (img.physical_size_y_um && std::abs(*img.physical_size_y_um - px) > 1e-3 * px) {
          return Status::invalid_argument(label + ": pixels are " + format_number(px) + " x " + format_number(*img.physical_size_y_um) +
                                          " um, vslide needs square pixels");
        }
        if (pixel_size && std::abs(pixel_size->first - px) > 1e-3 * px) {
          return Status::invalid_argument(label + ": PhysicalSizeX " + format_number(px) + " um but " + pixel_size->second +
                                          " says " + format_number(pixel_size->first) + " um");
        }
        if (!pixel_size) pixel_size = std::pair{px, label};
      }
      if (plan.ome_channels.empty()) plan.ome_channels = img.channels;
      if (!images_seen.insert(img.id + "@" + first_page[i]).second) continue;
      // The image's position: every plane must agree on x and y (within a pixel).
      std::optional<double> x, y, z;
      std::string first_at;
      const double tol = img.physical_size_x_um.value_or(1.0);  // one pixel
      for (const OmePlane& p : img.planes) {
        if (!p.x_um || !p.y_um) continue;
        const std::string at = "plane c=" + std::to_string(p.c) + " z=" + std::to_string(p.z) + " t=" + std::to_string(p.t);
        if (!x) {
          x = p.x_um, y = p.y_um, z = p.z_um, first_at = at;
        } else if (std::abs(*x - *p.x_um) > tol || std::abs(*y - *p.y_um) > tol) {
          return Status::invalid_argument(label + ": " + at + " lies at (" + format_number(*p.x_um) + ", " + format_number(*p.y_um) +
                                          ") but " + first_at + " at (" + format_number(*x) + ", " + format_number(*y) +
                                          "): a field of view has one position; write one image per stage position");
        }
        if (p.z == 0 && p.c == 0 && p.t == 0 && p.z_um) z = p.z_um;
      }
      if (!x && img.stage_x_um && img.stage_y_um) x = img.stage_x_um, y = img.stage_y_um, z = img.stage_z_um;
      if (!x) {
        if (meta.images.size() > 1 || paths.size() > 1) {
          return Status::invalid_argument(label + ": no stage position (Plane PositionX/PositionY or StageLabel X/Y);"
                                          " list the planes in a --tiles-csv with their positions instead");
        }
        x = 0, y = 0;  // a single field needs none
      }
      field_of_image[i] = plan.fields.size();
      plan.fields.push_back(ImportField{-1, -1, *x, *y, z.value_or(0), label});
    }
    for (const OmePlaneRef& r : refs) {
      if (field_of_image[size_t(r.image)] == SIZE_MAX) continue;  // described by an earlier file already
      const OmeImage& img = meta.images[size_t(r.image)];
      VSLIDE_ASSIGN_OR_RETURN(size_t file, file_of(r));
      const TiffDirectory& dir = plan.files[file];
      const std::string what = "image '" + img.id + "' plane c=" + std::to_string(r.c) + " z=" + std::to_string(r.z) +
                               " t=" + std::to_string(r.t);
      if (r.ifd >= int(dir.pages.size())) {
        return Status::invalid_argument(path + ": " + what + " is on page " + std::to_string(r.ifd) + " of " + dir.path +
                                        ", which has " + std::to_string(dir.pages.size()) + " pages");
      }
      auto [it, fresh] = claimed.emplace(std::pair{file, r.ifd}, what);
      if (!fresh) {
        return Status::invalid_argument(dir.path + " page " + std::to_string(r.ifd) + " is claimed by " + it->second +
                                        " and by " + what);
      }
      if (img.size_x != int(dir.pages[size_t(r.ifd)].width) || img.size_y != int(dir.pages[size_t(r.ifd)].height)) {
        return Status::invalid_argument(dir.path + " page " + std::to_string(r.ifd) + " is " +
                                        std::to_string(dir.pages[size_t(r.ifd)].width) + "x" +
                                        std::to_string(dir.pages[size_t(r.ifd)].height) + " but " + what + " is " +
                                        std::to_string(img.size_x) + "x" + std::to_string(img.size_y));
      }
      plan.planes.push_back(ImportPlane{TileKey{-1, -1, r.c, r.z, r.t}, field_of_image[size_t(r.image)], file, r.ifd,
                                        dir.path + " page " + std::to_string(r.ifd) + " (" + what + ")"});
    }
  }
  // Nothing dropped silently: every page of every file is some plane.
  for (size_t f = 0; f < plan.files.size(); ++f) {
    for (const TiffPage& p : plan.files[f].pages) {
      if (!claimed.count({f, p.index})) {
        return Status::invalid_argument(plan.files[f].path + " page " + std::to_string(p.index) + " of " +
                                        std::to_string(plan.files[f].pages.size()) +
                                        " is not described by the OME-XML: refusing to drop it (give it its own"
                                        " --tiles-csv row with a page column, or fix the metadata)");
      }
    }
  }
  if (plan.planes.empty()) return Status::invalid_argument(plan.source + ": the OME-XML describes no planes");
  if (pixel_size) plan.pixel_size_um = pixel_size->first;
  return plan;
}

}  // namespace vslide::cli
