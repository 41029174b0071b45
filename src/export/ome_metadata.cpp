// OME metadata for both formats: OME-XML (OME 2016-06 schema, as Bio-Formats
// reads it) and OME-Zarr 0.5 "ome" attributes (multiscales + omero).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "pyramid_sink.h"

namespace vslide {
namespace {

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

uint8_t to_byte(float v) { return uint8_t(std::lround(std::clamp(v, 0.0f, 1.0f) * 255)); }

// "RRGGBB" (omero) from the channel's display colour.
std::string hex_rgb(const Rgb& c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02X%02X%02X", to_byte(c.r), to_byte(c.g), to_byte(c.b));
  return buf;
}

std::string number(double v) {
  std::ostringstream ss;
  ss.precision(12);
  ss << v;
  return ss.str();
}

const ChannelInfo& channel_info(const SlideSource& src, int32_t c, ChannelInfo* fallback) {
  if (c >= 0 && size_t(c) < src.channels().size()) return src.channels()[size_t(c)];
  fallback->name = "Channel " + std::to_string(c);
  return *fallback;
}

}  // namespace

std::string ome_xml(const SlideSource& src, const FusionPlan& plan) {
  const SlideHeader& h = src.header();
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\" "
       "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
       "xsi:schemaLocation=\"http://www.openmicroscopy.org/Schemas/OME/2016-06 "
       "http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd\" Creator=\"vslide\">\n";
  x << "  <Image ID=\"Image:0\" Name=\"" << xml_escape(h.name.empty() ? h.slide_id : h.name) << "\">\n";
  if (!h.date.empty()) x << "    <AcquisitionDate>" << xml_escape(h.date) << "</AcquisitionDate>\n";
  x << "    <Description>" << xml_escape("vslide export of " + h.slide_id + " (fused " +
                                         std::string(plan.registered ? "registered" : "stage") +
                                         " positions; origin " + number(plan.origin_x_um) + "," +
                                         number(plan.origin_y_um) + " um)")
    << "</Description>\n";
  x << "    <Pixels ID=\"Pixels:0\" DimensionOrder=\"XYCZT\" Type=\"uint16\" SignificantBits=\"16\" "
    << "BigEndian=\"false\" Interleaved=\"false\" SizeX=\"" << plan.width << "\" SizeY=\"" << plan.height
    << "\" SizeC=\"" << plan.channels.size() << "\" SizeZ=\"" << plan.z_planes << "\" SizeT=\"" << plan.timepoints
    << "\" PhysicalSizeX=\"" << number(plan.pixel_size_um) << "\" PhysicalSizeXUnit=\"µm\" PhysicalSizeY=\""
    << number(plan.pixel_size_um) << "\" PhysicalSizeYUnit=\"µm\">\n";
  for (size_t i = 0; i < plan.channels.size(); ++i) {
    ChannelInfo fallback;
    const ChannelInfo& c = channel_info(src, plan.channels[i], &fallback);
    const uint32_t rgba = (uint32_t(to_byte(c.color.r)) << 24) | (uint32_t(to_byte(c.color.g)) << 16) |
                          (uint32_t(to_byte(c.color.b)) << 8) | 0xffu;
    x << "      <Channel ID=\"Channel:0:" << i << "\" Name=\"" << xml_escape(c.name) << "\" SamplesPerPixel=\"1\" Color=\""
      << int32_t(rgba) << "\"";
    if (c.excitation_nm > 0) x << " ExcitationWavelength=\"" << number(c.excitation_nm) << "\" ExcitationWavelengthUnit=\"nm\"";
    if (c.emission_nm > 0) x << " EmissionWavelength=\"" << number(c.emission_nm) << "\" EmissionWavelengthUnit=\"nm\"";
    x << "><LightPath/></Channel>\n";
  }
  x << "      <TiffData IFD=\"0\" PlaneCount=\"" << plan.output_planes() << "\"/>\n";
  x << "    </Pixels>\n  </Image>\n</OME>\n";
  return x.str();
}

nlohmann::json ome_zarr_attributes(const SlideSource& src, const FusionPlan& plan) {
  using nlohmann::json;
  json axes = json::array({{{"name", "t"}, {"type", "time"}},
                           {{"name", "c"}, {"type", "channel"}},
                           {{"name", "z"}, {"type", "space"}, {"unit", "micrometer"}},
                           {{"name", "y"}, {"type", "space"}, {"unit", "micrometer"}},
                           {{"name", "x"}, {"type", "space"}, {"unit", "micrometer"}}});
  json datasets = json::array();
  for (int32_t l = 0; l < plan.levels; ++l) {
    const double f = double(int64_t(1) << l);
    const double s = plan.pixel_size_um * f;
    // Pixel centres: level L's pixel 0 is centred on the mean of level 0's first 2^L pixels.
    const double shift = (f - 1) / 2 * plan.pixel_size_um;
    datasets.push_back({{"path", std::to_string(l)},
                        {"coordinateTransformations",
                         json::array({{{"type", "scale"}, {"scale", {1.0, 1.0, 1.0, s, s}}},
                                      {{"type", "translation"},
                                       {"translation", {0.0, 0.0, 0.0, plan.origin_y_um + shift,
                                                        plan.origin_x_um + shift}}}})}});
  }
  const SlideHeader& h = src.header();
  json multiscale = {{"name", h.name.empty() ? h.slide_id : h.name},
                     {"axes", axes},
                     {"datasets", datasets},
                     {"type", "mean"},
                     {"metadata",
                      {{"description", "fused mosaic; each level fused from the fields' planes box-averaged by 2^L "
                                       "(stored zoom layers where present); linear feathering in overlaps"},
                       {"method", "vslide export"},
                       {"registered_positions", plan.registered}}}};
  json channels = json::array();
  for (int32_t c : plan.channels) {
    ChannelInfo fallback;
    const ChannelInfo& ci = channel_info(src, c, &fallback);
    channels.push_back({{"label", ci.name},
                        {"color", hex_rgb(ci.color)},
                        {"active", true},
                        {"coefficient", 1},
                        {"family", "linear"},
                        {"inverted", false},
                        {"window",
                         {{"min", 0}, {"max", 65535}, {"start", ci.contrast_low}, {"end", ci.contrast_high}}}});
  }
  json omero = {{"name", h.name.empty() ? h.slide_id : h.name},
                {"channels", channels},
                {"rdefs", {{"defaultT", 0}, {"defaultZ", plan.z_planes / 2}, {"model", "color"}}}};
  return {{"version", "0.5"}, {"multiscales", json::array({multiscale})}, {"omero", omero}};
}

}  // namespace vslide
