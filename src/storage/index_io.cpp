#include "index_io.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace vslide::storage_detail {
namespace {

// The size of the open file on disk now. A SWMR reader's own end of file is
// the one it saw when it opened the file, and the path may since name another
// file (pyramid and detect rename a new file over a served one), so the
// descriptor is asked, where the driver has one.
Result<uint64_t> file_bytes(hid_t file, const std::string& what) {
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle fapl, h5::check(H5Fget_access_plist(file), what + ": H5Fget_access_plist"));
  if (H5Pget_driver(fapl.get()) == H5FD_SEC2) {
    void* handle = nullptr;
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Fget_vfd_handle(file, fapl.get(), &handle), what + ": H5Fget_vfd_handle"));
    struct stat st;
    if (handle == nullptr || ::fstat(*static_cast<int*>(handle), &st) != 0) {
      return Status::io_error(what + ": fstat: " + std::strerror(handle == nullptr ? EBADF : errno));
    }
    return uint64_t(st.st_size);
  }
  hsize_t size = 0;
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Fget_filesize(file, &size), what + ": H5Fget_filesize"));
  return uint64_t(size);
}

// The file's record type must be the compound of `type`, member by member,
// each of the same class and size and inside the record (it may be laid out
// differently: H5Tconvert then moves the members).
Status check_record_type(hid_t file_type, hid_t type, size_t record, const std::string& what) {
  if (record == 0 || H5Tget_class(file_type) != H5T_COMPOUND || H5Tget_nmembers(file_type) != H5Tget_nmembers(type)) {
    return Status::corruption(what + ": record type is not the expected compound");
  }
  for (int i = 0; i < H5Tget_nmembers(type); ++i) {
    char* name = H5Tget_member_name(type, unsigned(i));
    const std::string member = name != nullptr ? name : "?";
    const int at = name != nullptr ? H5Tget_member_index(file_type, name) : -1;
    H5free_memory(name);
    if (at < 0) {
      h5::clear_errors();
      return Status::corruption(what + ": record type lacks member " + member);
    }
    h5::Handle file_member(H5Tget_member_type(file_type, unsigned(at)));
    h5::Handle mem_member(H5Tget_member_type(type, unsigned(i)));
    const size_t offset = H5Tget_member_offset(file_type, unsigned(at));
    const size_t size = file_member.valid() ? H5Tget_size(file_member.get()) : 0;
    if (H5Tget_member_class(file_type, unsigned(at)) != H5Tget_member_class(type, unsigned(i)) || size == 0 ||
        !mem_member.valid() || size != H5Tget_size(mem_member.get()) || offset > record || size > record - offset) {
      h5::clear_errors();
      return Status::corruption(what + ": record member " + member + " is damaged");
    }
  }
  return Status();
}

}  // namespace

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

