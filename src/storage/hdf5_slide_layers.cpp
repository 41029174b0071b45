// Hdf5Slide: the overview images and the detection layers.
//   /overview/channel<C>          uint16 (H, W), attrs origin_x_um, origin_y_um, um_per_px
//   /detections/<NAME>/labels     uint32 (S*H, W) extendible, one chunk per field slot,
//                                 Blosc lz4 byte-shuffle (typesize 4), filter 32001
//   /detections/<NAME>/chunks     table {slot, plane=0, level=0, block=0, stored_bytes, checksum}
//   /detections/<NAME>/objects_json  uint8 array: the object table as JSON text
#include <cstring>

#include "hdf5_slide_impl.h"
#include "vslide/storage/codec.h"

namespace vslide {

namespace sd = storage_detail;

namespace {
CodecSpec label_codec() { return CodecSpec{CodecFamily::kBlosc, "lz4", Shuffle::kByte, 5, 0}; }

Status writable_now(const Hdf5Slide::Impl& m) {
  if (!m.writable || m.finished) return Status::failed_precondition(m.path + ": not open for writing");
  if (m.swmr_writer) {
    return Status::failed_precondition(m.path + ": layers cannot be added while scanning (SWMR); finish first");
  }
  return Status();
}

Result<h5::Handle> open_or_create_group(hid_t loc, const char* name) {
  if (h5::exists(loc, name)) return h5::check(H5Gopen2(loc, name, H5P_DEFAULT), std::string("open ") + name);
  return h5::check(H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), std::string("create ") + name);
}
}  // namespace

Status Hdf5Slide::write_overview(const Overview& ov) {
  Impl& m = *impl_;
  VSLIDE_RETURN_IF_ERROR(writable_now(m));
  if (ov.channel < 0 || ov.channel >= m.geometry.channels) {
    return Status::out_of_range(m.path + ": overview for channel " + std::to_string(ov.channel) + " of " +
                                std::to_string(m.geometry.channels));
  }
  if (ov.image.empty() || ov.um_per_px <= 0) return Status::invalid_argument(m.path + ": empty overview");
  std::lock_guard lock(m.h5_mu);
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle g, open_or_create_group(m.file.get(), "overview"));
  const std::string name = "channel" + std::to_string(ov.channel);
  if (h5::exists(g.get(), name.c_str())) {
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Ldelete(g.get(), name.c_str(), H5P_DEFAULT), "replace overview"));
  }
  hsize_t d[2] = {hsize_t(ov.image.height()), hsize_t(ov.image.width())};
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle space, h5::check(H5Screate_simple(2, d, nullptr), "H5Screate_simple"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle ds, h5::check(H5Dcreate2(g.get(), name.c_str(), H5T_STD_U16LE, space.get(),
                                                              H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                                   m.path + ": create overview"));
  VSLIDE_RETURN_IF_ERROR(h5::check(
      H5Dwrite(ds.get(), H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, ov.image.data()), "write overview"));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(ds.get(), "origin_x_um", ov.origin_x_um));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(ds.get(), "origin_y_um", ov.origin_y_um));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(ds.get(), "um_per_px", ov.um_per_px));
  return Status();
}

