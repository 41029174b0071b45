// Hdf5Slide: the chunk paths. Writes encode in the calling thread and enter
// HDF5 only for H5Dwrite_chunk; reads enter HDF5 only to fetch stored bytes
// (or, for a finished file, once per chunk to learn its address, then pread).
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "hdf5_slide_impl.h"
#include "vslide/storage/codec.h"

namespace vslide {

namespace sd = storage_detail;

namespace {

double now_unix_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Copies block (by, bx) of a plane into a contiguous buffer.
std::vector<uint8_t> extract_block(const Image16View& px, int32_t y0, int32_t x0, int32_t h, int32_t w) {
  std::vector<uint8_t> out(size_t(h) * size_t(w) * 2);
  for (int32_t y = 0; y < h; ++y) {
    std::memcpy(out.data() + size_t(y) * size_t(w) * 2, px.row(y0 + y) + x0, size_t(w) * 2);
  }
  return out;
}

constexpr size_t kPendingLimit = 64;

}  // namespace

Status Hdf5Slide::Impl::ensure_extent(Level& lv, int64_t slot) {
  if (lv.shape.layout != Layout::kLinear) return Status();
  hsize_t need = lv.shape.rows_for_slot(slot);
  if (need <= lv.extent0) return Status();
  std::vector<hsize_t> d = {need, hsize_t(lv.shape.width)};
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Dset_extent(lv.dset.get(), d.data()), path + ": extend mosaic dataset"));
  lv.extent0 = need;
  return Status();
}

Status Hdf5Slide::Impl::append_pending() {
  VSLIDE_RETURN_IF_ERROR(
      sd::append_table(fields_table.get(), field_type.get(), pending_fields.data(), pending_fields.size()));
  pending_fields.clear();
  VSLIDE_RETURN_IF_ERROR(
      sd::append_table(chunks_table.get(), chunk_type.get(), pending_chunks.data(), pending_chunks.size()));
  pending_chunks.clear();
  if (swmr_writer) {
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Dflush(fields_table.get()), path + ": flush index"));
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Dflush(chunks_table.get()), path + ": flush index"));
  }
  return Status();
}

Status Hdf5Slide::write_field(const FieldOfView& f) {
  Impl& m = *impl_;
  if (!m.writable || m.finished) return Status::failed_precondition(m.path + ": not open for writing");
  if (f.row < 0 || f.row >= m.geometry.rows || f.col < 0 || f.col >= m.geometry.cols) {
    return Status::out_of_range(m.path + ": field (" + std::to_string(f.row) + "," + std::to_string(f.col) +
                                ") lies outside the " + std::to_string(m.geometry.rows) + "x" +
                                std::to_string(m.geometry.cols) + " mosaic");
  }
  std::lock_guard lock(m.h5_mu);
  int64_t slot;
  {
    std::unique_lock meta(m.meta_mu);
    slot = m.slot_for(f);
    FieldOfView g = f;
    if (g.acquired_unix_s == 0) g.acquired_unix_s = now_unix_s();
    m.index.upsert(g, slot);
    m.snapshot.reset();
    m.pending_fields.push_back({g.row, g.col, slot, g.stage_x_um, g.stage_y_um, g.stage_z_um, g.acquired_unix_s});
  }
  VSLIDE_RETURN_IF_ERROR(m.ensure_extent(m.levels.at(0), slot));
  return Status();
}

