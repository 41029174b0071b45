// Hdf5Slide: creating, opening and finishing slide files; metadata.
// Chunk reads and writes are in hdf5_slide_io.cpp. See docs/FORMAT.md.
#include "vslide/storage/hdf5_slide.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "hdf5_slide_impl.h"
#include "vslide/storage/codec.h"

namespace vslide {

namespace {
// Root attributes kept in the object header (vslide writes about 25).
constexpr unsigned kMaxCompactRootAttributes = 256;
// Metadata read attempts of a SWMR reader (see open_file).
constexpr unsigned kSwmrReadAttempts = 27;
}  // namespace


using storage_detail::LevelShape;
namespace sd = storage_detail;

std::string_view layout_name(Layout l) {
  switch (l) {
    case Layout::kLinear: return "linear";
    case Layout::kPacked: return "packed";
    case Layout::kGrid: return "grid";
  }
  return "unknown";
}

Result<Layout> parse_layout(std::string_view name) {
  if (name == "linear") return Layout::kLinear;
  if (name == "packed") return Layout::kPacked;
  if (name == "grid") return Layout::kGrid;
  return Status::invalid_argument("unknown layout '" + std::string(name) + "' (linear, packed, grid)");
}

Hdf5Slide::Impl::~Impl() {
  if (map != nullptr) ::munmap(const_cast<uint8_t*>(map), map_size);
  if (fd >= 0) ::close(fd);
}

LevelShape Hdf5Slide::Impl::level_shape(int32_t level) const {
  LevelShape s;
  s.planes = geometry.planes_per_field();
  s.rows = geometry.rows;
  s.cols = geometry.cols;
  s.height = geometry.level_height(level);
  s.width = geometry.level_width(level);
  if (level == 0) {
    s.layout = layout;
    s.chunk_h = chunk_h;
    s.chunk_w = chunk_w;
  } else {
    s.layout = Layout::kLinear;
    s.chunk_h = s.height;
    s.chunk_w = s.width;
  }
  return s;
}

int64_t Hdf5Slide::Impl::slot_for(const FieldOfView& f) {
  if (const auto* e = index.find(f.row, f.col)) return e->slot;
  if (layout == Layout::kLinear) return next_slot++;
  return int64_t(f.row) * geometry.cols + f.col;
}

namespace {

std::string level_name(int32_t level) { return "level" + std::to_string(level); }

Status set_codec_filters(hid_t dcpl, const CodecSpec& codec, size_t chunk_bytes, size_t typesize) {
  switch (codec.family) {
    case CodecFamily::kNone: return Status();
    case CodecFamily::kGzip:
      VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_shuffle(dcpl), "H5Pset_shuffle"));
      return h5::check(H5Pset_deflate(dcpl, unsigned(codec.level)), "H5Pset_deflate");
    case CodecFamily::kBlosc: {
      auto cd = blosc_cd_values(codec, chunk_bytes, typesize);
      // Optional: the dataset can be created (and read by vslide) where the
      // Blosc plugin is not installed; vslide never runs the filter itself.
      return h5::check(H5Pset_filter(dcpl, H5Z_filter_t(kBloscFilterId), H5Z_FLAG_OPTIONAL, cd.size(), cd.data()),
                       "declare Blosc filter 32001");
    }
  }
  return Status();
}

}  // namespace

namespace {
std::string dims_text(const std::vector<hsize_t>& d) {
  std::string t;
  for (hsize_t v : d) t += (t.empty() ? "" : "x") + std::to_string(v);
  return t;
}
}  // namespace