Result<Overview> Hdf5Slide::read_overview(int32_t channel) const {
  const Impl& m = *impl_;
  if (channel < 0 || channel >= m.geometry.channels) {
    return Status::out_of_range(m.path + ": no channel " + std::to_string(channel));
  }
  std::lock_guard lock(m.h5_mu);
  const std::string name = "overview/channel" + std::to_string(channel);
  if (!h5::exists(m.file.get(), "overview") || !h5::exists(m.file.get(), name.c_str())) {
    return Status::not_found(m.path + ": no overview image for channel " + std::to_string(channel) +
                             " (run vslide pyramid)");
  }
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle ds, h5::check(H5Dopen2(m.file.get(), name.c_str(), H5P_DEFAULT), "open overview"));
  VSLIDE_ASSIGN_OR_RETURN(auto d, h5::dims(ds.get()));
  if (d.size() != 2 || d[0] > 65536 || d[1] > 65536) return Status::corruption(m.path + ": malformed " + name);
  VSLIDE_RETURN_IF_ERROR(h5::fits_in_file(ds.get(), d[0] * d[1] * 2, m.path + ": /" + name));
  Overview ov;
  ov.channel = channel;
  ov.image = Image16(int(d[1]), int(d[0]));
  VSLIDE_RETURN_IF_ERROR(h5::check(
      H5Dread(ds.get(), H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, ov.image.data()), m.path + ": read overview"));
  VSLIDE_ASSIGN_OR_RETURN(ov.origin_x_um, h5::read_attr_double(ds.get(), "origin_x_um"));
  VSLIDE_ASSIGN_OR_RETURN(ov.origin_y_um, h5::read_attr_double(ds.get(), "origin_y_um"));
  VSLIDE_ASSIGN_OR_RETURN(ov.um_per_px, h5::read_attr_double(ds.get(), "um_per_px"));
  return ov;
}

std::vector<std::string> Hdf5Slide::detection_layers() const {
  std::lock_guard lock(impl_->h5_mu);
  std::vector<std::string> out;
  for (const auto& [name, layer] : impl_->label_layers) out.push_back(name);
  return out;
}

namespace {
Status valid_layer_name(const std::string& path, const std::string& layer) {
  if (layer.empty() || layer.size() > 200 || layer.find_first_of("/.") != std::string::npos) {
    return Status::invalid_argument(path + ": bad detection layer name '" + layer + "'");
  }
  return Status();
}
}  // namespace

Status Hdf5Slide::write_labels(const std::string& layer, const TileKey& key, const LabelTile& tile) {
  Impl& m = *impl_;
  VSLIDE_RETURN_IF_ERROR(writable_now(m));
  VSLIDE_RETURN_IF_ERROR(valid_layer_name(m.path, layer));
  const int32_t H = m.geometry.tile_height, W = m.geometry.tile_width;
  if (tile.width != W || tile.height != H || tile.labels.size() != size_t(H) * size_t(W)) {
    return Status::invalid_argument(m.where(key) + ": label tile must be " + std::to_string(W) + "x" +
                                    std::to_string(H));
  }
  int64_t slot;
  {
    std::shared_lock meta(m.meta_mu);
    const auto* e = m.index.find(key.row, key.col);
    if (e == nullptr) return Status::not_found(m.where(key) + ": no field of view at this position");
    slot = e->slot;
  }
  VSLIDE_ASSIGN_OR_RETURN(auto enc, encode_chunk(label_codec(), {reinterpret_cast<const uint8_t*>(tile.labels.data()),
                                                                  tile.labels.size() * 4},
                                                 4));
  const uint64_t sum = chunk_checksum(enc);
  std::lock_guard lock(m.h5_mu);
  auto it = m.label_layers.find(layer);
  if (it == m.label_layers.end() || !it->second.labels.valid()) {
    VSLIDE_ASSIGN_OR_RETURN(h5::Handle dg, open_or_create_group(m.file.get(), "detections"));
    LabelLayer l;
    VSLIDE_ASSIGN_OR_RETURN(l.group, open_or_create_group(dg.get(), layer.c_str()));
    hsize_t d0[2] = {0, hsize_t(W)}, dm[2] = {H5S_UNLIMITED, hsize_t(W)}, dc[2] = {hsize_t(H), hsize_t(W)};
    VSLIDE_ASSIGN_OR_RETURN(h5::Handle space, h5::check(H5Screate_simple(2, d0, dm), "H5Screate_simple"));
    VSLIDE_ASSIGN_OR_RETURN(h5::Handle dcpl, h5::check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"));
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_chunk(dcpl.get(), 2, dc), "H5Pset_chunk"));
    auto cd = blosc_cd_values(label_codec(), size_t(H) * size_t(W) * 4, 4);
    VSLIDE_RETURN_IF_ERROR(h5::check(
        H5Pset_filter(dcpl.get(), H5Z_filter_t(kBloscFilterId), H5Z_FLAG_OPTIONAL, cd.size(), cd.data()), "filter"));
    VSLIDE_ASSIGN_OR_RETURN(l.labels, h5::check(H5Dcreate2(l.group.get(), "labels", H5T_STD_U32LE, space.get(),
                                                           H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                                m.path + ": create labels of " + layer));
    VSLIDE_RETURN_IF_ERROR(sd::create_table(l.group.get(), "chunks", m.chunk_type.get(), 256));
    VSLIDE_ASSIGN_OR_RETURN(l.chunks, h5::check(H5Dopen2(l.group.get(), "chunks", H5P_DEFAULT), "open chunks"));
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(l.group.get(), "source_channel", int64_t(key.channel)));
    l.by_slot_complete = true;
    it = m.label_layers.insert_or_assign(layer, std::move(l)).first;
  }
  LabelLayer& l = it->second;
  VSLIDE_ASSIGN_OR_RETURN(auto d, h5::dims(l.labels.get()));
  hsize_t need = hsize_t(slot + 1) * hsize_t(H);
  if (d[0] < need) {
    hsize_t nd[2] = {need, hsize_t(W)};
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Dset_extent(l.labels.get(), nd), "extend labels"));
  }
  hsize_t off[2] = {hsize_t(slot) * hsize_t(H), 0};
  VSLIDE_RETURN_IF_ERROR(
      h5::check(H5Dwrite_chunk(l.labels.get(), H5P_DEFAULT, 0, off, enc.size(), enc.data()), m.where(key) + ": labels"));
  sd::ChunkRecord rec{slot, 0, 0, 0, uint32_t(enc.size()), sum};
  VSLIDE_RETURN_IF_ERROR(sd::append_table(l.chunks.get(), m.chunk_type.get(), &rec, 1));
  l.by_slot[slot] = ChunkEntry{uint32_t(enc.size()), sum};
  return Status();
}

