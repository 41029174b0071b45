// The `vslide` Python module (compiled part, vslide._vslide): a Slide opened
// from a file path or a tcp:// / ipc:// URL, read as numpy arrays.
//
// Arrays from read(), read_region(), read_labels() and overview() own their
// pixels through a capsule around the decoded buffer: no copy is made after
// the decode. The GIL is released while tiles are read and decoded.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>

#include "errors.h"
#include "region.h"
#include "slide_types.h"
#include "vslide/remote/open_slide.h"

namespace py = pybind11;

namespace vslide::python {

struct FieldRecord {
  int32_t row, col;
  double stage_x_um, stage_y_um, stage_z_um, acquired_unix_s;
  int32_t planes_present;
};
struct PlacementRecord {
  int32_t row, col;
  double x_um, y_um;
  bool measured;
  double residual_px;
};

namespace {

// A numpy array over `owner`'s memory; the array keeps `owner` alive.
template <typename T, typename Owner>
py::array_t<T> owned_array(std::unique_ptr<Owner> owner, T* data, std::vector<py::ssize_t> shape) {
  py::capsule cap(owner.get(), [](void* p) { delete static_cast<Owner*>(p); });
  owner.release();
  return py::array_t<T>(shape, data, cap);
}

py::array_t<uint16_t> image_array(Image16&& img) {
  auto owner = std::make_unique<Image16>(std::move(img));
  const std::vector<py::ssize_t> shape{owner->height(), owner->width()};
  uint16_t* data = owner->data();
  return owned_array(std::move(owner), data, shape);
}

class Slide {
 public:
  explicit Slide(const std::string& path_or_url) {
    Result<std::unique_ptr<SlideSource>> s = [&] {
      py::gil_scoped_release nogil;
      return open_slide(path_or_url);
    }();
    slide_ = std::shared_ptr<SlideSource>(unwrap(std::move(s)));
    where_ = slide_->describe();
  }

  // The open slide; FailedPrecondition after close().
  std::shared_ptr<SlideSource> get() const {
    if (!slide_) throw StatusError{Status::failed_precondition(where_ + ": the slide is closed")};
    return slide_;
  }
  void close() { slide_.reset(); }
  const std::string& where() const { return where_; }

 private:
  std::shared_ptr<SlideSource> slide_;
  std::string where_;
};

py::array_t<FieldRecord> fields_array(const SlideSource& s) {
  auto index = s.index();
  py::array_t<FieldRecord> out(py::ssize_t(index->entries().size()));
  auto v = out.mutable_unchecked<1>();
  py::ssize_t i = 0;
  for (const auto& e : index->entries()) {
    int32_t n = 0;
    for (bool b : e.planes) n += b;
    v(i++) = FieldRecord{e.field.row, e.field.col, e.field.stage_x_um, e.field.stage_y_um, e.field.stage_z_um,
                         e.field.acquired_unix_s, n};
  }
  return out;
}

py::object registration_object(const SlideSource& s) {
  auto r = s.read_registration();
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kNotFound) return py::none();
    throw StatusError{r.status()};
  }
  py::array_t<PlacementRecord> fields(py::ssize_t(r->fields.size()));
  auto v = fields.mutable_unchecked<1>();
  for (size_t i = 0; i < r->fields.size(); ++i) {
    const auto& f = r->fields[i];
    v(py::ssize_t(i)) = PlacementRecord{f.row, f.col, f.x_um, f.y_um, f.measured, f.residual_px};
  }
  py::dict d;
  d["fields"] = fields;
  d["channel_offsets"] = r->channel_offsets;
  d["reference_channel"] = r->reference_channel;
  d["report"] = r->report_json.empty() ? py::object(py::none())
                                       : py::module_::import("json").attr("loads")(r->report_json);
  return d;
}

py::array_t<uint16_t> read_plane(const Slide& self, int32_t row, int32_t col, int32_t channel, int32_t z, int32_t t,
                                 int32_t level) {
  auto s = self.get();
  Result<Image16> img = [&] {
    py::gil_scoped_release nogil;
    return s->read(TileKey{row, col, channel, z, t, level});
  }();
  return image_array(unwrap(std::move(img)));
}

