// OME-XML as microscopes write it into OME-TIFF files (Micro-Manager,
// Bio-Formats, tifffile, ...): images, their channels, per-plane stage
// positions, and which TIFF page holds each plane. Parsed with libxml2
// (no network, no entity expansion); element names are matched without
// their namespace, so every schema year reads the same.
//
// Units are converted on parsing: lengths to micrometres, wavelengths to
// nanometres. A position without a unit, or in the schema's default
// "reference frame", is taken as micrometres (what Micro-Manager and
// Bio-Formats write); an unknown unit is an error that names it.
// Thread-safety: plain values and pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vslide/core/slide_header.h"
#include "vslide/core/status.h"

namespace vslide {

struct OmeChannel {
  std::string name;
  std::optional<Rgb> color;
  std::optional<double> excitation_nm, emission_nm;
  int samples_per_pixel = 1;
};

struct OmePlane {
  int c = 0, z = 0, t = 0;
  std::optional<double> x_um, y_um, z_um;  // stage position (PositionX/Y/Z)
};

// <TiffData>: plane_count planes, consecutive in the image's dimension
// order from (first_c, first_z, first_t), on consecutive pages from `ifd`.
struct OmeTiffData {
  int ifd = 0;
  int first_c = 0, first_z = 0, first_t = 0;
  int plane_count = -1;   // -1: not given (all remaining planes when no IFD was given either, else 1)
  bool has_ifd = false;
  std::string file_name;  // <UUID FileName="...">: another file of the set; empty = this file
};

struct OmeImage {
  std::string id, name;
  int size_x = 0, size_y = 0, size_c = 1, size_z = 1, size_t = 1;
  std::string dimension_order = "XYZCT";
  std::string type;  // "uint16", "uint8", ...
  std::optional<double> physical_size_x_um, physical_size_y_um;
  std::optional<double> stage_x_um, stage_y_um, stage_z_um;  // <StageLabel>
  std::vector<OmeChannel> channels;
  std::vector<OmePlane> planes;
  std::vector<OmeTiffData> tiff_data;

  int plane_count() const { return size_c * size_z * size_t; }
  // Linear position of (c, z, t) in the dimension order (first letter after XY varies fastest).
  int plane_index(int c, int z, int t) const;
  // Inverse of plane_index.
  void plane_coords(int index, int* c, int* z, int* t) const;
};

struct OmeMetadata {
  std::vector<OmeImage> images;
};

// Parses OME-XML text; `where` names the file in messages. InvalidArgument
// for malformed XML, absurd sizes (a dimension outside 1..65536, more than
// 1,000,000 planes) or an unknown unit.
Result<OmeMetadata> parse_ome_xml(std::string_view xml, const std::string& where);

// One plane of one image and the page that holds it.
struct OmePlaneRef {
  int image = 0;
  int c = 0, z = 0, t = 0;
  std::string file_name;  // as the XML names it; empty = the file the XML came from
  int ifd = 0;
};

// Every plane of every image mapped to its page, following the OME-TIFF
// rules for <TiffData> (none at all: image k's planes follow image k-1's on
// consecutive pages). InvalidArgument when a plane is given two pages or a
// plane lacks one, naming the image and the plane.
Result<std::vector<OmePlaneRef>> map_ome_planes(const OmeMetadata& meta, const std::string& where);

}  // namespace vslide
