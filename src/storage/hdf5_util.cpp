#include "hdf5_util.h"

#include <atomic>
#include <mutex>

namespace vslide::h5 {

namespace {
std::atomic<uint64_t> g_failed_closes{0};
}  // namespace

uint64_t failed_closes() { return g_failed_closes.load(); }

void clear_errors() { (void)H5Eclear2(H5E_DEFAULT); }

void Handle::reset() {
  if (id_ < 0) return;
  herr_t rc = 0;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: rc = H5Fclose(id_); break;
    case H5I_GROUP: rc = H5Gclose(id_); break;
    case H5I_DATASET: rc = H5Dclose(id_); break;
    case H5I_DATASPACE: rc = H5Sclose(id_); break;
    case H5I_DATATYPE: rc = H5Tclose(id_); break;
    case H5I_ATTR: rc = H5Aclose(id_); break;
    case H5I_GENPROP_LST: rc = H5Pclose(id_); break;
    default: break;
  }
  if (rc < 0) {
    g_failed_closes.fetch_add(1, std::memory_order_relaxed);
    clear_errors();
  }
  id_ = H5I_INVALID_HID;
}

void silence_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

namespace {
herr_t walk_cb(unsigned n, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::string*>(data);
  // The last frame walked inward is the most specific one.
  (void)n;
  if (err->desc != nullptr && err->desc[0] != '\0') *out = err->desc;
  return 0;
}
}  // namespace

std::string last_error() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &msg);
  return msg.empty() ? "unknown HDF5 error" : msg;
}

Status error(const std::string& what) {
  std::string m = what + ": " + last_error();
  clear_errors();
  return Status::io_error(m);
}

Result<Handle> check(hid_t id, const std::string& what) {
  if (id < 0) return error(what);
  return Handle(id);
}

Status check(herr_t rc, const std::string& what) {
  if (rc < 0) return error(what);
  return Status();
}

bool exists(hid_t loc, const char* path) {
  htri_t r = H5Lexists(loc, path, H5P_DEFAULT);
  if (r < 0) clear_errors();
  return r > 0;
}

bool has_attr(hid_t obj, const char* name) {
  htri_t r = H5Aexists(obj, name);
  if (r < 0) clear_errors();
  return r > 0;
}

namespace {
Result<Handle> string_type() {
  VSLIDE_ASSIGN_OR_RETURN(Handle t, check(H5Tcopy(H5T_C_S1), "H5Tcopy"));
  VSLIDE_RETURN_IF_ERROR(check(H5Tset_size(t.get(), H5T_VARIABLE), "H5Tset_size"));
  VSLIDE_RETURN_IF_ERROR(check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "H5Tset_cset"));
  return t;
}

Status write_attr_raw(hid_t obj, const char* name, hid_t type, const void* value) {
  if (has_attr(obj, name)) {
    VSLIDE_RETURN_IF_ERROR(check(H5Adelete(obj, name), std::string("delete attribute ") + name));
  }
  VSLIDE_ASSIGN_OR_RETURN(Handle space, check(H5Screate(H5S_SCALAR), "H5Screate"));
  VSLIDE_ASSIGN_OR_RETURN(Handle attr, check(H5Acreate2(obj, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                                             std::string("create attribute ") + name));
  return check(H5Awrite(attr.get(), type, value), std::string("write attribute ") + name);
}
}  // namespace

// String attributes are fixed-length (the value's bytes and a terminating NUL),
// never variable-length: libhdf5 1.10.8 reads a variable-length string through
// the global heap (H5HG_read), and there a damaged file makes it memcpy a heap
// object of the size the heap claims into a buffer sized from the attribute's
// own length (memcpy-param-overlap / overflow under ASan, found by
// fuzz_hdf5_open). A fixed-length attribute holds its bytes in the attribute
// message itself, and reading it never touches the global heap.
Status write_attr(hid_t obj, const char* name, const std::string& value) {
  VSLIDE_ASSIGN_OR_RETURN(Handle t, check(H5Tcopy(H5T_C_S1), "H5Tcopy"));
  VSLIDE_RETURN_IF_ERROR(check(H5Tset_size(t.get(), value.size() + 1), "H5Tset_size"));
  VSLIDE_RETURN_IF_ERROR(check(H5Tset_strpad(t.get(), H5T_STR_NULLTERM), "H5Tset_strpad"));
  VSLIDE_RETURN_IF_ERROR(check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "H5Tset_cset"));
  return write_attr_raw(obj, name, t.get(), value.c_str());
}

Status write_attr(hid_t obj, const char* name, int64_t value) {
  return write_attr_raw(obj, name, H5T_NATIVE_INT64, &value);
}

Status write_attr(hid_t obj, const char* name, double value) {
  return write_attr_raw(obj, name, H5T_NATIVE_DOUBLE, &value);
}

