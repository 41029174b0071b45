// 16-bit single-page TIFF files (libtiff): import of existing fields of view
// and `vslide export-tile`. Errors name the file and say what was wrong
// (not a TIFF, 8-bit, RGB, tiled strips we cannot read, ...).
#pragma once

#include <string>

#include "vslide/core/image.h"
#include "vslide/core/status.h"

namespace vslide {

// Reads the first page of a grayscale uint16 TIFF (any compression libtiff reads).
Result<Image16> read_tiff16(const std::string& path);
// Writes a grayscale uint16 TIFF (deflate-compressed).
Status write_tiff16(const std::string& path, const Image16View& image);

}  // namespace vslide
