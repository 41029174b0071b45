#include "slide_types.h"

#include <pybind11/stl.h>

#include "vslide/core/slide_source.h"

namespace py = pybind11;

namespace vslide::python {

void bind_types(py::module_& m) {
  py::class_<SlideHeader>(m, "Header", "Who, what, when: the slide header.")
      .def_readonly("slide_id", &SlideHeader::slide_id)
      .def_readonly("name", &SlideHeader::name)
      .def_readonly("date", &SlideHeader::date)
      .def_readonly("assay", &SlideHeader::assay)
      .def_readonly("instrument", &SlideHeader::instrument)
      .def_readonly("objective", &SlideHeader::objective)
      .def_readonly("magnification", &SlideHeader::magnification)
      .def_readonly("pixel_size_um", &SlideHeader::pixel_size_um)
      .def_readonly("attributes", &SlideHeader::attributes)
      .def("to_dict",
           [](const SlideHeader& h) {
             nlohmann::json j = h;
             return py::module_::import("json").attr("loads")(j.dump());
           })
      .def("__repr__", [](const SlideHeader& h) {
        return "<vslide.Header " + h.slide_id + " '" + h.name + "' " + std::to_string(h.pixel_size_um) + " um/px>";
      });

  py::class_<ChannelInfo>(m, "Channel", "One colour channel: name, wavelengths, display colour and window.")
      .def_readonly("name", &ChannelInfo::name)
      .def_readonly("excitation_nm", &ChannelInfo::excitation_nm)
      .def_readonly("emission_nm", &ChannelInfo::emission_nm)
      .def_property_readonly("color", [](const ChannelInfo& c) { return py::make_tuple(c.color.r, c.color.g, c.color.b); },
                             "display colour as linear (r, g, b) in [0, 1]")
      .def_property_readonly("color_hex", [](const ChannelInfo& c) { return rgb_to_hex(c.color); })
      .def_property_readonly("window", [](const ChannelInfo& c) { return py::make_tuple(c.contrast_low, c.contrast_high); },
                             "default contrast window (low, high)")
      .def("__repr__", [](const ChannelInfo& c) {
        return "<vslide.Channel '" + c.name + "' " + rgb_to_hex(c.color) + " window " + std::to_string(c.contrast_low) +
               ".." + std::to_string(c.contrast_high) + ">";
      });

  py::class_<MosaicGeometry>(m, "Geometry", "Mosaic geometry: rows x cols fields of tile_height x tile_width pixels.")
      .def_readonly("rows", &MosaicGeometry::rows)
      .def_readonly("cols", &MosaicGeometry::cols)
      .def_readonly("channels", &MosaicGeometry::channels)
      .def_readonly("z_planes", &MosaicGeometry::z_planes)
      .def_readonly("timepoints", &MosaicGeometry::timepoints)
      .def_readonly("tile_height", &MosaicGeometry::tile_height)
      .def_readonly("tile_width", &MosaicGeometry::tile_width)
      .def_readonly("pixel_size_um", &MosaicGeometry::pixel_size_um)
      .def_property_readonly("tile_shape", [](const MosaicGeometry& g) { return py::make_tuple(g.tile_height, g.tile_width); })
      .def("__repr__", [](const MosaicGeometry& g) {
        return "<vslide.Geometry " + std::to_string(g.rows) + "x" + std::to_string(g.cols) + " fields, " +
               std::to_string(g.channels) + " channels, " + std::to_string(g.z_planes) + " z, " +
               std::to_string(g.timepoints) + " t, tiles " + std::to_string(g.tile_width) + "x" +
               std::to_string(g.tile_height) + ">";
      });

  py::class_<ChannelOffset>(m, "ChannelOffset", "A colour channel's offset from the reference channel, raw pixels.")
      .def_readonly("channel", &ChannelOffset::channel)
      .def_readonly("dx_px", &ChannelOffset::dx_px)
      .def_readonly("dy_px", &ChannelOffset::dy_px)
      .def_readonly("scale", &ChannelOffset::scale)
      .def_readonly("score", &ChannelOffset::score);
}

}  // namespace vslide::python
