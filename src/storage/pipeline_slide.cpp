#include "vslide/storage/pipeline_slide.h"

#include "hdf5_util.h"
#include "slide_layout.h"

namespace vslide {

struct PipelineSlide::Impl {
  std::string path;
  MosaicGeometry geometry;
  storage_detail::LevelShape shape;
  h5::Handle file, dset;
  hsize_t extent0 = 0;

  Result<h5::Handle> select(const TileKey& key, int64_t slot, std::vector<hsize_t>* count) {
    const int32_t plane = geometry.plane_index(key.channel, key.z, key.t);
    auto start = shape.block_offset(slot, key.row, key.col, plane, 0);
    *count = shape.layout == Layout::kGrid
                 ? std::vector<hsize_t>{1, 1, 1, hsize_t(shape.height), hsize_t(shape.width)}
                 : std::vector<hsize_t>{hsize_t(shape.height), hsize_t(shape.width)};
    VSLIDE_ASSIGN_OR_RETURN(h5::Handle fspace, h5::check(H5Dget_space(dset.get()), "H5Dget_space"));
    VSLIDE_RETURN_IF_ERROR(h5::check(
        H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count->data(), nullptr), "select"));
    return fspace;
  }
};

PipelineSlide::PipelineSlide(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PipelineSlide::~PipelineSlide() = default;

namespace {
storage_detail::LevelShape full_plane_shape(const MosaicGeometry& g, Layout layout) {
  storage_detail::LevelShape s;
  s.layout = layout;
  s.planes = g.planes_per_field();
  s.rows = g.rows;
  s.cols = g.cols;
  s.height = s.chunk_h = g.tile_height;
  s.width = s.chunk_w = g.tile_width;
  return s;
}
}  // namespace

Result<std::unique_ptr<PipelineSlide>> PipelineSlide::create(const std::string& path, const MosaicGeometry& geometry,
                                                             Layout layout, const CodecSpec& codec) {
  h5::silence_errors();
  if (codec.family == CodecFamily::kBlosc) {
    return Status::invalid_argument("the pipeline baseline runs gzip or none, not Blosc");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->geometry = geometry;
  impl->shape = full_plane_shape(geometry, layout);
  VSLIDE_ASSIGN_OR_RETURN(impl->file, h5::check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                                                path + ": create"));
  auto d0 = impl->shape.initial_dims(), dm = impl->shape.max_dims(), dc = impl->shape.chunk_dims();
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle space, h5::check(H5Screate_simple(int(d0.size()), d0.data(), dm.data()), "space"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle dcpl, h5::check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"));
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_chunk(dcpl.get(), int(dc.size()), dc.data()), "H5Pset_chunk"));
  if (codec.family == CodecFamily::kGzip) {
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_shuffle(dcpl.get()), "H5Pset_shuffle"));
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Pset_deflate(dcpl.get(), unsigned(codec.level)), "H5Pset_deflate"));
  }
  VSLIDE_ASSIGN_OR_RETURN(impl->dset, h5::check(H5Dcreate2(impl->file.get(), "pixels", H5T_STD_U16LE, space.get(),
                                                           H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                                path + ": create dataset"));
  impl->extent0 = d0[0];
  return std::unique_ptr<PipelineSlide>(new PipelineSlide(std::move(impl)));
}

Result<std::unique_ptr<PipelineSlide>> PipelineSlide::open(const std::string& path, const MosaicGeometry& geometry,
                                                           Layout layout, const std::string& dataset) {
  h5::silence_errors();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->geometry = geometry;
  impl->shape = full_plane_shape(geometry, layout);
  VSLIDE_ASSIGN_OR_RETURN(impl->file, h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path + ": open"));
  VSLIDE_ASSIGN_OR_RETURN(impl->dset, h5::check(H5Dopen2(impl->file.get(), dataset.c_str(), H5P_DEFAULT),
                                                path + ": open " + dataset));
  return std::unique_ptr<PipelineSlide>(new PipelineSlide(std::move(impl)));
}

Status PipelineSlide::write(const TileKey& key, int64_t slot, const Image16View& pixels) {
  Impl& m = *impl_;
  if (!pixels.contiguous() || pixels.width() != m.shape.width || pixels.height() != m.shape.height) {
    return Status::invalid_argument(m.path + ": plane size differs from the geometry");
  }
  if (m.shape.layout == Layout::kLinear && m.shape.rows_for_slot(slot) > m.extent0) {
    std::vector<hsize_t> d = {m.shape.rows_for_slot(slot), hsize_t(m.shape.width)};
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Dset_extent(m.dset.get(), d.data()), "extend"));
    m.extent0 = d[0];
  }
  std::vector<hsize_t> count;
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle fspace, m.select(key, slot, &count));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle mspace, h5::check(H5Screate_simple(int(count.size()), count.data(), nullptr), "mem"));
  return h5::check(H5Dwrite(m.dset.get(), H5T_NATIVE_UINT16, mspace.get(), fspace.get(), H5P_DEFAULT, pixels.data()),
                   m.path + ": H5Dwrite " + key.to_string());
}

Result<Image16> PipelineSlide::read(const TileKey& key, int64_t slot) {
  Impl& m = *impl_;
  std::vector<hsize_t> count;
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle fspace, m.select(key, slot, &count));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle mspace, h5::check(H5Screate_simple(int(count.size()), count.data(), nullptr), "mem"));
  Image16 img{m.shape.width, m.shape.height};
  VSLIDE_RETURN_IF_ERROR(h5::check(
      H5Dread(m.dset.get(), H5T_NATIVE_UINT16, mspace.get(), fspace.get(), H5P_DEFAULT, img.data()),
      m.path + ": H5Dread " + key.to_string()));
  return img;
}

}  // namespace vslide