Result<LabelTile> Hdf5Slide::read_labels(const std::string& layer, const TileKey& key) const {
  const Impl& m = *impl_;
  int64_t slot;
  {
    std::shared_lock meta(m.meta_mu);
    const auto* e = m.index.find(key.row, key.col);
    if (e == nullptr) return Status::not_found(m.where(key) + ": no field of view at this position");
    slot = e->slot;
  }
  const int32_t H = m.geometry.tile_height, W = m.geometry.tile_width;
  std::vector<uint8_t> bytes;
  ChunkEntry entry;
  {
    std::lock_guard lock(m.h5_mu);
    auto it = m.label_layers.find(layer);
    if (it == m.label_layers.end()) return Status::not_found(m.path + ": no detection layer '" + layer + "'");
    LabelLayer& l = const_cast<LabelLayer&>(it->second);
    if (!l.by_slot_complete && l.chunks.valid()) {
      auto recs = sd::read_table<sd::ChunkRecord>(l.chunks.get(), m.chunk_type.get(),
                                                  m.path + ": /detections/" + layer + "/chunks");
      if (!recs.ok()) return recs.status();
      for (const auto& r : *recs) l.by_slot[r.slot] = ChunkEntry{r.stored_bytes, r.checksum};
      l.by_slot_complete = true;
    }
    auto c = l.by_slot.find(slot);
    if (c == l.by_slot.end()) return Status::not_found(m.where(key) + ": no labels in layer '" + layer + "'");
    entry = c->second;
    hsize_t off[2] = {hsize_t(slot) * hsize_t(H), 0};
    // The size comes from the file: a Blosc buffer is at most its raw bytes plus
    // a small header, and the dataset must agree, before anything is allocated.
    const uint64_t most = max_stored_bytes(uint64_t(H) * uint64_t(W) * 4);
    if (entry.stored_bytes > most) {
      return Status::corruption(m.where(key) + ": label chunk claims " + std::to_string(entry.stored_bytes) +
                                " bytes, a " + std::to_string(W) + "x" + std::to_string(H) +
                                " label tile compresses to at most " + std::to_string(most));
    }
    hsize_t size = 0;
    if (H5Dget_chunk_storage_size(l.labels.get(), off, &size) < 0 || size != entry.stored_bytes) {
      h5::clear_errors();
      return Status::corruption(m.where(key) + ": label chunk size differs from the index");
    }
    bytes.resize(entry.stored_bytes);
    uint32_t mask = 0;
    if (H5Dread_chunk(l.labels.get(), H5P_DEFAULT, off, &mask, bytes.data()) < 0) {
      return h5::error(m.where(key) + ": read labels");
    }
  }
  if (chunk_checksum(bytes) != entry.checksum) {
    return Status::corruption(m.where(key) + ": label chunk checksum mismatch in layer '" + layer + "'");
  }
  LabelTile t;
  t.width = W;
  t.height = H;
  t.labels.resize(size_t(H) * size_t(W));
  VSLIDE_RETURN_IF_ERROR(decode_chunk(label_codec(), bytes, {reinterpret_cast<uint8_t*>(t.labels.data()),
                                                             t.labels.size() * 4},
                                      4)
                             .with_context(m.where(key) + ": labels"));
  return t;
}