// A level's extents and chunk shape follow from the header (docs/FORMAT.md,
// "Image datasets and chunking"); a file whose dataset says otherwise is
// damaged, and nothing is addressed or sized from its numbers.
Status Hdf5Slide::Impl::check_level_extent(const Level& lv, const std::vector<hsize_t>& d,
                                           const std::string& name) const {
  const std::vector<hsize_t> expect = lv.shape.initial_dims();
  bool ok = true;
  if (lv.shape.layout == Layout::kLinear) {
    // Axis 0 grows by whole slots (P planes of the level's height).
    const hsize_t slot_rows = hsize_t(lv.shape.planes) * hsize_t(lv.shape.height);
    ok = d[1] == expect[1] && slot_rows > 0 && d[0] % slot_rows == 0;
  } else {
    ok = d == expect;
  }
  if (!ok) {
    return Status::corruption(path + ": /mosaic/" + name + " is " + dims_text(d) + ", the header makes it " +
                              (lv.shape.layout == Layout::kLinear ? "Nx" + std::to_string(expect[1]) +
                                                                        " with N a multiple of " +
                                                                        std::to_string(lv.shape.planes) + "x" +
                                                                        std::to_string(lv.shape.height)
                                                                  : dims_text(expect)));
  }
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle dcpl, h5::check(H5Dget_create_plist(lv.dset.get()), path + ": /mosaic/" + name));
  std::vector<hsize_t> chunk(d.size());
  const int rank = H5Pget_chunk(dcpl.get(), int(chunk.size()), chunk.data());
  if (rank != int(d.size()) || chunk != lv.shape.chunk_dims()) {
    h5::clear_errors();
    return Status::corruption(path + ": /mosaic/" + name + " is stored in chunks of " +
                              (rank > 0 ? dims_text(chunk) : std::string("(none)")) + ", the header makes them " +
                              dims_text(lv.shape.chunk_dims()));
  }
  return Status();
}

Status Hdf5Slide::Impl::open_level(int32_t level, bool create) {
  Level lv;
  lv.shape = level_shape(level);
  const std::string name = level_name(level);
  if (create) {
    auto d0 = lv.shape.initial_dims(), dm = lv.shape.max_dims(), dc = lv.shape.chunk_dims();
    VSLIDE_ASSIGN_OR_RETURN(h5::Handle space,
                            h5::check(H5Screate_simple(int(d0.size()), d0.data(), dm.data()), "H5Screate_simple"));
    VSLIDE_ASSIGN_OR_RETURN(h5::Handle dcpl, h5::check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"));
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_chunk(dcpl.get(), int(dc.size()), dc.data()), "H5Pset_chunk"));
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time"));
    VSLIDE_RETURN_IF_ERROR(
        set_codec_filters(dcpl.get(), codec, size_t(lv.shape.chunk_h) * size_t(lv.shape.chunk_w) * 2, 2));
    VSLIDE_ASSIGN_OR_RETURN(lv.dset, h5::check(H5Dcreate2(mosaic.get(), name.c_str(), H5T_STD_U16LE, space.get(),
                                                          H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                               path + ": create /mosaic/" + name));
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(lv.dset.get(), "layout", std::string(layout_name(lv.shape.layout))));
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(lv.dset.get(), "downsample_factor", int64_t(1) << level));
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(lv.dset.get(), "codec", codec.name()));
  } else {
    VSLIDE_ASSIGN_OR_RETURN(lv.dset, h5::check(H5Dopen2(mosaic.get(), name.c_str(), H5P_DEFAULT),
                                               path + ": open /mosaic/" + name));
  }
  VSLIDE_ASSIGN_OR_RETURN(auto d, h5::dims(lv.dset.get()));
  if (int(d.size()) != lv.shape.rank()) {
    return Status::corruption(path + ": /mosaic/" + name + " has rank " + std::to_string(d.size()) + ", expected " +
                              std::to_string(lv.shape.rank()));
  }
  if (!create) VSLIDE_RETURN_IF_ERROR(check_level_extent(lv, d, name));
  lv.extent0 = d[0];
  levels[level] = std::move(lv);
  return Status();
}

namespace {
// What check_index_digest() compares: the header, geometry and channel table as
// parsed, then each field (sorted) with its slot, stage position and planes.
std::string index_digest(const Hdf5Slide::Impl& m) {
  std::string text = nlohmann::json(m.header).dump() + nlohmann::json(m.geometry).dump() +
                     nlohmann::json(m.channels).dump();
  char buf[160];
  for (const auto& e : m.index.entries()) {
    const auto& f = e.field;
    std::snprintf(buf, sizeof buf, "|%d,%d,%lld,%.17g,%.17g,%.17g,%.17g,", f.row, f.col, (long long)e.slot,
                  f.stage_x_um, f.stage_y_um, f.stage_z_um, f.acquired_unix_s);
    text += buf;
    for (bool p : e.planes) text += p ? '1' : '0';
  }
  std::snprintf(buf, sizeof buf, "%016llx",
                (unsigned long long)chunk_checksum({reinterpret_cast<const uint8_t*>(text.data()), text.size()}));
  return buf;
}
}  // namespace