py::array_t<uint16_t> read_region(const Slide& self, int64_t x0, int64_t y0, int64_t x1, int64_t y1, int32_t level,
                                  py::object channels, int32_t z, int32_t t, bool flatfield, bool registered,
                                  unsigned threads) {
  auto s = self.get();
  RegionRequest req{x0, y0, x1, y1, level, {}, z, t, flatfield, registered, threads};
  // One channel (an int, numpy's too) gives a 2-D array; a list, a 3-D one.
  const bool single = !channels.is_none() && !py::isinstance<py::sequence>(channels) && py::hasattr(channels, "__index__");
  if (single) {
    req.channels.push_back(py::cast<int32_t>(channels.attr("__index__")()));
  } else if (!channels.is_none()) {
    req.channels = channels.cast<std::vector<int32_t>>();
    if (req.channels.empty()) throw StatusError{Status::invalid_argument("read_region: channels is an empty list")};
  }
  auto buf = std::make_unique<std::vector<uint16_t>>();
  int64_t w = 0, h = 0;
  {
    py::gil_scoped_release nogil;
    check(fuse_region(*s, req, buf.get(), &w, &h));
  }
  const py::ssize_t c = py::ssize_t(buf->size() / size_t(w * h));
  std::vector<py::ssize_t> shape = single ? std::vector<py::ssize_t>{h, w} : std::vector<py::ssize_t>{c, h, w};
  uint16_t* data = buf->data();
  return owned_array(std::move(buf), data, shape);
}

py::array_t<uint32_t> read_labels(const Slide& self, const std::string& layer, int32_t row, int32_t col) {
  auto s = self.get();
  Result<LabelTile> r = [&] {
    py::gil_scoped_release nogil;
    return s->read_labels(layer, TileKey{row, col, 0, 0, 0, 0});
  }();
  auto owner = std::make_unique<LabelTile>(unwrap(std::move(r)));
  const std::vector<py::ssize_t> shape{owner->height, owner->width};
  uint32_t* data = owner->labels.data();
  return owned_array(std::move(owner), data, shape);
}

}  // namespace
}  // namespace vslide::python