namespace {
// Every attribute vslide reads holds one value: an array (a damaged or foreign
// file) would make H5Aread write past the one value the caller's buffer holds.
Status require_scalar(hid_t attr, const char* name) {
  VSLIDE_ASSIGN_OR_RETURN(Handle space, check(H5Aget_space(attr), std::string("attribute ") + name + ": H5Aget_space"));
  const H5S_class_t cls = H5Sget_simple_extent_type(space.get());
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (cls == H5S_NO_CLASS || n < 0) return error(std::string("attribute ") + name + ": dataspace");
  if (cls != H5S_SCALAR && !(cls == H5S_SIMPLE && n == 1)) {
    return Status::corruption(std::string("attribute '") + name + "' holds " + std::to_string(n) +
                              " values, expected one");
  }
  return Status();
}
}  // namespace

Result<std::string> read_attr_string(hid_t obj, const char* name) {
  if (!has_attr(obj, name)) return Status::not_found(std::string("attribute '") + name + "' is missing");
  VSLIDE_ASSIGN_OR_RETURN(Handle attr, check(H5Aopen(obj, name, H5P_DEFAULT), std::string("open attribute ") + name));
  VSLIDE_ASSIGN_OR_RETURN(Handle ftype, check(H5Aget_type(attr.get()), "H5Aget_type"));
  if (H5Tget_class(ftype.get()) != H5T_STRING) {
    return Status::corruption(std::string("attribute '") + name + "' is not a string");
  }
  const htri_t variable = H5Tis_variable_str(ftype.get());
  if (variable < 0) return error(std::string("attribute ") + name + ": H5Tis_variable_str");
  if (variable > 0) {
    // Files written before vslide wrote fixed-length strings (and by other
    // tools). This path still reaches libhdf5's H5HG_read, which trusts a
    // damaged global heap (see write_attr): only a scalar is read, never an array.
    VSLIDE_RETURN_IF_ERROR(require_scalar(attr.get(), name));
    VSLIDE_ASSIGN_OR_RETURN(Handle t, string_type());
    // Read in the file's own character set (h5py writes ASCII ones): HDF5 has no
    // conversion between the two.
    const H5T_cset_t cset = H5Tget_cset(ftype.get());
    if (cset < 0) return error(std::string("attribute ") + name + ": H5Tget_cset");
    VSLIDE_RETURN_IF_ERROR(check(H5Tset_cset(t.get(), cset), "H5Tset_cset"));
    char* p = nullptr;
    VSLIDE_RETURN_IF_ERROR(check(H5Aread(attr.get(), t.get(), &p), std::string("read attribute ") + name));
    std::string s = p ? p : "";
    VSLIDE_ASSIGN_OR_RETURN(Handle space, check(H5Aget_space(attr.get()), "H5Aget_space"));
    VSLIDE_RETURN_IF_ERROR(check(H5Dvlen_reclaim(t.get(), space.get(), H5P_DEFAULT, &p),
                                 std::string("attribute ") + name + ": H5Dvlen_reclaim"));
    return s;
  }
  // The size comes from the file: bound it by what an attribute can hold
  // (a scalar of one fixed-length string; HDF5 keeps large attributes dense,
  // but vslide never writes one over its JSON texts' size).
  const size_t n = H5Tget_size(ftype.get());
  if (n == 0 || n > kMaxStringAttrBytes) {
    return Status::corruption(std::string("attribute '") + name + "' claims a string of " + std::to_string(n) +
                              " bytes (at most " + std::to_string(kMaxStringAttrBytes) + ")");
  }
  VSLIDE_RETURN_IF_ERROR(require_scalar(attr.get(), name));
  std::string s(n, '\0');
  VSLIDE_RETURN_IF_ERROR(check(H5Aread(attr.get(), ftype.get(), s.data()), std::string("read attribute ") + name));
  if (auto z = s.find('\0'); z != std::string::npos) s.resize(z);
  return s;
}

Result<int64_t> read_attr_int(hid_t obj, const char* name) {
  if (!has_attr(obj, name)) return Status::not_found(std::string("attribute '") + name + "' is missing");
  VSLIDE_ASSIGN_OR_RETURN(Handle attr, check(H5Aopen(obj, name, H5P_DEFAULT), std::string("open attribute ") + name));
  VSLIDE_RETURN_IF_ERROR(require_scalar(attr.get(), name));
  int64_t v = 0;
  VSLIDE_RETURN_IF_ERROR(check(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), std::string("read attribute ") + name));
  return v;
}

Result<double> read_attr_double(hid_t obj, const char* name) {
  if (!has_attr(obj, name)) return Status::not_found(std::string("attribute '") + name + "' is missing");
  VSLIDE_ASSIGN_OR_RETURN(Handle attr, check(H5Aopen(obj, name, H5P_DEFAULT), std::string("open attribute ") + name));
  VSLIDE_RETURN_IF_ERROR(require_scalar(attr.get(), name));
  double v = 0;
  VSLIDE_RETURN_IF_ERROR(check(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v), std::string("read attribute ") + name));
  return v;
}