Result<bool> Hdf5Slide::check_index_digest() const {
  std::shared_lock meta(impl_->meta_mu);
  if (!h5::has_attr(impl_->file.get(), "index_digest")) return false;
  VSLIDE_ASSIGN_OR_RETURN(std::string recorded, h5::read_attr_string(impl_->file.get(), "index_digest"));
  const std::string now = index_digest(*impl_);
  if (now != recorded) {
    return Status::corruption(impl_->path + ": the index or header no longer matches the digest recorded when the "
                              "slide was finished (" + recorded + ", now " + now + "): a field, a plane or a "
                              "stage position was altered");
  }
  return true;
}

Result<std::unique_ptr<Hdf5Slide>> Hdf5Slide::create(const std::string& path, const SlideHeader& header,
                                                     const MosaicGeometry& geometry,
                                                     const std::vector<ChannelInfo>& channels,
                                                     const CreateOptions& options) {
  h5::silence_errors();
  if (!geometry.valid()) return Status::invalid_argument(path + ": invalid mosaic geometry: " + geometry.invalid_reason());
  if (int32_t(channels.size()) != geometry.channels) {
    return Status::invalid_argument(path + ": " + std::to_string(channels.size()) + " channel descriptions for " +
                                    std::to_string(geometry.channels) + " channels");
  }
  if (header.slide_id.empty()) return Status::invalid_argument(path + ": the slide header has no slide_id");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->writable = true;
  impl->header = header;
  impl->geometry = geometry;
  impl->channels = channels;
  impl->layout = options.layout;
  impl->codec = options.codec;
  impl->chunk_h = options.chunk_height > 0 ? options.chunk_height : geometry.tile_height;
  impl->chunk_w = options.chunk_width > 0 ? options.chunk_width : geometry.tile_width;
  if (geometry.tile_height % impl->chunk_h != 0 || geometry.tile_width % impl->chunk_w != 0) {
    return Status::invalid_argument(path + ": chunk " + std::to_string(impl->chunk_w) + "x" +
                                    std::to_string(impl->chunk_h) + " does not divide the tile " +
                                    std::to_string(geometry.tile_width) + "x" + std::to_string(geometry.tile_height));
  }
  impl->index = TileIndex(geometry.planes_per_field());
  if (!options.overwrite && std::filesystem::exists(path)) {
    return Status::already_exists(path + ": file exists (use overwrite to replace it)");
  }

  std::lock_guard lock(impl->h5_mu);
  // Every slide uses the 1.8 file format or later: its object headers and
  // superblock carry checksums, so a flipped byte in them is an HDF5 error at
  // load instead of a damaged structure that libhdf5
  // 1.10.8 decodes past its end (fuzz_hdf5_open found a heap-use-after-free in
  // H5O__msg_iterate_real decoding a damaged attribute message). The root keeps
  // its attributes in its (checksummed) object header rather than moving them to
  // dense storage, whose fractal-heap blocks are not checksummed.
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle fapl, h5::check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate"));
  // SWMR needs the 1.10 format (superblock v3, whose "open for writing" mark a
  // reader of a killed writer's file must work around); other slides take the
  // 1.8 object header and superblock versions, which have the checksums too.
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_libver_bounds(fapl.get(), options.swmr ? H5F_LIBVER_LATEST : H5F_LIBVER_V18,
                                                        H5F_LIBVER_LATEST),
                                   "H5Pset_libver_bounds"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle fcpl, h5::check(H5Pcreate(H5P_FILE_CREATE), "H5Pcreate"));
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_attr_phase_change(fcpl.get(), kMaxCompactRootAttributes,
                                                            kMaxCompactRootAttributes - 8),
                                   "H5Pset_attr_phase_change"));
  VSLIDE_ASSIGN_OR_RETURN(impl->file, h5::check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()),
                                                path + ": cannot create file"));
  hid_t root = impl->file.get();
  nlohmann::json hj = header;
  nlohmann::json cj = channels;
  nlohmann::json gj = geometry;
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "vslide_format_version", int64_t(kBaseFormatVersion)));
  impl->format_version = kBaseFormatVersion;
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "slide_id", header.slide_id));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "name", header.name));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "date", header.date));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "assay", header.assay));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "instrument", header.instrument));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "objective", header.objective));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "magnification", header.magnification));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "pixel_size_um", geometry.pixel_size_um));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "header_json", hj.dump()));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "geometry_json", gj.dump()));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "channels_json", cj.dump()));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "layout", std::string(layout_name(options.layout))));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "codec", options.codec.name()));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "chunk_height", int64_t(impl->chunk_h)));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "chunk_width", int64_t(impl->chunk_w)));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "state", std::string("scanning")));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "swmr", int64_t(options.swmr ? 1 : 0)));

  // The channel table as columns, easy to read from any HDF5 tool.
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle cg, h5::check(H5Gcreate2(root, "channels", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                                   "create /channels"));
  std::vector<std::string> names, colors;
  std::vector<double> ex, em, lo, hi;
  for (const auto& c : channels) {
    names.push_back(c.name);
    colors.push_back(rgb_to_hex(c.color));
    ex.push_back(c.excitation_nm);
    em.push_back(c.emission_nm);
    lo.push_back(c.contrast_low);
    hi.push_back(c.contrast_high);
  }
  VSLIDE_RETURN_IF_ERROR(h5::write_strings(cg.get(), "name", names));
  VSLIDE_RETURN_IF_ERROR(h5::write_strings(cg.get(), "color", colors));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(cg.get(), "excitation_nm", ex));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(cg.get(), "emission_nm", em));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(cg.get(), "contrast_low", lo));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(cg.get(), "contrast_high", hi));

  VSLIDE_ASSIGN_OR_RETURN(impl->mosaic, h5::check(H5Gcreate2(root, "mosaic", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                                  "create /mosaic"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle ig, h5::check(H5Gcreate2(root, "index", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                                   "create /index"));
  impl->field_type = sd::field_record_type();
  impl->chunk_type = sd::chunk_record_type();
  VSLIDE_RETURN_IF_ERROR(sd::create_table(ig.get(), "fields", impl->field_type.get(), 256));
  VSLIDE_RETURN_IF_ERROR(sd::create_table(ig.get(), "chunks", impl->chunk_type.get(), 1024));
  VSLIDE_ASSIGN_OR_RETURN(impl->fields_table, h5::check(H5Dopen2(ig.get(), "fields", H5P_DEFAULT), "open fields"));
  VSLIDE_ASSIGN_OR_RETURN(impl->chunks_table, h5::check(H5Dopen2(ig.get(), "chunks", H5P_DEFAULT), "open chunks"));
  VSLIDE_RETURN_IF_ERROR(impl->open_level(0, /*create=*/true));
  if (options.swmr) {
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Fstart_swmr_write(root), path + ": start SWMR write"));
    impl->swmr_writer = true;
  }
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Fflush(root, H5F_SCOPE_LOCAL), path + ": flush"));
  return std::unique_ptr<Hdf5Slide>(new Hdf5Slide(std::move(impl)));
}

