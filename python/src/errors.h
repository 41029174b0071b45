// Python exceptions that carry vslide's Status: vslide.VslideError and one
// subclass per StatusCode (NotFoundError is also a LookupError,
// InvalidArgumentError a ValueError, OutOfRangeError an IndexError,
// IOError an OSError, UnavailableError a ConnectionError, ...). Each
// instance has `.code` (the StatusCode name) and the message vslide wrote.
#pragma once

#include <pybind11/pybind11.h>

#include "vslide/core/status.h"

namespace vslide::python {

// Thrown by binding code; translated into the matching Python exception.
struct StatusError {
  Status status;
};

// Creates the exception classes in `m` and registers the translator.
void register_errors(pybind11::module_& m);

// Throws StatusError when `s` is not OK.
inline void check(const Status& s) {
  if (!s.ok()) throw StatusError{s};
}
template <typename T>
T unwrap(Result<T>&& r) {
  if (!r.ok()) throw StatusError{r.status()};
  return std::move(r).value();
}

}  // namespace vslide::python