Status Hdf5Slide::Impl::write_blocks(const TileKey& key, int64_t slot, const std::vector<std::span<const uint8_t>>& blocks,
                                     const std::vector<uint64_t>& sums) {
  auto it = levels.find(key.level);
  if (it == levels.end()) return Status::not_found(where(key) + ": zoom level " + std::to_string(key.level) + " does not exist");
  Level& lv = it->second;
  VSLIDE_RETURN_IF_ERROR(ensure_extent(lv, slot));
  const int32_t plane = geometry.plane_index(key.channel, key.z, key.t);
  for (size_t b = 0; b < blocks.size(); ++b) {
    auto off = lv.shape.block_offset(slot, key.row, key.col, plane, int32_t(b));
    VSLIDE_RETURN_IF_ERROR(h5::check(
        H5Dwrite_chunk(lv.dset.get(), H5P_DEFAULT, 0, off.data(), blocks[b].size(), blocks[b].data()),
        where(key) + ": write chunk"));
  }
  {
    std::unique_lock meta(meta_mu);
    for (size_t b = 0; b < blocks.size(); ++b) {
      ChunkKey ck{slot, plane, key.level, int32_t(b)};
      auto [e, inserted] = chunks.insert({ck, ChunkEntry{uint32_t(blocks[b].size()), sums[b]}});
      if (key.level == 0) {
        if (!inserted) bytes_stored -= e->second.stored_bytes;
        bytes_stored += blocks[b].size();
      }
      e->second = ChunkEntry{uint32_t(blocks[b].size()), sums[b]};
      pending_chunks.push_back({slot, plane, key.level, int32_t(b), uint32_t(blocks[b].size()), sums[b]});
    }
    if (key.level == 0) {
      index.mark_plane(key.row, key.col, plane);
      snapshot.reset();
    }
  }
  // The chunk is written: an index append that fails here (disk full) keeps
  // its records pending, and the next flush retries and reports it.
  if (pending_chunks.size() >= kPendingLimit) {
    Status appended = append_pending();
    (void)appended;
  }
  return Status();
}

namespace {
Status check_key(const Hdf5Slide::Impl& m, const TileKey& key) {
  if (!m.geometry.contains(key)) {
    const auto& g = m.geometry;
    return Status::out_of_range(m.where(key) + ": outside the slide (" + std::to_string(g.rows) + "x" +
                                std::to_string(g.cols) + " fields, " + std::to_string(g.channels) + " channels, " +
                                std::to_string(g.z_planes) + " z, " + std::to_string(g.timepoints) + " t)");
  }
  return Status();
}
}  // namespace

Status Hdf5Slide::write_plane(const TileKey& key, const Image16View& pixels) {
  Impl& m = *impl_;
  if (!m.writable || m.finished) return Status::failed_precondition(m.path + ": not open for writing");
  VSLIDE_RETURN_IF_ERROR(check_key(m, key));
  const int32_t h = m.geometry.level_height(key.level), w = m.geometry.level_width(key.level);
  if (pixels.width() != w || pixels.height() != h) {
    return Status::invalid_argument(m.where(key) + ": plane is " + std::to_string(pixels.width()) + "x" +
                                    std::to_string(pixels.height()) + ", the slide expects " + std::to_string(w) +
                                    "x" + std::to_string(h));
  }
  int64_t slot;
  {
    std::shared_lock meta(m.meta_mu);
    const auto* e = m.index.find(key.row, key.col);
    if (e == nullptr) {
      return Status::failed_precondition(m.where(key) + ": write_field must come before the field's planes");
    }
    slot = e->slot;
  }
  const sd::LevelShape shape = m.level_shape(key.level);
  // Encode outside every lock: this is where the time goes.
  std::vector<std::vector<uint8_t>> blocks;
  std::vector<uint64_t> sums;
  for (int32_t b = 0; b < shape.blocks(); ++b) {
    const int32_t y0 = (b / shape.blocks_x()) * shape.chunk_h, x0 = (b % shape.blocks_x()) * shape.chunk_w;
    Result<std::vector<uint8_t>> enc = Status::internal("unset");
    if (shape.blocks() == 1 && pixels.contiguous()) {
      enc = encode_chunk(m.codec, {reinterpret_cast<const uint8_t*>(pixels.data()), pixels.byte_size()});
    } else {
      auto raw = extract_block(pixels, y0, x0, shape.chunk_h, shape.chunk_w);
      enc = encode_chunk(m.codec, raw);
    }
    if (!enc.ok()) return enc.status().with_context(m.where(key));
    sums.push_back(chunk_checksum(*enc));
    blocks.push_back(std::move(enc).value());
  }
  std::vector<std::span<const uint8_t>> spans(blocks.begin(), blocks.end());
  std::lock_guard lock(m.h5_mu);
  return m.write_blocks(key, slot, spans, sums);
}

Status Hdf5Slide::write_stored(const StoredTile& tile) {
  std::vector<std::span<const uint8_t>> blocks;
  std::vector<uint64_t> sums;
  for (const auto& b : tile.blocks) {
    blocks.emplace_back(b.bytes);
    sums.push_back(chunk_checksum(b.bytes));
  }
  return write_stored_blocks(tile.key, tile.codec, tile.height, tile.width, blocks, sums);
}