namespace {

Result<h5::Handle> open_file(const std::string& path, OpenMode mode, bool* swmr_reader) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::not_found(path + ": no such file");
  if (!S_ISREG(st.st_mode)) return Status::invalid_argument(path + ": not a regular file");
  htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 <= 0) {
    h5::clear_errors();
    return Status::invalid_argument(path + ": not an HDF5 file");
  }
  *swmr_reader = false;
  if (mode == OpenMode::kAppend) {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    if (f >= 0) return h5::Handle(f);
    // A writer that died leaves the file marked as open for writing: clear
    // that mark (what `h5clear -s` does, through the same file-access
    // property) and try again.
    h5::clear_errors();
    VSLIDE_ASSIGN_OR_RETURN(h5::Handle fapl, h5::check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate"));
    hbool_t clear = true;
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset(fapl.get(), "clear_status_flags", &clear), "clear_status_flags"));
    hid_t g = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get());
    if (g < 0) return h5::error(path + ": cannot open for writing");
    return h5::Handle(g);
  }
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f >= 0) return h5::Handle(f);
  h5::clear_errors();
  // Being written under SWMR, or left unfinished by a writer that died.
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle fapl, h5::check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate"));
  // A SWMR reader re-reads metadata whose checksum fails (a write in flight),
  // sleeping 1 ns, 2 ns, 4 ns, ... in between: HDF5's default of 100 attempts
  // would sleep for ages on a damaged file (fuzz_hdf5_open: a flipped superblock
  // byte hung the open). 27 attempts wait at most about a quarter of a second.
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_metadata_read_attempts(fapl.get(), kSwmrReadAttempts),
                                   "H5Pset_metadata_read_attempts"));
  hid_t g = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl.get());
  if (g < 0) {
    h5::clear_errors();
    H5Pset_file_locking(fapl.get(), false, true);
    g = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl.get());
  }
  if (g < 0) return h5::error(path + ": cannot open");
  *swmr_reader = true;
  return h5::Handle(g);
}

}  // namespace

