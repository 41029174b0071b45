// Python classes for the plain values of a slide: Header, Channel, Geometry,
// Registration pieces. Read-only views (a copy of the slide's values).
#pragma once

#include <pybind11/pybind11.h>

namespace vslide::python {

void bind_types(pybind11::module_& m);

}  // namespace vslide::python