Status read_table_records(hid_t dset, hid_t type, const std::string& what,
                          const std::function<uint8_t*(size_t)>& grow) {
  VSLIDE_ASSIGN_OR_RETURN(auto d, h5::dims(dset));
  if (d.size() != 1) return Status::corruption(what + " is not one-dimensional");
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle file_type, h5::check(H5Dget_type(dset), what + ": H5Dget_type"));
  const size_t record = H5Tget_size(file_type.get());
  VSLIDE_RETURN_IF_ERROR(check_record_type(file_type.get(), type, record, what));
  const size_t mem_record = H5Tget_size(type);
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle file, h5::check(H5Iget_file_id(dset), what + ": H5Iget_file_id"));
  VSLIDE_ASSIGN_OR_RETURN(const uint64_t file_size, file_bytes(file.get(), what));
  // A damaged extent must not size an allocation: every record is in the file.
  if (d[0] > file_size / record) {
    return Status::corruption(what + " claims " + std::to_string(d[0]) + " records of " + std::to_string(record) +
                              " bytes, more than the whole file (" + std::to_string(file_size) + " bytes)");
  }
  if (d[0] == 0) {
    grow(0);
    return Status();
  }
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle dcpl, h5::check(H5Dget_create_plist(dset), what + ": H5Dget_create_plist"));
  hsize_t rows = 0;
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED || H5Pget_chunk(dcpl.get(), 1, &rows) != 1 || rows == 0) {
    h5::clear_errors();
    return Status::corruption(what + " is not stored in chunks of records");
  }
  if (H5Pget_nfilters(dcpl.get()) != 0) return Status::corruption(what + " is filtered (index tables are stored plain)");
  if (rows > file_size / record) {
    return Status::corruption(what + " is stored in chunks of " + std::to_string(rows) + " records of " +
                              std::to_string(record) + " bytes, more than the whole file (" +
                              std::to_string(file_size) + " bytes)");
  }
  const hsize_t chunk_bytes = rows * record;
  unsigned intent = 0;
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Fget_intent(file.get(), &intent), what + ": H5Fget_intent"));
  const bool swmr_reader = (intent & H5F_ACC_SWMR_READ) != 0;
  // A writer's own appends may still be in the chunk cache, not yet in the file.
  if ((intent & H5F_ACC_RDWR) != 0) VSLIDE_RETURN_IF_ERROR(h5::check(H5Dflush(dset), what + ": H5Dflush"));
  const htri_t same = H5Tequal(file_type.get(), type);
  if (same < 0) return h5::error(what + ": H5Tequal");
  uint8_t* const out = grow(size_t(d[0]));
  std::vector<uint8_t> chunk, converted, background;
  for (hsize_t first = 0; first < d[0]; first += rows) {
    const hsize_t n = std::min(rows, d[0] - first);
    auto records = [&] { return what + " records " + std::to_string(first) + ".." + std::to_string(first + n - 1); };
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    if (H5Dget_chunk_info_by_coord(dset, &first, &mask, &addr, &size) < 0) {
      const std::string why = h5::last_error();
      h5::clear_errors();
      return Status::corruption(records() + ": chunk index unreadable: " + why);
    }
    if (addr == HADDR_UNDEF) {
      if (swmr_reader) {  // not yet written by the writer: the table ends here for now
        grow(size_t(first));
        break;
      }
      return Status::corruption(records() + " are not stored (the table's chunk index has no chunk for them)");
    }
    // Never hand libhdf5 a chunk whose size or place is wrong: H5Dread
    // copies records out of a buffer of whatever size the index claims.
    if (size != chunk_bytes) {
      return Status::corruption(records() + ": the chunk index says the chunk holds " + std::to_string(size) +
                                " bytes, a chunk of " + std::to_string(rows) + " records of " + std::to_string(record) +
                                " bytes holds " + std::to_string(chunk_bytes));
    }
    if (mask != 0) return Status::corruption(records() + ": the chunk is marked filtered");
    if (addr > file_size || size > file_size - addr) {
      return Status::corruption(records() + ": the chunk at byte " + std::to_string(addr) + " (" +
                                std::to_string(size) + " bytes) lies beyond the end of the file (" +
                                std::to_string(file_size) + " bytes)");
    }
    uint8_t* dst = out + size_t(first) * mem_record;
    // A whole chunk of records in our layout lands in place; a partial last
    // chunk, or another layout, goes through a buffer.
    const bool in_place = same > 0 && n == rows;
    if (!in_place) chunk.resize(size_t(chunk_bytes));
    uint32_t filters = 0;
    if (H5Dread_chunk(dset, H5P_DEFAULT, &first, &filters, in_place ? dst : chunk.data()) < 0) {
      const std::string why = h5::last_error();
      h5::clear_errors();
      return Status::io_error(records() + ": read chunk: " + why);
    }
    if (in_place) continue;
    if (same > 0) {
      std::memcpy(dst, chunk.data(), size_t(n) * record);
      continue;
    }
    // The same members laid out otherwise (another writer): libhdf5 converts,
    // on a type checked member by member above.
    converted.assign(size_t(n) * std::max(record, mem_record), 0);
    std::memcpy(converted.data(), chunk.data(), size_t(n) * record);
    background.assign(size_t(n) * mem_record, 0);
    if (H5Tconvert(file_type.get(), type, size_t(n), converted.data(), background.data(), H5P_DEFAULT) < 0) {
      return h5::error(records() + ": convert records");
    }
    std::memcpy(dst, converted.data(), size_t(n) * mem_record);
  }
  return Status();
}

}  // namespace vslide::storage_detail
