#include "vslide/storage/tiff_io.h"

#include <tiffio.h>

#include <cstring>
#include <memory>
#include <vector>

namespace vslide {

namespace {
struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};
using TiffPtr = std::unique_ptr<TIFF, TiffCloser>;

void quiet_handler(const char*, const char*, va_list) {}
}  // namespace

Result<Image16> read_tiff16(const std::string& path) {
  TIFFSetWarningHandler(quiet_handler);
  TIFFSetErrorHandler(quiet_handler);
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    return Status::not_found(path + ": no such file");
  }
  TiffPtr tif(TIFFOpen(path.c_str(), "r"));
  if (!tif) return Status::invalid_argument(path + ": not a TIFF file");
  uint32_t w = 0, h = 0;
  uint16_t bps = 0, spp = 1, fmt = SAMPLEFORMAT_UINT;
  TIFFGetField(tif.get(), TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(tif.get(), TIFFTAG_IMAGELENGTH, &h);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_SAMPLEFORMAT, &fmt);
  if (bps != 16 || fmt != SAMPLEFORMAT_UINT) {
    return Status::invalid_argument(path + ": expected 16-bit unsigned pixels, found " + std::to_string(bps) +
                                    "-bit" + (fmt != SAMPLEFORMAT_UINT ? " non-integer" : ""));
  }
  if (spp != 1) {
    return Status::invalid_argument(path + ": expected one sample per pixel (grayscale), found " + std::to_string(spp));
  }
  if (w == 0 || h == 0 || w > 65536 || h > 65536) {
    return Status::invalid_argument(path + ": implausible size " + std::to_string(w) + "x" + std::to_string(h));
  }
  Image16 img{int(w), int(h)};
  if (TIFFIsTiled(tif.get())) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif.get(), TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif.get(), TIFFTAG_TILELENGTH, &th);
    std::vector<uint16_t> buf(TIFFTileSize(tif.get()) / 2);
    for (uint32_t y = 0; y < h; y += th) {
      for (uint32_t x = 0; x < w; x += tw) {
        if (TIFFReadTile(tif.get(), buf.data(), x, y, 0, 0) < 0) {
          return Status::corruption(path + ": unreadable tile at (" + std::to_string(x) + "," + std::to_string(y) + ")");
        }
        for (uint32_t yy = 0; yy < th && y + yy < h; ++yy) {
          uint32_t n = std::min(tw, w - x);
          std::memcpy(img.row(int(y + yy)) + x, buf.data() + size_t(yy) * tw, n * 2);
        }
      }
    }
  } else {
    for (uint32_t y = 0; y < h; ++y) {
      if (TIFFReadScanline(tif.get(), img.row(int(y)), y, 0) < 0) {
        return Status::corruption(path + ": unreadable scanline " + std::to_string(y));
      }
    }
  }
  return img;
}

Status write_tiff16(const std::string& path, const Image16View& image) {
  TIFFSetWarningHandler(quiet_handler);
  TIFFSetErrorHandler(quiet_handler);
  TiffPtr tif(TIFFOpen(path.c_str(), "w"));
  if (!tif) return Status::io_error(path + ": cannot create TIFF file");
  TIFFSetField(tif.get(), TIFFTAG_IMAGEWIDTH, uint32_t(image.width()));
  TIFFSetField(tif.get(), TIFFTAG_IMAGELENGTH, uint32_t(image.height()));
  TIFFSetField(tif.get(), TIFFTAG_BITSPERSAMPLE, uint16_t(16));
  TIFFSetField(tif.get(), TIFFTAG_SAMPLESPERPIXEL, uint16_t(1));
  TIFFSetField(tif.get(), TIFFTAG_SAMPLEFORMAT, uint16_t(SAMPLEFORMAT_UINT));
  TIFFSetField(tif.get(), TIFFTAG_PHOTOMETRIC, uint16_t(PHOTOMETRIC_MINISBLACK));
  TIFFSetField(tif.get(), TIFFTAG_PLANARCONFIG, uint16_t(PLANARCONFIG_CONTIG));
  TIFFSetField(tif.get(), TIFFTAG_COMPRESSION, uint16_t(COMPRESSION_ADOBE_DEFLATE));
  TIFFSetField(tif.get(), TIFFTAG_ROWSPERSTRIP, uint32_t(64));
  std::vector<uint16_t> row(size_t(image.width()));
  for (int y = 0; y < image.height(); ++y) {
    std::memcpy(row.data(), image.row(y), row.size() * 2);
    if (TIFFWriteScanline(tif.get(), row.data(), uint32_t(y), 0) < 0) {
      return Status::io_error(path + ": write failed at row " + std::to_string(y));
    }
  }
  return Status();
}

}  // namespace vslide
