// A thin checked layer over the HDF5 C API (internal to storage).
//
// Every HDF5 call's return code is checked; failures become a Status whose
// message carries HDF5's innermost error description. Handles close
// themselves (RAII). HDF5's automatic error printing is switched off once.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

#include "vslide/core/status.h"

namespace vslide::h5 {

// Owns one HDF5 identifier and closes it with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Turns off HDF5's printing of error stacks to stderr (idempotent).
void silence_errors();
// Empties HDF5's error stack after a failure we handled (an expected "no such
// link", a fallback open). Clearing cannot fail in a way a caller could act on.
void clear_errors();
// Handles whose H5*close failed since the process started (Handle::reset runs
// in destructors and cannot return it); a test or a verb may report it.
uint64_t failed_closes();
// The innermost message on the current thread's HDF5 error stack.
std::string last_error();
// IOError "what: <HDF5's message>".
Status error(const std::string& what);

// Checks an identifier-returning call.
Result<Handle> check(hid_t id, const std::string& what);
// Checks a herr_t-returning call.
Status check(herr_t rc, const std::string& what);

bool exists(hid_t loc, const char* path);

// Attributes on an object (created or replaced).
Status write_attr(hid_t obj, const char* name, const std::string& value);
Status write_attr(hid_t obj, const char* name, int64_t value);
Status write_attr(hid_t obj, const char* name, double value);
// String attributes are written fixed-length (UTF-8, NUL-terminated), which
// keeps them out of HDF5's global heap; variable-length ones (older files,
// other writers) are still read. Corruption for a non-string, more than one value or
// a fixed-length size over kMaxStringAttrBytes.
constexpr size_t kMaxStringAttrBytes = size_t(64) << 20;
Result<std::string> read_attr_string(hid_t obj, const char* name);
Result<int64_t> read_attr_int(hid_t obj, const char* name);
Result<double> read_attr_double(hid_t obj, const char* name);
bool has_attr(hid_t obj, const char* name);

// One-dimensional datasets of numbers or strings (small tables).
Status write_vector(hid_t loc, const char* name, const std::vector<double>& v);
Status write_strings(hid_t loc, const char* name, const std::vector<std::string>& v);
Result<std::vector<double>> read_vector(hid_t loc, const char* name);
Result<std::vector<std::string>> read_strings(hid_t loc, const char* name);

// Corruption unless `bytes` (what reading a whole dataset would fill) is at
// most the file's size: vslide's small datasets (overviews, object tables,
// registration columns) are contiguous and uncompressed, so an extent that
// claims more than the file holds is damage, and nothing is allocated for it.
Status fits_in_file(hid_t dset, uint64_t bytes, const std::string& what);

// Current dimensions of a dataset.
Result<std::vector<hsize_t>> dims(hid_t dset);

}  // namespace vslide::h5
