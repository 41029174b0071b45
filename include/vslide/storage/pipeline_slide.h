// PipelineSlide: the paper's storage path, kept as the baseline the fast
// path is measured against (`vslide bench storage`).
//
// Planes move with H5Dwrite / H5Dread on hyperslabs of the same dataset
// layouts Hdf5Slide uses, so compression runs inside HDF5's filter pipeline
// (gzip = shuffle + deflate, or no filter) behind HDF5's global lock. It
// stores pixels only (no index, no checksums): a measurement tool, not a
// slide format. Not thread-safe: one thread at a time, as the paper ran it.
#pragma once

#include <memory>
#include <string>

#include "vslide/core/image.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide {

class PipelineSlide {
 public:
  // codec must be gzip (any level) or none.
  static Result<std::unique_ptr<PipelineSlide>> create(const std::string& path, const MosaicGeometry& geometry,
                                                       Layout layout, const CodecSpec& codec);
  // `dataset` names the pixels: "pixels" in files create() made; "mosaic/level0" reads an Hdf5Slide's
  // full-resolution planes through HDF5's own filter pipeline (Blosc: the registered filter 32001 plugin,
  // what h5py users get).
  static Result<std::unique_ptr<PipelineSlide>> open(const std::string& path, const MosaicGeometry& geometry,
                                                     Layout layout, const std::string& dataset = "pixels");
  ~PipelineSlide();

  // `slot` is the field's storage position for the linear layout.
  Status write(const TileKey& key, int64_t slot, const Image16View& pixels);
  Result<Image16> read(const TileKey& key, int64_t slot);

  struct Impl;

 private:
  explicit PipelineSlide(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vslide
