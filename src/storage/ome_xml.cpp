#include "vslide/storage/ome_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>

namespace vslide {
namespace {

constexpr int kMaxDim = 65536;
constexpr long kMaxPlanes = 1000000;

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};

bool named(const xmlNode* n, const char* local) {
  return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, reinterpret_cast<const xmlChar*>(local)) == 0;
}

std::optional<std::string> attr(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
  if (v == nullptr) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

// A small reader of typed attributes that keeps the first error.
struct Attrs {
  const xmlNode* node;
  std::string where;
  Status* error;

  void fail(const std::string& name, const std::string& value, const std::string& want) const {
    if (error->ok()) *error = Status::invalid_argument(where + ": " + name + "=\"" + value + "\" is not " + want);
  }
  std::optional<long> integer(const char* name, long lo, long hi) const {
    auto s = attr(node, name);
    if (!s) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(s->c_str(), &end, 10);
    if (s->empty() || *end != '\0' || errno != 0 || v < lo || v > hi) {
      fail(name, *s, "an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
      return std::nullopt;
    }
    return v;
  }
  std::optional<double> real(const char* name) const {
    auto s = attr(node, name);
    if (!s) return std::nullopt;
    char* end = nullptr;
    double v = std::strtod(s->c_str(), &end);
    if (s->empty() || *end != '\0' || !std::isfinite(v)) {
      fail(name, *s, "a finite number");
      return std::nullopt;
    }
    return v;
  }
  // A length attribute in micrometres (unit attribute `name` + "Unit").
  std::optional<double> length_um(const char* name, bool position) const {
    auto v = real(name);
    if (!v) return std::nullopt;
    auto unit = attr(node, (std::string(name) + "Unit").c_str());
    static const std::map<std::string, double> kUm = {
        {"µm", 1},   {"um", 1},   {"micron", 1}, {"\xce\xbcm", 1}, {"nm", 1e-3}, {"pm", 1e-6}, {"Å", 1e-4},
        {"mm", 1e3}, {"cm", 1e4}, {"m", 1e6}};
    if (!unit || (position && *unit == "reference frame")) return *v;
    auto it = kUm.find(*unit);
    if (it == kUm.end()) {
      fail(std::string(name) + "Unit", *unit, "a length unit vslide knows (nm, µm, mm, m)");
      return std::nullopt;
    }
    return *v * it->second;
  }
  std::optional<double> wavelength_nm(const char* name) const {
    auto v = real(name);
    if (!v) return std::nullopt;
    auto unit = attr(node, (std::string(name) + "Unit").c_str());
    if (!unit || *unit == "nm") return *v;
    if (*unit == "µm" || *unit == "um") return *v * 1e3;
    fail(std::string(name) + "Unit", *unit, "nm or µm");
    return std::nullopt;
  }
};

Status parse_image(const xmlNode* node, const std::string& where, OmeImage* img) {
  Status err;
  img->id = attr(node, "ID").value_or("");
  img->name = attr(node, "Name").value_or("");
  const std::string here = where + ": image '" + (img->id.empty() ? img->name : img->id) + "'";
  for (const xmlNode* c = node->children; c; c = c->next) {
    if (named(c, "StageLabel")) {
      Attrs a{c, here + " StageLabel", &err};
      img->stage_x_um = a.length_um("X", true);
      img->stage_y_um = a.length_um("Y", true);
      img->stage_z_um = a.length_um("Z", true);
    }
    if (!named(c, "Pixels")) continue;
    Attrs p{c, here + " Pixels", &err};
    img->size_x = int(p.integer("SizeX", 1, kMaxDim).value_or(0));
    img->size_y = int(p.integer("SizeY", 1, kMaxDim).value_or(0));
    img->size_c = int(p.integer("SizeC", 1, kMaxDim).value_or(1));
    img->size_z = int(p.integer("SizeZ", 1, kMaxDim).value_or(1));
    img->size_t = int(p.integer("SizeT", 1, kMaxDim).value_or(1));
    img->dimension_order = attr(c, "DimensionOrder").value_or("XYZCT");
    img->type = attr(c, "Type").value_or("");
    img->physical_size_x_um = p.length_um("PhysicalSizeX", false);
    img->physical_size_y_um = p.length_um("PhysicalSizeY", false);
    if (!err.ok()) return err;
    if (img->size_x == 0 || img->size_y == 0) return Status::invalid_argument(here + ": Pixels lacks SizeX or SizeY");
    static const char* kOrders[] = {"XYZCT", "XYZTC", "XYCTZ", "XYCZT", "XYTCZ", "XYTZC"};
    if (std::find(std::begin(kOrders), std::end(kOrders), img->dimension_order) == std::end(kOrders)) {
      return Status::invalid_argument(here + ": unknown DimensionOrder \"" + img->dimension_order + "\"");
    }
    if (long(img->size_c) * img->size_z * img->size_t > kMaxPlanes) {
      return Status::invalid_argument(here + ": " + std::to_string(long(img->size_c) * img->size_z * img->size_t) +
                                      " planes, more than vslide accepts (" + std::to_string(kMaxPlanes) + ")");
    }
    for (const xmlNode* k = c->children; k; k = k->next) {
      if (named(k, "Channel")) {
        Attrs a{k, here + " Channel " + std::to_string(img->channels.size()), &err};
        OmeChannel ch;
        ch.name = attr(k, "Name").value_or("");
        if (auto col = a.integer("Color", -2147483648L, 4294967295L)) {
          const uint32_t v = uint32_t(*col);
          ch.color = Rgb{float((v >> 24) & 255) / 255.0f, float((v >> 16) & 255) / 255.0f, float((v >> 8) & 255) / 255.0f};
        }
        ch.excitation_nm = a.wavelength_nm("ExcitationWavelength");
        ch.emission_nm = a.wavelength_nm("EmissionWavelength");
        ch.samples_per_pixel = int(a.integer("SamplesPerPixel", 1, 64).value_or(1));
        img->channels.push_back(std::move(ch));
      } else if (named(k, "Plane")) {
        Attrs a{k, here + " Plane " + std::to_string(img->planes.size()), &err};
        OmePlane pl;
        pl.c = int(a.integer("TheC", 0, img->size_c - 1).value_or(0));
        pl.z = int(a.integer("TheZ", 0, img->size_z - 1).value_or(0));
        pl.t = int(a.integer("TheT", 0, img->size_t - 1).value_or(0));
        pl.x_um = a.length_um("PositionX", true);
        pl.y_um = a.length_um("PositionY", true);
        pl.z_um = a.length_um("PositionZ", true);
        img->planes.push_back(pl);
      } else if (named(k, "TiffData")) {
        Attrs a{k, here + " TiffData " + std::to_string(img->tiff_data.size()), &err};
        OmeTiffData td;
        auto ifd = a.integer("IFD", 0, 100000000);
        td.has_ifd = ifd.has_value();
        td.ifd = int(ifd.value_or(0));
        td.first_c = int(a.integer("FirstC", 0, img->size_c - 1).value_or(0));
        td.first_z = int(a.integer("FirstZ", 0, img->size_z - 1).value_or(0));
        td.first_t = int(a.integer("FirstT", 0, img->size_t - 1).value_or(0));
        td.plane_count = int(a.integer("PlaneCount", 0, kMaxPlanes).value_or(-1));
        for (const xmlNode* u = k->children; u; u = u->next) {
          if (named(u, "UUID")) td.file_name = attr(u, "FileName").value_or("");
        }
        img->tiff_data.push_back(std::move(td));
      }
      if (!err.ok()) return err;
    }
  }
  if (img->size_x == 0) return Status::invalid_argument(here + ": no <Pixels> element");
  return err;
}

}  // namespace

int OmeImage::plane_index(int c, int z, int t) const {
  const char a = dimension_order[2], b = dimension_order[3];
  auto size = [&](char d) { return d == 'C' ? size_c : d == 'Z' ? size_z : size_t; };
  auto coord = [&](char d) { return d == 'C' ? c : d == 'Z' ? z : t; };
  const char last = dimension_order[4];
  return coord(a) + size(a) * (coord(b) + size(b) * coord(last));
}

void OmeImage::plane_coords(int index, int* c, int* z, int* t) const {
  int v[3];
  const int sa = dimension_order[2] == 'C' ? size_c : dimension_order[2] == 'Z' ? size_z : size_t;
  const int sb = dimension_order[3] == 'C' ? size_c : dimension_order[3] == 'Z' ? size_z : size_t;
  v[0] = index % sa;
  v[1] = (index / sa) % sb;
  v[2] = index / (sa * sb);
  for (int i = 0; i < 3; ++i) {
    const char d = dimension_order[2 + i];
    (d == 'C' ? *c : d == 'Z' ? *z : *t) = v[i];
  }
}

Result<OmeMetadata> parse_ome_xml(std::string_view xml, const std::string& where) {
  if (xml.size() > (size_t(256) << 20)) return Status::invalid_argument(where + ": OME-XML larger than 256 MB");
  std::unique_ptr<xmlDoc, DocFree> doc(xmlReadMemory(xml.data(), int(xml.size()), "ome.xml", nullptr,
                                                     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) {
    const xmlError* e = xmlGetLastError();
    std::string why = e && e->message ? e->message : "malformed XML";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Status::invalid_argument(where + ": OME-XML does not parse (" + why +
                                    (e ? ", line " + std::to_string(e->line) : std::string()) + ")");
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (root == nullptr || !named(root, "OME")) return Status::invalid_argument(where + ": XML root is not <OME>");
  OmeMetadata meta;
  for (const xmlNode* n = root->children; n; n = n->next) {
    if (!named(n, "Image")) continue;
    OmeImage img;
    VSLIDE_RETURN_IF_ERROR(parse_image(n, where, &img));
    meta.images.push_back(std::move(img));
  }
  if (meta.images.empty()) return Status::invalid_argument(where + ": OME-XML describes no <Image>");
  return meta;
}

Result<std::vector<OmePlaneRef>> map_ome_planes(const OmeMetadata& meta, const std::string& where) {
  std::vector<OmePlaneRef> out;
  int next_ifd = 0;  // for images without TiffData: pages follow one another
  for (size_t i = 0; i < meta.images.size(); ++i) {
    const OmeImage& img = meta.images[i];
    const std::string here = where + ": image '" + (img.id.empty() ? img.name : img.id) + "'";
    const int n = img.plane_count();
    std::vector<int> ifd(static_cast<size_t>(n), -1);
    std::vector<std::string> file(static_cast<size_t>(n));
    auto assign = [&](int index, int page, const std::string& f) -> Status {
      int c, z, t;
      img.plane_coords(index, &c, &z, &t);
      if (ifd[size_t(index)] >= 0 && (ifd[size_t(index)] != page || file[size_t(index)] != f)) {
        return Status::invalid_argument(here + ": plane c=" + std::to_string(c) + " z=" + std::to_string(z) + " t=" +
                                        std::to_string(t) + " is given two pages (" + std::to_string(ifd[size_t(index)]) +
                                        " and " + std::to_string(page) + ")");
      }
      ifd[size_t(index)] = page;
      file[size_t(index)] = f;
      return Status();
    };
    if (img.tiff_data.empty()) {
      for (int k = 0; k < n; ++k) VSLIDE_RETURN_IF_ERROR(assign(k, next_ifd + k, ""));
      next_ifd += n;
    }
    for (const OmeTiffData& td : img.tiff_data) {
      const int first = img.plane_index(td.first_c, td.first_z, td.first_t);
      int count = td.plane_count;
      if (count < 0) count = (td.has_ifd || td.first_c || td.first_z || td.first_t) ? 1 : n;
      if (first + count > n) {
        return Status::invalid_argument(here + ": TiffData at IFD " + std::to_string(td.ifd) + " claims " +
                                        std::to_string(count) + " planes from plane " + std::to_string(first) +
                                        ", the image has " + std::to_string(n));
      }
      for (int k = 0; k < count; ++k) VSLIDE_RETURN_IF_ERROR(assign(first + k, td.ifd + k, td.file_name));
    }
    for (int k = 0; k < n; ++k) {
      int c, z, t;
      img.plane_coords(k, &c, &z, &t);
      if (ifd[size_t(k)] < 0) {
        return Status::invalid_argument(here + ": plane c=" + std::to_string(c) + " z=" + std::to_string(z) + " t=" +
                                        std::to_string(t) + " has no page (no TiffData covers it)");
      }
      out.push_back(OmePlaneRef{int(i), c, z, t, file[size_t(k)], ifd[size_t(k)]});
    }
  }
  return out;
}

}  // namespace vslide