Status write_vector(hid_t loc, const char* name, const std::vector<double>& v) {
  hsize_t n = v.size();
  VSLIDE_ASSIGN_OR_RETURN(Handle space, check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple"));
  VSLIDE_ASSIGN_OR_RETURN(Handle d, check(H5Dcreate2(loc, name, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                                                     H5P_DEFAULT, H5P_DEFAULT),
                                          std::string("create dataset ") + name));
  if (n == 0) return Status();
  return check(H5Dwrite(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()),
               std::string("write dataset ") + name);
}

Status write_strings(hid_t loc, const char* name, const std::vector<std::string>& v) {
  hsize_t n = v.size();
  VSLIDE_ASSIGN_OR_RETURN(Handle t, string_type());
  VSLIDE_ASSIGN_OR_RETURN(Handle space, check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple"));
  VSLIDE_ASSIGN_OR_RETURN(Handle d, check(H5Dcreate2(loc, name, t.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                                     H5P_DEFAULT),
                                          std::string("create dataset ") + name));
  if (n == 0) return Status();
  std::vector<const char*> ptrs;
  for (const auto& s : v) ptrs.push_back(s.c_str());
  return check(H5Dwrite(d.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
               std::string("write dataset ") + name);
}

Result<std::vector<hsize_t>> dims(hid_t dset) {
  VSLIDE_ASSIGN_OR_RETURN(Handle space, check(H5Dget_space(dset), "H5Dget_space"));
  int nd = H5Sget_simple_extent_ndims(space.get());
  if (nd < 0) return error("H5Sget_simple_extent_ndims");
  std::vector<hsize_t> d(static_cast<size_t>(nd));
  if (nd > 0 && H5Sget_simple_extent_dims(space.get(), d.data(), nullptr) < 0) return error("H5Sget_simple_extent_dims");
  return d;
}

Status fits_in_file(hid_t dset, uint64_t bytes, const std::string& what) {
  VSLIDE_ASSIGN_OR_RETURN(Handle file, check(H5Iget_file_id(dset), what + ": H5Iget_file_id"));
  hsize_t size = 0;
  VSLIDE_RETURN_IF_ERROR(check(H5Fget_filesize(file.get(), &size), what + ": H5Fget_filesize"));
  if (bytes > size) {
    return Status::corruption(what + " claims " + std::to_string(bytes) + " bytes, more than the whole file (" +
                              std::to_string(size) + ")");
  }
  return Status();
}

Result<std::vector<double>> read_vector(hid_t loc, const char* name) {
  VSLIDE_ASSIGN_OR_RETURN(Handle d, check(H5Dopen2(loc, name, H5P_DEFAULT), std::string("open dataset ") + name));
  VSLIDE_ASSIGN_OR_RETURN(auto dd, dims(d.get()));
  if (dd.size() != 1) return Status::corruption(std::string("dataset ") + name + " is not one-dimensional");
  if (dd[0] > (uint64_t(1) << 40)) return Status::corruption(std::string("dataset ") + name + ": absurd extent");
  VSLIDE_RETURN_IF_ERROR(fits_in_file(d.get(), dd[0] * sizeof(double), std::string("dataset ") + name));
  std::vector<double> v(dd[0]);
  if (!v.empty()) {
    VSLIDE_RETURN_IF_ERROR(check(H5Dread(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()),
                                 std::string("read dataset ") + name));
  }
  return v;
}

Result<std::vector<std::string>> read_strings(hid_t loc, const char* name) {
  VSLIDE_ASSIGN_OR_RETURN(Handle d, check(H5Dopen2(loc, name, H5P_DEFAULT), std::string("open dataset ") + name));
  VSLIDE_ASSIGN_OR_RETURN(auto dd, dims(d.get()));
  if (dd.size() != 1) return Status::corruption(std::string("dataset ") + name + " is not one-dimensional");
  if (dd[0] > (uint64_t(1) << 40)) return Status::corruption(std::string("dataset ") + name + ": absurd extent");
  // Each variable-length string takes at least 16 bytes in the file (length + heap id).
  VSLIDE_RETURN_IF_ERROR(fits_in_file(d.get(), dd[0] * 16, std::string("dataset ") + name));
  VSLIDE_ASSIGN_OR_RETURN(Handle t, string_type());
  std::vector<char*> ptrs(dd[0], nullptr);
  std::vector<std::string> out;
  if (ptrs.empty()) return out;
  VSLIDE_RETURN_IF_ERROR(check(H5Dread(d.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
                               std::string("read dataset ") + name));
  for (char* p : ptrs) out.emplace_back(p ? p : "");
  VSLIDE_ASSIGN_OR_RETURN(Handle space, check(H5Dget_space(d.get()), "H5Dget_space"));
  H5Dvlen_reclaim(t.get(), space.get(), H5P_DEFAULT, ptrs.data());
  return out;
}

}  // namespace vslide::h5