Result<std::unique_ptr<Hdf5Slide>> Hdf5Slide::open(const std::string& path, OpenMode mode) {
  h5::silence_errors();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->writable = mode == OpenMode::kAppend;
  std::lock_guard lock(impl->h5_mu);
  VSLIDE_ASSIGN_OR_RETURN(impl->file, open_file(path, mode, &impl->swmr_reader));
  hid_t root = impl->file.get();
  auto version = h5::read_attr_int(root, "vslide_format_version");
  if (!version.ok()) {
    return Status::invalid_argument(path + ": HDF5 file but not a vslide slide (no vslide_format_version attribute)");
  }
  if (*version > kFormatVersion || *version < 1) {
    return Status::unimplemented(path + ": format version " + std::to_string(*version) +
                                 " is not readable by this vslide (reads version " + std::to_string(kFormatVersion) +
                                 ")");
  }
  impl->format_version = int(*version);
  auto need_string = [&](const char* name) -> Result<std::string> {
    auto r = h5::read_attr_string(root, name);
    if (!r.ok()) return r.status().with_context(path);
    return r;
  };
  VSLIDE_ASSIGN_OR_RETURN(std::string hj, need_string("header_json"));
  VSLIDE_ASSIGN_OR_RETURN(std::string gj, need_string("geometry_json"));
  VSLIDE_ASSIGN_OR_RETURN(std::string cj, need_string("channels_json"));
  VSLIDE_ASSIGN_OR_RETURN(std::string lname, need_string("layout"));
  VSLIDE_ASSIGN_OR_RETURN(std::string cname, need_string("codec"));
  VSLIDE_ASSIGN_OR_RETURN(std::string sname, need_string("state"));
  auto header = parse_json_as<SlideHeader>(hj, path + ": header_json");
  auto geometry = parse_json_as<MosaicGeometry>(gj, path + ": geometry_json");
  auto channels = parse_json_as<std::vector<ChannelInfo>>(cj, path + ": channels_json");
  if (!header.ok()) return header.status();
  if (!geometry.ok()) return geometry.status();
  if (!channels.ok()) return channels.status();
  impl->header = *header;
  impl->geometry = *geometry;
  impl->channels = *channels;
  if (!impl->geometry.valid()) return Status::corruption(path + ": geometry_json: " + impl->geometry.invalid_reason());
  if (int32_t(impl->channels.size()) != impl->geometry.channels) {
    return Status::corruption(path + ": geometry or channel table is inconsistent");
  }
  auto layout = parse_layout(lname);
  auto codec = CodecSpec::parse(cname);
  auto state = parse_slide_state(sname);
  if (!layout.ok()) return layout.status().with_context(path);
  if (!codec.ok()) return codec.status().with_context(path);
  if (!state.ok()) return state.status().with_context(path);
  impl->layout = *layout;
  impl->codec = *codec;
  impl->state = *state;
  VSLIDE_ASSIGN_OR_RETURN(int64_t ch, h5::read_attr_int(root, "chunk_height"));
  VSLIDE_ASSIGN_OR_RETURN(int64_t cw, h5::read_attr_int(root, "chunk_width"));
  impl->chunk_h = int32_t(ch);
  impl->chunk_w = int32_t(cw);
  if (ch <= 0 || cw <= 0 || impl->geometry.tile_height % ch != 0 || impl->geometry.tile_width % cw != 0) {
    return Status::corruption(path + ": chunk size does not divide the tile");
  }
  impl->index = TileIndex(impl->geometry.planes_per_field());
  impl->field_type = sd::field_record_type();
  impl->chunk_type = sd::chunk_record_type();
  VSLIDE_ASSIGN_OR_RETURN(impl->mosaic, h5::check(H5Gopen2(root, "mosaic", H5P_DEFAULT), path + ": open /mosaic"));
  VSLIDE_ASSIGN_OR_RETURN(impl->fields_table,
                          h5::check(H5Dopen2(root, "index/fields", H5P_DEFAULT), path + ": open /index/fields"));
  VSLIDE_ASSIGN_OR_RETURN(impl->chunks_table,
                          h5::check(H5Dopen2(root, "index/chunks", H5P_DEFAULT), path + ": open /index/chunks"));
  VSLIDE_RETURN_IF_ERROR(impl->open_level(0, false));
  for (int32_t level = 1; level < 16; ++level) {
    if (h5::exists(impl->mosaic.get(), level_name(level).c_str())) {
      VSLIDE_RETURN_IF_ERROR(impl->open_level(level, false));
    }
  }
  if (h5::exists(root, "detections")) {
    VSLIDE_ASSIGN_OR_RETURN(h5::Handle dg, h5::check(H5Gopen2(root, "detections", H5P_DEFAULT), "open /detections"));
    H5G_info_t info;
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Gget_info(dg.get(), &info), "H5Gget_info"));
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      char name[256];
      if (H5Lget_name_by_idx(dg.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) {
        return h5::error(path + ": list /detections");
      }
      LabelLayer layer;
      VSLIDE_ASSIGN_OR_RETURN(layer.group, h5::check(H5Gopen2(dg.get(), name, H5P_DEFAULT), "open detection layer"));
      if (h5::exists(layer.group.get(), "labels")) {
        VSLIDE_ASSIGN_OR_RETURN(layer.labels, h5::check(H5Dopen2(layer.group.get(), "labels", H5P_DEFAULT), "labels"));
        VSLIDE_ASSIGN_OR_RETURN(layer.chunks, h5::check(H5Dopen2(layer.group.get(), "chunks", H5P_DEFAULT), "chunks"));
      }
      impl->label_layers[name] = std::move(layer);
    }
  }
  VSLIDE_RETURN_IF_ERROR(impl->load_index());
  if (!impl->writable && !impl->swmr_reader && impl->state != SlideState::kScanning) {
    impl->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (impl->fd >= 0 && ::fstat(impl->fd, &st) == 0 && st.st_size > 0) {
      // A finished file does not change: map it once, and a chunk read is a
      // checksum and a decode straight from the page cache.
      void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_SHARED, impl->fd, 0);
      if (p != MAP_FAILED) {
        impl->map = static_cast<const uint8_t*>(p);
        impl->map_size = size_t(st.st_size);
      }
    }
  }
  return std::unique_ptr<Hdf5Slide>(new Hdf5Slide(std::move(impl)));
}