PYBIND11_MODULE(_vslide, m) {
  using namespace vslide;
  using namespace vslide::python;
  m.doc() = "vslide: virtual microscope slides (files and tcp:// / ipc:// URLs) as numpy arrays";
  PYBIND11_NUMPY_DTYPE(FieldRecord, row, col, stage_x_um, stage_y_um, stage_z_um, acquired_unix_s, planes_present);
  PYBIND11_NUMPY_DTYPE(PlacementRecord, row, col, x_um, y_um, measured, residual_px);
  register_errors(m);
  bind_types(m);
  py::class_<Slide, std::shared_ptr<Slide>>(m, "Slide", "A virtual slide opened from a file path or a URL.")
      .def(py::init<const std::string&>(), py::arg("path_or_url"))
      .def("close", &Slide::close, "Releases the file or connection; later calls raise FailedPreconditionError.")
      .def("__enter__", [](std::shared_ptr<Slide> s) { return s; })
      .def("__exit__", [](Slide& s, py::args) { s.close(); })
      .def_property_readonly("path", &Slide::where, "the file path or URL")
      .def_property_readonly("header", [](const Slide& s) { return s.get()->header(); })
      .def_property_readonly("geometry", [](const Slide& s) { return s.get()->geometry(); })
      .def_property_readonly("channels", [](const Slide& s) { return s.get()->channels(); })
      .def_property_readonly("channel_names",
                             [](const Slide& s) {
                               std::vector<std::string> n;
                               for (const auto& c : s.get()->channels()) n.push_back(c.name);
                               return n;
                             })
      .def_property_readonly("state", [](const Slide& s) { return std::string(slide_state_name(s.get()->state())); })
      .def_property_readonly("codec", [](const Slide& s) { return s.get()->codec().name(); })
      .def_property_readonly("zoom_levels", [](const Slide& s) { return s.get()->zoom_levels(); })
      .def_property_readonly("fields", [](const Slide& s) { return fields_array(*s.get()); },
                             "tile index: one record per field (row, col, stage_x_um, stage_y_um, stage_z_um, "
                             "acquired_unix_s, planes_present), sorted by (row, col)")
      .def_property_readonly("registration", [](const Slide& s) { return registration_object(*s.get()); },
                             "None, or a dict: fields (row, col, x_um, y_um, measured, residual_px), "
                             "channel_offsets, reference_channel, report")
      .def_property_readonly("frame",
                             [](const Slide& s) {
                               SlideFrame f = unwrap(slide_frame(*s.get()));
                               py::dict d;
                               d["origin_x_um"] = f.origin_x_um;
                               d["origin_y_um"] = f.origin_y_um;
                               d["width"] = f.width;
                               d["height"] = f.height;
                               d["registered"] = f.registered;
                               return d;
                             },
                             "read_region's pixel frame: origin (um) of pixel (0, 0) and the mosaic's size in pixels")
      .def_property_readonly("detection_layers", [](const Slide& s) { return s.get()->detection_layers(); })
      .def("has_plane",
           [](const Slide& s, int32_t row, int32_t col, int32_t channel, int32_t z, int32_t t) {
             auto sl = s.get();
             const MosaicGeometry& g = sl->geometry();
             if (!g.contains(TileKey{row, col, channel, z, t, 0})) return false;
             return sl->index()->has_plane(row, col, g.plane_index(channel, z, t));
           },
           py::arg("row"), py::arg("col"), py::arg("channel") = 0, py::arg("z") = 0, py::arg("t") = 0)
      .def("read", &read_plane, py::arg("row"), py::arg("col"), py::arg("channel") = 0, py::arg("z") = 0,
           py::arg("t") = 0, py::arg("level") = 0,
           "One plane as a (height, width) uint16 array (stored zoom level `level`).")
      .def("read_region", &read_region, py::arg("x0"), py::arg("y0"), py::arg("x1"), py::arg("y1"),
           py::arg("level") = 0, py::arg("channels") = py::none(), py::arg("z") = 0, py::arg("t") = 0,
           py::arg("flatfield") = true, py::arg("registered") = true, py::arg("threads") = 0,
           "The fused mosaic over level-0 pixels [x0, x1) x [y0, y1) (see `frame`), downsampled by 2**level: "
           "(channels, h, w) uint16, or (h, w) when `channels` is one int.")
      .def("overview",
           [](const Slide& s, int32_t channel) {
             auto sl = s.get();
             Result<Overview> o = [&] {
               py::gil_scoped_release nogil;
               return sl->read_overview(channel);
             }();
             Overview ov = unwrap(std::move(o));
             py::dict meta;
             meta["origin_x_um"] = ov.origin_x_um;
             meta["origin_y_um"] = ov.origin_y_um;
             meta["um_per_px"] = ov.um_per_px;
             return py::make_tuple(image_array(std::move(ov.image)), meta);
           },
           py::arg("channel"), "The stored overview of one channel: (array, {origin_x_um, origin_y_um, um_per_px}).")
      .def("flatfield",
           [](const Slide& s, int32_t channel) -> py::object {
             auto r = s.get()->read_flatfield(channel);
             if (!r.ok()) {
               if (r.status().code() == StatusCode::kNotFound) return py::none();
               throw StatusError{r.status()};
             }
             auto owner = std::make_unique<FlatField>(std::move(r).value());
             const std::vector<py::ssize_t> shape{owner->gain_height, owner->gain_width};
             py::dict d;
             d["dark"] = owner->dark;
             float* data = owner->gain.data();
             d["gain"] = owned_array(std::move(owner), data, shape);
             return d;
           },
           py::arg("channel"),
           "None, or the stored shading model of a channel: {dark, gain (gain_height, gain_width) float32, mean 1}; "
           "corrected = dark + (raw - dark) / gain, gain bilinear between grid cell centres.")
      .def("read_labels", &read_labels, py::arg("layer"), py::arg("row"), py::arg("col"),
           "A detection layer's label image of one field: (height, width) uint32, 0 = background.")
      .def("read_objects_json",
           [](const Slide& s, const std::string& layer) { return unwrap(s.get()->read_objects_json(layer)); },
           py::arg("layer"), "A detection layer's object table as JSON text.")
      .def("refresh", [](const Slide& s) { check(s.get()->refresh()); },
           "For a slide still being written: picks up the fields written since open.")
      .def("__repr__", [](const Slide& s) { return "<vslide.Slide " + s.where() + ">"; });
  m.def("open", [](const std::string& p) { return std::make_shared<Slide>(p); }, py::arg("path_or_url"),
        "Opens a slide file or a tcp://host:port/SLIDE_ID or ipc://SOCKET/SLIDE_ID URL.");
}
