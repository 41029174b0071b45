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

Status write_attr(hid_t obj, const char* name, const std::string& value) {
  VSLIDE_ASSIGN_OR_RETURN(Handle t, string_type());
  const char* p = value.c_str();
  return write_attr_raw(obj, name, t.get(), &p);
}

Status write_attr(hid_t obj, const char* name, int64_t value) {
  return write_attr_raw(obj, name, H5T_NATIVE_INT64, &value);
}

Status write_attr(hid_t obj, const char* name, double value) {
  return write_attr_raw(obj, name, H5T_NATIVE_DOUBLE, &value);
}

Result<std::string> read_attr_string(hid_t obj, const char* name) {
  if (!has_attr(obj, name)) return Status::not_found(std::string("attribute '") + name + "' is missing");
  VSLIDE_ASSIGN_OR_RETURN(Handle attr, check(H5Aopen(obj, name, H5P_DEFAULT), std::string("open attribute ") + name));
  VSLIDE_ASSIGN_OR_RETURN(Handle ftype, check(H5Aget_type(attr.get()), "H5Aget_type"));
  if (H5Tget_class(ftype.get()) != H5T_STRING) {
    return Status::corruption(std::string("attribute '") + name + "' is not a string");
  }
  if (H5Tis_variable_str(ftype.get()) > 0) {
    VSLIDE_ASSIGN_OR_RETURN(Handle t, string_type());
    char* p = nullptr;
    VSLIDE_RETURN_IF_ERROR(check(H5Aread(attr.get(), t.get(), &p), std::string("read attribute ") + name));
    std::string s = p ? p : "";
    VSLIDE_ASSIGN_OR_RETURN(Handle space, check(H5Aget_space(attr.get()), "H5Aget_space"));
    H5Dvlen_reclaim(t.get(), space.get(), H5P_DEFAULT, &p);
    return s;
  }
  size_t n = H5Tget_size(ftype.get());
  std::string s(n, '\0');
  VSLIDE_RETURN_IF_ERROR(check(H5Aread(attr.get(), ftype.get(), s.data()), std::string("read attribute ") + name));
  if (auto z = s.find('\0'); z != std::string::npos) s.resize(z);
  return s;
}

Result<int64_t> read_attr_int(hid_t obj, const char* name) {
  if (!has_attr(obj, name)) return Status::not_found(std::string("attribute '") + name + "' is missing");
  VSLIDE_ASSIGN_OR_RETURN(Handle attr, check(H5Aopen(obj, name, H5P_DEFAULT), std::string("open attribute ") + name));
  int64_t v = 0;
  VSLIDE_RETURN_IF_ERROR(check(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), std::string("read attribute ") + name));
  return v;
}

Result<double> read_attr_double(hid_t obj, const char* name) {
  if (!has_attr(obj, name)) return Status::not_found(std::string("attribute '") + name + "' is missing");
  VSLIDE_ASSIGN_OR_RETURN(Handle attr, check(H5Aopen(obj, name, H5P_DEFAULT), std::string("open attribute ") + name));
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

Result<std::vector<double>> read_vector(hid_t loc, const char* name) {
  VSLIDE_ASSIGN_OR_RETURN(Handle d, check(H5Dopen2(loc, name, H5P_DEFAULT), std::string("open dataset ") + name));
  VSLIDE_ASSIGN_OR_RETURN(auto dd, dims(d.get()));
  if (dd.size() != 1) return Status::corruption(std::string("dataset ") + name + " is not one-dimensional");
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