Status Hdf5Slide::Impl::load_index() {
  if (swmr_reader) {
    // A writer's appends become visible only through a refresh; a failed one would
    // silently show an old index, so it is an error.
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Drefresh(fields_table.get()), path + ": refresh /index/fields"));
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Drefresh(chunks_table.get()), path + ": refresh /index/chunks"));
    for (auto& [l, lv] : levels) {
      VSLIDE_RETURN_IF_ERROR(h5::check(H5Drefresh(lv.dset.get()), path + ": refresh level " + std::to_string(l)));
    }
  }
  // The index must stay inside the pixel dataset it describes (a linear level 0
  // holds extent / (P x H) slots; packed and grid hold every cell).
  hsize_t slots_stored = hsize_t(geometry.rows) * hsize_t(geometry.cols);
  if (auto l0 = levels.find(0); l0 != levels.end() && l0->second.shape.layout == Layout::kLinear) {
    VSLIDE_ASSIGN_OR_RETURN(auto d, h5::dims(l0->second.dset.get()));
    if (d.size() != 2) return Status::corruption(path + ": /mosaic/level0 changed rank");
    l0->second.extent0 = d[0];
    slots_stored = d[0] / (hsize_t(l0->second.shape.planes) * hsize_t(l0->second.shape.height));
  }
  VSLIDE_ASSIGN_OR_RETURN(auto frecs,
                          sd::read_table<sd::FieldRecord>(fields_table.get(), field_type.get(), path + ": /index/fields"));
  VSLIDE_ASSIGN_OR_RETURN(auto crecs,
                          sd::read_table<sd::ChunkRecord>(chunks_table.get(), chunk_type.get(), path + ": /index/chunks"));
  std::unique_lock meta(meta_mu);
  TileIndex idx(geometry.planes_per_field());
  int64_t max_slot = -1;
  for (const auto& r : frecs) {
    if (r.row < 0 || r.row >= geometry.rows || r.col < 0 || r.col >= geometry.cols || r.slot < 0) {
      return Status::corruption(path + ": index entry for field (" + std::to_string(r.row) + "," +
                                std::to_string(r.col) + ") lies outside the mosaic");
    }
    if (hsize_t(r.slot) >= slots_stored) {
      return Status::corruption(path + ": index puts field (" + std::to_string(r.row) + "," + std::to_string(r.col) +
                                ") in slot " + std::to_string(r.slot) + ", but /mosaic/level0 holds " +
                                std::to_string(slots_stored) + " slots");
    }
    idx.upsert(FieldOfView{r.row, r.col, r.stage_x_um, r.stage_y_um, r.stage_z_um, r.acquired_unix_s}, r.slot);
    max_slot = std::max(max_slot, r.slot);
  }
  std::unordered_map<ChunkKey, ChunkEntry, ChunkKeyHash> map;
  uint64_t stored = 0;
  for (const auto& r : crecs) {
    ChunkKey k{r.slot, r.plane, r.level, r.block};
    auto [it, inserted] = map.insert({k, ChunkEntry{r.stored_bytes, r.checksum}});
    if (!inserted) {
      if (r.level == 0) stored -= it->second.stored_bytes;
      it->second = ChunkEntry{r.stored_bytes, r.checksum};
    }
    if (r.level == 0) stored += r.stored_bytes;
  }
  // A plane is present when all its blocks are.
  const int32_t blocks = level_shape(0).blocks();
  for (const auto& e : idx.entries()) {
    for (int32_t p = 0; p < idx.planes_per_field(); ++p) {
      bool all = true;
      for (int32_t b = 0; b < blocks && all; ++b) all = map.count(ChunkKey{e.slot, p, 0, b}) > 0;
      if (all) idx.mark_plane(e.field.row, e.field.col, p);
    }
  }
  // Keep addresses already learnt.
  for (auto& [k, v] : map) {
    auto old = chunks.find(k);
    if (old != chunks.end() && old->second.checksum == v.checksum) v.address = old->second.address;
  }
  index = std::move(idx);
  chunks = std::move(map);
  bytes_stored = stored;
  next_slot = max_slot + 1;
  snapshot.reset();
  return Status();
}

