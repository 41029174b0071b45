#include "errors.h"

#include <map>

namespace py = pybind11;

namespace vslide::python {
namespace {

// Owned by the module (kept alive by its attributes); set once at import.
std::map<StatusCode, PyObject*>& classes() {
  static std::map<StatusCode, PyObject*> m;
  return m;
}

}  // namespace

void register_errors(py::module_& m) {
  PyObject* base = PyErr_NewExceptionWithDoc("vslide.VslideError",
                                             "Any error vslide reports; .code names the StatusCode.",
                                             PyExc_RuntimeError, nullptr);
  m.add_object("VslideError", py::handle(base));
  struct Kind {
    StatusCode code;
    const char* name;
    PyObject* builtin;  // a second base, so `except KeyError` etc. work too
  };
  const Kind kinds[] = {
      {StatusCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError},
      {StatusCode::kNotFound, "NotFoundError", PyExc_LookupError},
      {StatusCode::kOutOfRange, "OutOfRangeError", PyExc_IndexError},
      {StatusCode::kCorruption, "CorruptionError", nullptr},
      {StatusCode::kIOError, "IOError", PyExc_OSError},
      {StatusCode::kUnavailable, "UnavailableError", PyExc_ConnectionError},
      {StatusCode::kAlreadyExists, "AlreadyExistsError", nullptr},
      {StatusCode::kFailedPrecondition, "FailedPreconditionError", nullptr},
      {StatusCode::kUnimplemented, "UnimplementedError", PyExc_NotImplementedError},
      {StatusCode::kResourceExhausted, "ResourceExhaustedError", PyExc_MemoryError},
      {StatusCode::kDeadlineExceeded, "DeadlineExceededError", PyExc_TimeoutError},
      {StatusCode::kInternal, "InternalError", nullptr},
  };
  classes()[StatusCode::kOk] = base;
  for (const Kind& k : kinds) {
    py::tuple bases = k.builtin ? py::make_tuple(py::handle(base), py::handle(k.builtin))
                                : py::make_tuple(py::handle(base));
    const std::string qual = std::string("vslide.") + k.name;
    PyObject* cls = PyErr_NewException(qual.c_str(), bases.ptr(), nullptr);
    if (cls == nullptr) throw py::error_already_set();
    m.add_object(k.name, py::handle(cls));
    classes()[k.code] = cls;
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      auto it = classes().find(e.status.code());
      PyObject* cls = it != classes().end() ? it->second : classes()[StatusCode::kOk];
      py::object inst = py::reinterpret_steal<py::object>(
          PyObject_CallFunction(cls, "s", e.status.message().c_str()));
      if (!inst) return;  // the call set a Python error already
      inst.attr("code") = std::string(status_code_name(e.status.code()));
      inst.attr("message") = e.status.message();
      PyErr_SetObject(cls, inst.ptr());
    }
  });
}

}  // namespace vslide::python
