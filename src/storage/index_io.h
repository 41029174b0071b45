// The on-disk index tables (internal): /index/fields and /index/chunks.
//
// Both are one-dimensional, chunked, extendible compound datasets that a
// writer appends to (also under SWMR) and a reader loads whole. A chunk
// record is appended only after its chunk is in the file, so every record a
// reader sees points at complete data.
#pragma once

#include <hdf5.h>

#include <cstdint>
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

template <typename T>
Result<std::vector<T>> read_table(hid_t dset, hid_t type) {
  VSLIDE_ASSIGN_OR_RETURN(auto d, h5::dims(dset));
  if (d.size() != 1) return Status::corruption("index table is not one-dimensional");
  // A damaged extent must not size the allocation: the table cannot hold more
  // records than its stored bytes (uncompressed chunks of 256/1024 records) allow.
  h5::Handle file_type(H5Dget_type(dset));
  const size_t record = file_type.get() >= 0 ? H5Tget_size(file_type.get()) : 0;
  const hsize_t stored = H5Dget_storage_size(dset);
  if (record == 0 || d[0] > stored / record + 1024) {
    return Status::corruption("index table claims " + std::to_string(d[0]) + " records but stores " +
                              std::to_string(stored) + " bytes");
  }
  // The file's record type must be the compound we expect, member by member, with
  // every member inside the record: HDF5 1.10's conversion of a damaged compound
  // type reads freed memory (heap-use-after-free in H5T__conv_struct_opt, found by
  // fuzz_hdf5_open), so a type that does not match is refused before H5Dread.
  if (H5Tget_class(file_type.get()) != H5T_COMPOUND || H5Tget_nmembers(file_type.get()) != H5Tget_nmembers(type)) {
    return Status::corruption("index table record type is not the expected compound");
  }
  for (int i = 0; i < H5Tget_nmembers(type); ++i) {
    char* name = H5Tget_member_name(type, unsigned(i));
    const int at = name != nullptr ? H5Tget_member_index(file_type.get(), name) : -1;
    H5free_memory(name);
    if (at < 0) return Status::corruption("index table record lacks a member");
    h5::Handle member(H5Tget_member_type(file_type.get(), unsigned(at)));
    const size_t offset = H5Tget_member_offset(file_type.get(), unsigned(at));
    const size_t size = member.get() >= 0 ? H5Tget_size(member.get()) : 0;
    if (H5Tget_member_class(file_type.get(), unsigned(at)) != H5Tget_member_class(type, unsigned(i)) || size == 0 ||
        size > 8 || offset + size > record) {
      return Status::corruption("index table record member " + std::to_string(at) + " is damaged");
    }
  }
  std::vector<T> out(d[0]);
  if (!out.empty()) {
    VSLIDE_RETURN_IF_ERROR(
        h5::check(H5Dread(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "read index table"));
  }
  return out;
}

}  // namespace vslide::storage_detail
