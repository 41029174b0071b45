#include "index_io.h"

#include <cstddef>

namespace vslide::storage_detail {

h5::Handle field_record_type() {
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(FieldRecord));
  H5Tinsert(t, "row", offsetof(FieldRecord, row), H5T_NATIVE_INT32);
  H5Tinsert(t, "col", offsetof(FieldRecord, col), H5T_NATIVE_INT32);
  H5Tinsert(t, "slot", offsetof(FieldRecord, slot), H5T_NATIVE_INT64);
  H5Tinsert(t, "stage_x_um", offsetof(FieldRecord, stage_x_um), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "stage_y_um", offsetof(FieldRecord, stage_y_um), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "stage_z_um", offsetof(FieldRecord, stage_z_um), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "acquired_unix_s", offsetof(FieldRecord, acquired_unix_s), H5T_NATIVE_DOUBLE);
  return h5::Handle(t);
}

h5::Handle chunk_record_type() {
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(ChunkRecord));
  H5Tinsert(t, "slot", offsetof(ChunkRecord, slot), H5T_NATIVE_INT64);
  H5Tinsert(t, "plane", offsetof(ChunkRecord, plane), H5T_NATIVE_INT32);
  H5Tinsert(t, "level", offsetof(ChunkRecord, level), H5T_NATIVE_INT32);
  H5Tinsert(t, "block", offsetof(ChunkRecord, block), H5T_NATIVE_INT32);
  H5Tinsert(t, "stored_bytes", offsetof(ChunkRecord, stored_bytes), H5T_NATIVE_UINT32);
  H5Tinsert(t, "checksum", offsetof(ChunkRecord, checksum), H5T_NATIVE_UINT64);
  return h5::Handle(t);
}

Status create_table(hid_t loc, const char* name, hid_t type, hsize_t chunk_rows) {
  hsize_t dims = 0, maxdims = H5S_UNLIMITED;
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle space, h5::check(H5Screate_simple(1, &dims, &maxdims), "H5Screate_simple"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle dcpl, h5::check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"));
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_chunk(dcpl.get(), 1, &chunk_rows), "H5Pset_chunk"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle d, h5::check(H5Dcreate2(loc, name, type, space.get(), H5P_DEFAULT, dcpl.get(),
                                                             H5P_DEFAULT),
                                                  std::string("create table ") + name));
  return Status();
}

Status append_table(hid_t dset, hid_t type, const void* records, size_t count) {
  if (count == 0) return Status();
  VSLIDE_ASSIGN_OR_RETURN(auto d, h5::dims(dset));
  hsize_t old = d.at(0), add = count, total = old + add;
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Dset_extent(dset, &total), "extend index table"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle fspace, h5::check(H5Dget_space(dset), "H5Dget_space"));
  VSLIDE_RETURN_IF_ERROR(
      h5::check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &old, nullptr, &add, nullptr), "select"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle mspace, h5::check(H5Screate_simple(1, &add, nullptr), "H5Screate_simple"));
  Status st = h5::check(H5Dwrite(dset, type, mspace.get(), fspace.get(), H5P_DEFAULT, records), "append index table");
  // A failed write (disk full) must not leave zeroed records behind the
  // grown extent: shrink it back, so that a retry appends at the same place.
  if (!st.ok()) (void)H5Dset_extent(dset, &old);
  return st;
}

Status rewrite_table(hid_t dset, hid_t type, const void* records, size_t count) {
  hsize_t n = count;
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Dset_extent(dset, &n), "resize index table"));
  if (count == 0) return Status();
  return h5::check(H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, records), "rewrite index table");
}

}  // namespace vslide::storage_detail