Status Hdf5Slide::write_stored_chunk(const TileKey& key, const CodecSpec& codec, int32_t height, int32_t width,
                                     std::span<const uint8_t> bytes, uint64_t checksum) {
  return write_stored_blocks(key, codec, height, width, {bytes}, {checksum});
}

Status Hdf5Slide::write_stored_blocks(const TileKey& key, const CodecSpec& codec, int32_t height, int32_t width,
                                      const std::vector<std::span<const uint8_t>>& blocks,
                                      const std::vector<uint64_t>& sums) {
  Impl& m = *impl_;
  if (!m.writable || m.finished) return Status::failed_precondition(m.path + ": not open for writing");
  VSLIDE_RETURN_IF_ERROR(check_key(m, key));
  if (!(codec.family == m.codec.family && codec.compressor == m.codec.compressor && codec.shuffle == m.codec.shuffle)) {
    return Status::invalid_argument(m.where(key) + ": chunk codec " + codec.name() + " differs from the slide's " +
                                    m.codec.name());
  }
  const sd::LevelShape shape = m.level_shape(key.level);
  if (height != shape.height || width != shape.width || int32_t(blocks.size()) != shape.blocks()) {
    return Status::invalid_argument(m.where(key) + ": stored tile is " + std::to_string(width) + "x" +
                                    std::to_string(height) + " in " + std::to_string(blocks.size()) +
                                    " blocks, the slide expects " + std::to_string(shape.width) + "x" +
                                    std::to_string(shape.height) + " in " + std::to_string(shape.blocks()));
  }
  int64_t slot;
  {
    std::shared_lock meta(m.meta_mu);
    const auto* e = m.index.find(key.row, key.col);
    if (e == nullptr) {
      return Status::failed_precondition(m.where(key) + ": write_field must come before the field's planes");
    }
    slot = e->slot;
  }
  const size_t block_bytes = size_t(shape.chunk_h) * size_t(shape.chunk_w) * 2;
  for (const auto& b : blocks) {
    // Never store bytes whose framing or size is wrong; the content is
    // covered end to end by the checksum the caller carried.
    VSLIDE_RETURN_IF_ERROR(validate_chunk(m.codec, b, block_bytes).with_context(m.where(key)));
  }
  std::lock_guard lock(m.h5_mu);
  return m.write_blocks(key, slot, blocks, sums);
}

