// Internal interface of the export part: where fused blocks go (an OME-TIFF
// or an OME-Zarr pyramid being written), and the OME metadata both share.
#pragma once

#include <memory>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "vslide/export/export.h"

namespace vslide {

// One unit of work: a block of one output plane at one level, clipped to the
// level (w, h <= block). `seq` orders the blocks as a TIFF must store them.
struct BlockJob {
  uint64_t seq = 0;
  int32_t level = 0;
  OutputPlane plane;
  int32_t plane_index = 0;  // (t * Z + z) * C + c, as OME's XYCZT order
  int64_t x = 0, y = 0;
  int32_t w = 0, h = 0;
  bool first_of_image = false, last_of_image = false;  // of its (plane, level) image
};

struct SinkSettings {
  int32_t tile = 512;
  int32_t block = 2048;
  std::string compression;
  int workers = 1;  // OME-TIFF: compressed blocks that may wait for their turn
  bool resume = false;  // OME-Zarr: keep the shards already in the folder
};

class PyramidSink {
 public:
  virtual ~PyramidSink() = default;
  // Stores one fused block (w x h pixels, row-major). Called from many
  // workers at once; a sink that needs order waits for the block's turn.
  virtual Status write_block(const BlockJob& job, std::span<const uint16_t> pixels) = 0;
  // True when the block is already stored completely (a resumed OME-Zarr).
  virtual bool has_block(const BlockJob&) const { return false; }
  // Unblocks waiting workers after a failure elsewhere.
  virtual void abort() = 0;
  // Writes what remains (directories, metadata) and closes the output.
  virtual Status finish() = 0;
};

// In an OME-Zarr's .partial folder: what the export is made of, for --resume.
inline constexpr const char* kResumeManifest = "vslide-export.json";

// Opens the writer at `path` (the .partial name). `compression` "" = default.
Result<std::unique_ptr<PyramidSink>> open_ome_tiff_sink(const std::string& path, const SlideSource& src,
                                                       const FusionPlan& plan, const SinkSettings& settings);
Result<std::unique_ptr<PyramidSink>> open_ome_zarr_sink(const std::string& path, const SlideSource& src,
                                                       const FusionPlan& plan, const SinkSettings& settings);

// OME-XML for the first IFD of an OME-TIFF (physical sizes, channel names,
// colours and wavelengths, one TiffData for the XYCZT-ordered planes).
std::string ome_xml(const SlideSource& src, const FusionPlan& plan);
// The root group's "ome" attributes of an OME-Zarr 0.5 image.
nlohmann::json ome_zarr_attributes(const SlideSource& src, const FusionPlan& plan);

}  // namespace vslide
