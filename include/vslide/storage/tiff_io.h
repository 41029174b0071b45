// 16-bit TIFF files (libtiff): import of existing fields of view, single- or
// multi-page (OME-TIFF, ImageJ hyperstacks, Micro-Manager stacks), and
// `vslide export-tile`. Errors name the file and the page and say what was
// wrong (not a TIFF, 8-bit, RGB, truncated, absurd size, ...).
//
// Sizes are checked against the file before any pixel buffer is allocated:
// a header that claims 65535x65535 pixels in a 1 KB file is refused, not
// allocated. Limits: a page holds at most kMaxTiffPagePixels pixels, a file
// at most kMaxTiffPages pages, and the compressed strips or tiles must be
// large enough to hold the pixels the header promises (uncompressed: every
// byte; compressed: at most kMaxTiffCompressionRatio : 1).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vslide/core/image.h"
#include "vslide/core/status.h"

namespace vslide {

constexpr uint64_t kMaxTiffPagePixels = uint64_t(1) << 28;  // 16384 x 16384
constexpr int kMaxTiffPages = 1000000;
constexpr uint64_t kMaxTiffCompressionRatio = 4096;

// One page (IFD) of a TIFF file, as its tags describe it.
struct TiffPage {
  int index = 0;         // 0-based page number
  uint64_t offset = 0;   // IFD offset in the file
  uint32_t width = 0, height = 0;
  uint16_t bits_per_sample = 0, samples_per_pixel = 1, sample_format = 1;
  bool tiled = false;
};

// The directory of a TIFF file: every page's tags, the first page's
// ImageDescription (where OME-XML and ImageJ metadata live) and the pixel
// size when the file states one. No pixels are read by open().
// Thread-safety: a TiffDirectory is a plain value once opened;
// read_tiff_page opens the file itself, so many threads read pages at once.
struct TiffDirectory {
  std::string path;
  std::vector<TiffPage> pages;
  std::string description;  // page 0's ImageDescription, empty when absent
  // From XResolution when the unit is centimetres, or ImageJ's "unit=um"
  // (micron, nm, mm) description with no ResolutionUnit; inch resolutions
  // (usually a 72 dpi default) are ignored.
  std::optional<double> pixel_size_um;

  static Result<TiffDirectory> open(const std::string& path);
};

// Decodes one page as a grayscale uint16 image. InvalidArgument for a page
// vslide cannot import (8-bit, float, RGB, absurd size), Corruption for
// data that does not decode or strips that cannot hold the pixels.
Result<Image16> read_tiff_page(const TiffDirectory& dir, int page);

// Reads the first page of a grayscale uint16 TIFF (any compression libtiff
// reads). Other pages, if any, are not read: importers use TiffDirectory.
Result<Image16> read_tiff16(const std::string& path);
// Writes a grayscale uint16 TIFF (deflate-compressed).
Status write_tiff16(const std::string& path, const Image16View& image);

}  // namespace vslide