Status Hdf5Slide::refresh() {
  std::lock_guard lock(impl_->h5_mu);
  if (impl_->writable) return Status();
  if (impl_->swmr_reader) {
    auto st = h5::read_attr_string(impl_->file.get(), "state");
    if (st.ok()) {
      auto s = parse_slide_state(*st);
      if (s.ok()) impl_->state = *s;
    }
  }
  return impl_->load_index();
}

Hdf5Slide::Hdf5Slide(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Hdf5Slide::~Hdf5Slide() {
  if (impl_ && impl_->writable && !impl_->finished) {
    // Not finished: keep what was written readable (state stays "scanning").
    Status s = flush();
    (void)s;
  }
  std::lock_guard lock(impl_->h5_mu);
  impl_->label_layers.clear();
  impl_->levels.clear();
  impl_->fields_table.reset();
  impl_->chunks_table.reset();
  impl_->mosaic.reset();
  impl_->file.reset();
}

std::string Hdf5Slide::describe() const { return impl_->path; }
const SlideHeader& Hdf5Slide::header() const { return impl_->header; }
const MosaicGeometry& Hdf5Slide::geometry() const { return impl_->geometry; }
const std::vector<ChannelInfo>& Hdf5Slide::channels() const { return impl_->channels; }
SlideState Hdf5Slide::state() const {
  std::shared_lock meta(impl_->meta_mu);
  return impl_->state;
}
CodecSpec Hdf5Slide::codec() const { return impl_->codec; }
Layout Hdf5Slide::layout() const { return impl_->layout; }
int32_t Hdf5Slide::chunk_height() const { return impl_->chunk_h; }
int32_t Hdf5Slide::chunk_width() const { return impl_->chunk_w; }
int Hdf5Slide::format_version() const { return impl_->format_version; }

std::shared_ptr<const TileIndex> Hdf5Slide::index() const {
  {
    std::shared_lock meta(impl_->meta_mu);
    if (impl_->snapshot) return impl_->snapshot;
  }
  std::unique_lock meta(impl_->meta_mu);
  if (!impl_->snapshot) impl_->snapshot = std::make_shared<const TileIndex>(impl_->index);
  return impl_->snapshot;
}

std::vector<int32_t> Hdf5Slide::zoom_levels() const {
  std::lock_guard lock(impl_->h5_mu);
  std::vector<int32_t> out;
  for (const auto& [l, lv] : impl_->levels) out.push_back(l);
  return out;
}

uint64_t Hdf5Slide::bytes_stored() const {
  std::shared_lock meta(impl_->meta_mu);
  return impl_->bytes_stored;
}

uint64_t Hdf5Slide::bytes_raw() const {
  std::shared_lock meta(impl_->meta_mu);
  return uint64_t(impl_->index.planes_present()) * impl_->geometry.plane_bytes();
}

Status Hdf5Slide::add_zoom_level(int32_t level) {
  if (!impl_->writable) return Status::failed_precondition(impl_->path + ": opened read-only");
  if (level < 1 || level > 15) return Status::invalid_argument(impl_->path + ": zoom level must be 1-15");
  std::lock_guard lock(impl_->h5_mu);
  if (impl_->swmr_writer) {
    return Status::failed_precondition(impl_->path + ": zoom levels cannot be added while scanning (SWMR)");
  }
  if (impl_->levels.count(level)) return Status();
  return impl_->open_level(level, true);
}

Status Hdf5Slide::flush() {
  if (!impl_->writable || impl_->finished) return Status();
  std::lock_guard lock(impl_->h5_mu);
  VSLIDE_RETURN_IF_ERROR(impl_->append_pending());
  return h5::check(H5Fflush(impl_->file.get(), H5F_SCOPE_LOCAL), impl_->path + ": flush");
}

Status Hdf5Slide::finish(SlideState final_state) {
  if (!impl_->writable) return Status::failed_precondition(impl_->path + ": opened read-only");
  if (impl_->finished) return Status::failed_precondition(impl_->path + ": already finished");
  std::lock_guard lock(impl_->h5_mu);
  VSLIDE_RETURN_IF_ERROR(impl_->append_pending());
  if (impl_->swmr_writer) {
    // Attributes cannot change under SWMR: close and reopen plainly.
    impl_->label_layers.clear();
    impl_->levels.clear();
    impl_->fields_table.reset();
    impl_->chunks_table.reset();
    impl_->mosaic.reset();
    impl_->file.reset();
    // Without HDF5's file lock: a live viewer or a dealer reading the scan
    // holds a shared lock, and the scan must still finish. This process is
    // the slide's only writer (the manager starts one per slide).
    VSLIDE_ASSIGN_OR_RETURN(h5::Handle fapl, h5::check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate"));
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_file_locking(fapl.get(), false, true), "H5Pset_file_locking"));
    VSLIDE_ASSIGN_OR_RETURN(impl_->file, h5::check(H5Fopen(impl_->path.c_str(), H5F_ACC_RDWR, fapl.get()),
                                                   impl_->path + ": reopen to finish"));
    hid_t root = impl_->file.get();
    VSLIDE_ASSIGN_OR_RETURN(impl_->mosaic, h5::check(H5Gopen2(root, "mosaic", H5P_DEFAULT), "open /mosaic"));
    VSLIDE_ASSIGN_OR_RETURN(impl_->fields_table, h5::check(H5Dopen2(root, "index/fields", H5P_DEFAULT), "fields"));
    VSLIDE_ASSIGN_OR_RETURN(impl_->chunks_table, h5::check(H5Dopen2(root, "index/chunks", H5P_DEFAULT), "chunks"));
    VSLIDE_RETURN_IF_ERROR(impl_->open_level(0, false));
    impl_->swmr_writer = false;
  }
  hid_t root = impl_->file.get();
  {
    // The fields table, sorted by (row, col): readers may bisect it directly.
    std::shared_lock meta(impl_->meta_mu);
    std::vector<sd::FieldRecord> recs;
    for (const auto& e : impl_->index.entries()) {
      const auto& f = e.field;
      recs.push_back({f.row, f.col, e.slot, f.stage_x_um, f.stage_y_um, f.stage_z_um, f.acquired_unix_s});
    }
    VSLIDE_RETURN_IF_ERROR(
        sd::rewrite_table(impl_->fields_table.get(), impl_->field_type.get(), recs.data(), recs.size()));
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "index_digest", index_digest(*impl_)));
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "fields_present", int64_t(impl_->index.fields_present())));
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "planes_present", int64_t(impl_->index.planes_present())));
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "bytes_stored", int64_t(impl_->bytes_stored)));
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(
        root, "bytes_raw", int64_t(uint64_t(impl_->index.planes_present()) * impl_->geometry.plane_bytes())));
  }
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "state", std::string(slide_state_name(final_state))));
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(root, "finished_unix_s", now));
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Fflush(root, H5F_SCOPE_LOCAL), impl_->path + ": flush"));
  std::unique_lock meta(impl_->meta_mu);
  impl_->state = final_state;
  impl_->finished = true;
  return Status();
}

}  // namespace vslide
