// The on-disk index tables (internal): /index/fields and /index/chunks.
//
// Both are one-dimensional, chunked, extendible compound datasets that a
// writer appends to (also under SWMR) and a reader loads whole. A chunk
// record is appended only after its chunk is in the file, so every record a
// reader sees points at complete data.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "hdf5_util.h"
#include "vslide/core/status.h"

namespace vslide::storage_detail {

struct FieldRecord {
  int32_t row, col;
  int64_t slot;
  double stage_x_um, stage_y_um, stage_z_um, acquired_unix_s;
};

struct ChunkRecord {
  int64_t slot;
  int32_t plane;   // plane index within the field (or 0 for label layers)
  int32_t level;   // zoom level
  int32_t block;   // block index within the plane
  uint32_t stored_bytes;
  uint64_t checksum;  // XXH3-64 of the stored bytes
};

h5::Handle field_record_type();
h5::Handle chunk_record_type();

// Creates an empty extendible table `name` under `loc`.
Status create_table(hid_t loc, const char* name, hid_t type, hsize_t chunk_rows);
// Appends records to an open table dataset.
Status append_table(hid_t dset, hid_t type, const void* records, size_t count);
// Overwrites a table with exactly `count` records.
Status rewrite_table(hid_t dset, hid_t type, const void* records, size_t count);

// Reads a whole table into records of the memory type `type`; read_table
// below is the typed form. `what` names the table in errors
// ("slide.h5: /index/fields"). Corruption, never a crash, for a damaged table:
// the record type must be the expected compound member by member (libhdf5
// 1.10.8 reads freed memory converting a damaged one, H5T__conv_struct_opt),
// the extent must fit in the file, and every chunk must be stored whole
// (exactly chunk rows x record bytes, unfiltered, inside the file) before
// its bytes are read with H5Dread_chunk, one chunk at a time: H5Dread trusts the chunk size in the
// unchecksummed v1 B-tree, and a damaged one overflowed its buffer
// (heap-buffer-overflow in H5D__select_read, fuzz_hdf5_open). A table
// opened SWMR-read ends at its first chunk not yet stored (a writer's
// records not yet visible); in any other file that chunk is Corruption.
//
// `grow(n)` makes room for n records of the memory type and returns where they
// start; it is called once with the table's extent (and again with fewer for
// a SWMR reader's table that ends early).
Status read_table_records(hid_t dset, hid_t type, const std::string& what,
                          const std::function<uint8_t*(size_t)>& grow);

template <typename T>
Result<std::vector<T>> read_table(hid_t dset, hid_t type, const std::string& what) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (H5Tget_size(type) != sizeof(T)) return Status::internal(what + ": record type does not match its struct");
  std::vector<T> out;
  VSLIDE_RETURN_IF_ERROR(read_table_records(dset, type, what, [&out](size_t n) {
    out.resize(n);
    return reinterpret_cast<uint8_t*>(out.data());
  }));
  return out;
}

}  // namespace vslide::storage_detail