Status Hdf5Slide::write_objects_json(const std::string& layer, const std::string& json_array) {
  Impl& m = *impl_;
  VSLIDE_RETURN_IF_ERROR(writable_now(m));
  VSLIDE_RETURN_IF_ERROR(valid_layer_name(m.path, layer));
  std::lock_guard lock(m.h5_mu);
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle dg, open_or_create_group(m.file.get(), "detections"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle g, open_or_create_group(dg.get(), layer.c_str()));
  if (h5::exists(g.get(), "objects_json")) {
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Ldelete(g.get(), "objects_json", H5P_DEFAULT), "replace objects"));
  }
  hsize_t n = json_array.size();
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle space, h5::check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle ds, h5::check(H5Dcreate2(g.get(), "objects_json", H5T_STD_U8LE, space.get(),
                                                              H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                                   m.path + ": create objects of " + layer));
  if (n > 0) {
    VSLIDE_RETURN_IF_ERROR(h5::check(
        H5Dwrite(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, json_array.data()), "write objects"));
  }
  if (!m.label_layers.count(layer)) {
    LabelLayer l;
    VSLIDE_ASSIGN_OR_RETURN(l.group, h5::check(H5Gopen2(dg.get(), layer.c_str(), H5P_DEFAULT), "open layer"));
    m.label_layers[layer] = std::move(l);
  }
  return Status();
}

Result<std::string> Hdf5Slide::read_objects_json(const std::string& layer) const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.h5_mu);
  auto it = m.label_layers.find(layer);
  if (it == m.label_layers.end()) return Status::not_found(m.path + ": no detection layer '" + layer + "'");
  if (!h5::exists(it->second.group.get(), "objects_json")) {
    return Status::not_found(m.path + ": detection layer '" + layer + "' has no object table");
  }
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle ds, h5::check(H5Dopen2(it->second.group.get(), "objects_json", H5P_DEFAULT),
                                                   "open objects"));
  VSLIDE_ASSIGN_OR_RETURN(auto d, h5::dims(ds.get()));
  const std::string what = m.path + ": /detections/" + layer + "/objects_json";
  if (d.size() != 1) return Status::corruption(what + " is not one-dimensional");
  VSLIDE_RETURN_IF_ERROR(h5::fits_in_file(ds.get(), d[0], what));
  std::string s(d[0], '\0');
  if (!s.empty()) {
    VSLIDE_RETURN_IF_ERROR(
        h5::check(H5Dread(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data()), "read objects"));
  }
  return s;
}

}  // namespace vslide