Result<std::span<const uint8_t>> Hdf5Slide::Impl::fetch_chunk(const Level& lv, const std::vector<hsize_t>& offset,
                                                             ChunkEntry entry, const ChunkKey& key,
                                                             std::vector<uint8_t>* bytes) const {
  // The stored size comes from the index (and the dataset): a chunk of any codec
  // is at most its raw bytes plus a small header, so nothing larger is read or
  // allocated.
  const uint64_t most = max_stored_bytes(uint64_t(lv.shape.chunk_h) * uint64_t(lv.shape.chunk_w) * 2);
  if (entry.stored_bytes > most) {
    return Status::corruption("chunk claims " + std::to_string(entry.stored_bytes) + " stored bytes, at most " +
                              std::to_string(most) + " for its " + std::to_string(lv.shape.chunk_w) + "x" +
                              std::to_string(lv.shape.chunk_h) + " pixels");
  }
  if (fd >= 0) {
    uint64_t addr = entry.address;
    if (addr == ChunkEntry::kUnknownAddress) {
      unsigned mask = 0;
      haddr_t a = HADDR_UNDEF;
      hsize_t size = 0;
      {
        std::lock_guard lock(h5_mu);
        if (H5Dget_chunk_info_by_coord(lv.dset.get(), offset.data(), &mask, &a, &size) < 0) {
          return h5::error("locate chunk");
        }
      }
      if (a == HADDR_UNDEF) return Status::corruption("chunk is listed in the index but absent from the dataset");
      if (size != entry.stored_bytes) {
        return Status::corruption("chunk holds " + std::to_string(size) + " bytes, the index says " +
                                  std::to_string(entry.stored_bytes));
      }
      addr = a;
      // Remember the address: later reads of this chunk never enter HDF5.
      std::unique_lock meta(meta_mu);
      auto it = const_cast<Impl*>(this)->chunks.find(key);
      if (it != chunks.end()) it->second.address = addr;
    }
    if (map != nullptr) {
      if (addr > map_size || entry.stored_bytes > map_size - addr) {
        return Status::corruption("chunk at byte " + std::to_string(addr) + " lies beyond the end of the file (truncated?)");
      }
      return std::span<const uint8_t>(map + addr, entry.stored_bytes);
    }
    bytes->resize(entry.stored_bytes);
    size_t done = 0;
    while (done < bytes->size()) {
      ssize_t n = ::pread(fd, bytes->data() + done, bytes->size() - done, off_t(addr + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::io_error(std::string("read chunk: ") + (n == 0 ? "file is truncated" : strerror(errno)));
      done += size_t(n);
    }
    return std::span<const uint8_t>(*bytes);
  }
  std::lock_guard lock(h5_mu);
  hsize_t size = 0;
  if (H5Dget_chunk_storage_size(lv.dset.get(), offset.data(), &size) < 0) return h5::error("chunk size");
  if (size != entry.stored_bytes) {
    return Status::corruption("chunk holds " + std::to_string(size) + " bytes, the index says " +
                              std::to_string(entry.stored_bytes));
  }
  bytes->resize(size);
  uint32_t mask = 0;
  if (H5Dread_chunk(lv.dset.get(), H5P_DEFAULT, offset.data(), &mask, bytes->data()) < 0) {
    return h5::error("read chunk");
  }
  return std::span<const uint8_t>(*bytes);
}

Result<Hdf5Slide::Impl::Located> Hdf5Slide::Impl::locate(const TileKey& key) const {
  VSLIDE_RETURN_IF_ERROR(check_key(*this, key));
  Located loc;
  {
    std::lock_guard lock(h5_mu);
    auto it = levels.find(key.level);
    if (it == levels.end()) {
      return Status::not_found(where(key) + ": the slide has no zoom level " + std::to_string(key.level) +
                               " (run vslide pyramid)");
    }
    loc.level = &it->second;
  }
  loc.plane = geometry.plane_index(key.channel, key.z, key.t);
  std::shared_lock meta(meta_mu);
  const auto* e = index.find(key.row, key.col);
  if (e == nullptr) return Status::not_found(where(key) + ": no field of view at this position");
  loc.slot = e->slot;
  for (int32_t b = 0; b < loc.level->shape.blocks(); ++b) {
    auto it = chunks.find(ChunkKey{loc.slot, loc.plane, key.level, b});
    if (it == chunks.end()) return Status::not_found(where(key) + ": plane not stored");
    loc.entries.push_back(it->second);
  }
  return loc;
}

Result<Hdf5Slide::ChunkView> Hdf5Slide::Impl::fetch_block(const TileKey& key, const Located& loc, int32_t b,
                                                         std::vector<uint8_t>* copy) const {
  const sd::LevelShape& shape = loc.level->shape;
  auto off = shape.block_offset(loc.slot, key.row, key.col, loc.plane, b);
  auto got = fetch_chunk(*loc.level, off, loc.entries[size_t(b)], ChunkKey{loc.slot, loc.plane, key.level, b}, copy);
  if (!got.ok()) return got.status().with_context(where(key) + " block " + std::to_string(b));
  ChunkView v;
  v.y = (b / shape.blocks_x()) * shape.chunk_h;
  v.x = (b % shape.blocks_x()) * shape.chunk_w;
  v.height = shape.chunk_h;
  v.width = shape.chunk_w;
  v.checksum = loc.entries[size_t(b)].checksum;
  v.bytes = *got;
  return v;
}

Result<StoredTile> Hdf5Slide::read_chunk(const TileKey& key) const {
  const Impl& m = *impl_;
  VSLIDE_ASSIGN_OR_RETURN(Impl::Located loc, m.locate(key));
  const sd::LevelShape& shape = loc.level->shape;
  StoredTile out;
  out.key = key;
  out.codec = m.codec;
  out.height = shape.height;
  out.width = shape.width;
  for (int32_t b = 0; b < shape.blocks(); ++b) {
    ChunkBlock blk;
    VSLIDE_ASSIGN_OR_RETURN(ChunkView v, m.fetch_block(key, loc, b, &blk.bytes));
    if (v.bytes.data() != blk.bytes.data()) blk.bytes.assign(v.bytes.begin(), v.bytes.end());
    blk.y = v.y;
    blk.x = v.x;
    blk.height = v.height;
    blk.width = v.width;
    blk.checksum = v.checksum;
    if (chunk_checksum(blk.bytes) != blk.checksum) {
      return Status::corruption(m.where(key) + " block " + std::to_string(b) + ": checksum mismatch in stored chunk of " +
                                std::to_string(blk.bytes.size()) + " bytes");
    }
    out.blocks.push_back(std::move(blk));
  }
  return out;
}

Result<Hdf5Slide::StoredView> Hdf5Slide::read_chunk_view(const TileKey& key) const {
  const Impl& m = *impl_;
  if (m.map == nullptr) return Status::unavailable(m.where(key) + ": file is not mapped (not finished?)");
  VSLIDE_ASSIGN_OR_RETURN(Impl::Located loc, m.locate(key));
  const sd::LevelShape& shape = loc.level->shape;
  StoredView out;
  out.key = key;
  out.codec = m.codec;
  out.height = shape.height;
  out.width = shape.width;
  for (int32_t b = 0; b < shape.blocks(); ++b) {
    std::vector<uint8_t> unused;  // fetch_block returns a view into the mapping when there is one
    VSLIDE_ASSIGN_OR_RETURN(ChunkView v, m.fetch_block(key, loc, b, &unused));
    if (v.bytes.data() == unused.data()) {
      return Status::internal(m.where(key) + ": chunk was copied, not mapped");
    }
    out.blocks.push_back(v);
  }
  return out;
}

Status Hdf5Slide::read_into(const TileKey& key, std::span<uint16_t> out) const {
  const Impl& m = *impl_;
  VSLIDE_ASSIGN_OR_RETURN(Impl::Located loc, m.locate(key));
  const sd::LevelShape& shape = loc.level->shape;
  if (out.size() != size_t(shape.height) * size_t(shape.width)) {
    return Status::invalid_argument(m.where(key) + ": buffer of " + std::to_string(out.size()) +
                                    " pixels for a plane of " + std::to_string(shape.width) + "x" +
                                    std::to_string(shape.height));
  }
  // Per-thread buffers: a steady stream of reads allocates nothing.
  thread_local std::vector<uint8_t> bytes;
  thread_local std::vector<uint8_t> scratch;
  const bool whole = shape.blocks() == 1;
  for (int32_t b = 0; b < shape.blocks(); ++b) {
    auto off = shape.block_offset(loc.slot, key.row, key.col, loc.plane, b);
    auto got = m.fetch_chunk(*loc.level, off, loc.entries[size_t(b)], ChunkKey{loc.slot, loc.plane, key.level, b},
                             &bytes);
    if (!got.ok()) return got.status().with_context(m.where(key) + " block " + std::to_string(b));
    const std::span<const uint8_t> stored = *got;
    if (chunk_checksum(stored) != loc.entries[size_t(b)].checksum) {
      return Status::corruption(m.where(key) + " block " + std::to_string(b) + ": checksum mismatch in stored chunk of " +
                                std::to_string(stored.size()) + " bytes");
    }
    std::span<uint8_t> dst;
    if (whole) {
      dst = {reinterpret_cast<uint8_t*>(out.data()), out.size() * 2};
    } else {
      scratch.resize(size_t(shape.chunk_h) * size_t(shape.chunk_w) * 2);
      dst = scratch;
    }
    Status st = decode_chunk(m.codec, stored, dst);
    if (!st.ok()) return st.with_context(m.where(key) + " block " + std::to_string(b));
    if (!whole) {
      const int32_t y0 = (b / shape.blocks_x()) * shape.chunk_h, x0 = (b % shape.blocks_x()) * shape.chunk_w;
      for (int32_t y = 0; y < shape.chunk_h; ++y) {
        std::memcpy(out.data() + size_t(y0 + y) * size_t(shape.width) + size_t(x0),
                    scratch.data() + size_t(y) * size_t(shape.chunk_w) * 2, size_t(shape.chunk_w) * 2);
      }
    }
  }
  return Status();
}

Result<Image16> Hdf5Slide::read(const TileKey& key) const {
  VSLIDE_RETURN_IF_ERROR(check_key(*impl_, key));
  Image16 img{impl_->geometry.level_width(key.level), impl_->geometry.level_height(key.level)};
  VSLIDE_RETURN_IF_ERROR(read_into(key, {img.data(), img.pixel_count()}));
  return img;
}

Status Hdf5Slide::verify_plane(const TileKey& key) const { return read(key).status(); }

}  // namespace vslide
