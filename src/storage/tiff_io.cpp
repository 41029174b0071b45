#include "vslide/storage/tiff_io.h"

#include <tiffio.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <vector>

namespace vslide {

namespace {
struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};
using TiffPtr = std::unique_ptr<TIFF, TiffCloser>;

// libtiff reports through a process-wide handler: keep each thread's last
// message so that errors can quote it.
thread_local std::string g_last_error;
void error_handler(const char*, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  g_last_error = buf;
}
void quiet_handler(const char*, const char*, va_list) {}

void install_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    TIFFSetWarningHandler(quiet_handler);
    TIFFSetErrorHandler(error_handler);
  });
}

std::string libtiff_says() { return g_last_error.empty() ? std::string() : " (libtiff: " + g_last_error + ")"; }

Result<TiffPtr> open_tiff(const std::string& path) {
  install_handlers();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return std::filesystem::exists(path, ec) ? Status::invalid_argument(path + ": not a regular file")
                                             : Status::not_found(path + ": no such file");
  }
  g_last_error.clear();
  TiffPtr tif(TIFFOpen(path.c_str(), "rm"));
  if (!tif) return Status::invalid_argument(path + ": not a TIFF file" + libtiff_says());
  return tif;
}

TiffPage describe_page(TIFF* tif, int index) {
  TiffPage p;
  p.index = index;
  p.offset = TIFFCurrentDirOffset(tif);
  // A page without its size tags keeps 0 x 0, which every reader refuses as an implausible size.
  if (TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &p.width) != 1 || TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &p.height) != 1) {
    p.width = p.height = 0;
  }
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &p.bits_per_sample);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &p.samples_per_pixel);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &p.sample_format);
  p.tiled = TIFFIsTiled(tif) != 0;
  return p;
}

std::optional<double> pixel_size_from_resolution(TIFF* tif, const std::string& description) {
  float xres = 0;
  uint16_t unit = RESUNIT_NONE;
  if (TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres) != 1 || !(xres > 0)) return std::nullopt;
  TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
  if (unit == RESUNIT_CENTIMETER) return 1e4 / xres;
  if (unit != RESUNIT_NONE) return std::nullopt;
  // ImageJ: "unit=micron" (or um, µm, \u00B5m, nm, mm) in the description.
  auto at = description.find("\nunit=");
  if (at == std::string::npos) return std::nullopt;
  const std::string u = description.substr(at + 6, description.find('\n', at + 6) - (at + 6));
  if (u == "micron" || u == "um" || u == "\xc2\xb5m" || u == "\\u00B5m" || u == "microns") return 1.0 / xres;
  if (u == "nm") return 1e-3 / xres;
  if (u == "mm") return 1e3 / xres;
  return std::nullopt;
}

// Resolution tags are often left at a writer's default (1 px/cm, 72 dpi):
// a pixel size outside 1 nm..1 mm is not a microscope's.
std::optional<double> pixel_size_from_tags(TIFF* tif, const std::string& description) {
  auto px = pixel_size_from_resolution(tif, description);
  if (px && (*px < 1e-3 || *px > 1e3)) return std::nullopt;
  return px;
}

std::string page_name(const TiffDirectory& dir, int page) {
  return dir.pages.size() > 1 ? dir.path + " page " + std::to_string(page) : dir.path;
}

// The strips or tiles must lie inside the file and be able to hold the pixels.
Status check_extent(TIFF* tif, const std::string& where, const TiffPage& p, uint64_t file_size) {
  const uint64_t raw = uint64_t(p.width) * p.height * 2;
  const bool tiled = p.tiled;
  const uint32_t n = tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif);
  uint64_t* counts = nullptr;
  uint64_t* offsets = nullptr;
  if (TIFFGetField(tif, tiled ? TIFFTAG_TILEBYTECOUNTS : TIFFTAG_STRIPBYTECOUNTS, &counts) != 1 ||
      TIFFGetField(tif, tiled ? TIFFTAG_TILEOFFSETS : TIFFTAG_STRIPOFFSETS, &offsets) != 1 || !counts || !offsets ||
      n == 0) {
    return Status::corruption(where + ": no strip or tile offsets" + libtiff_says());
  }
  uint64_t stored = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (offsets[i] > file_size || counts[i] > file_size - offsets[i]) {
      return Status::corruption(where + ": " + (tiled ? "tile " : "strip ") + std::to_string(i) + " (" +
                                std::to_string(counts[i]) + " bytes at offset " + std::to_string(offsets[i]) +
                                ") lies past the end of the file (" + std::to_string(file_size) + " bytes)");
    }
    stored += counts[i];
  }
  uint16_t compression = COMPRESSION_NONE;
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
  const uint64_t need = compression == COMPRESSION_NONE ? raw : (raw + kMaxTiffCompressionRatio - 1) / kMaxTiffCompressionRatio;
  if (stored < need) {
    return Status::corruption(where + ": header says " + std::to_string(p.width) + "x" + std::to_string(p.height) +
                              " pixels (" + std::to_string(raw) + " bytes) but its " + (tiled ? "tiles" : "strips") +
                              " hold " + std::to_string(stored) + " bytes" +
                              (compression == COMPRESSION_NONE ? std::string(" uncompressed")
                                                               : ", beyond any plausible compression"));
  }
  // libtiff replaces byte counts that look wrong by estimates from the image
  // size, so counts that add up prove nothing (fuzz_tiff_import: 653,920
  // estimated tiles at offset 0 of a 2 KB file): the file must hold the pixels.
  if (need > file_size) {
    return Status::corruption(where + ": header says " + std::to_string(p.width) + "x" + std::to_string(p.height) +
                              " pixels (" + std::to_string(raw) + " bytes)" +
                              (compression == COMPRESSION_NONE ? " uncompressed, the whole file is "
                                                               : ", beyond any plausible compression of the whole file, ") +
                              std::to_string(file_size) + " bytes");
  }
  return Status();
}

}  // namespace

Result<TiffDirectory> TiffDirectory::open(const std::string& path) {
  VSLIDE_ASSIGN_OR_RETURN(TiffPtr tif, open_tiff(path));
  TiffDirectory dir;
  dir.path = path;
  char* desc = nullptr;
  if (TIFFGetField(tif.get(), TIFFTAG_IMAGEDESCRIPTION, &desc) == 1 && desc) dir.description = desc;
  dir.pixel_size_um = pixel_size_from_tags(tif.get(), dir.description);
  for (int i = 0;; ++i) {
    if (i >= kMaxTiffPages) {
      return Status::invalid_argument(path + ": more than " + std::to_string(kMaxTiffPages) + " pages");
    }
    dir.pages.push_back(describe_page(tif.get(), i));
    g_last_error.clear();
    if (!TIFFReadDirectory(tif.get())) {
      // 0 at the end of the chain; a broken link is reported by libtiff.
      if (!g_last_error.empty()) {
        return Status::corruption(path + ": page " + std::to_string(i + 1) + " does not read" + libtiff_says());
      }
      break;
    }
  }
  return dir;
}

Result<Image16> read_tiff_page(const TiffDirectory& dir, int page) {
  if (page < 0 || size_t(page) >= dir.pages.size()) {
    return Status::out_of_range(dir.path + ": page " + std::to_string(page) + " of " + std::to_string(dir.pages.size()));
  }
  const TiffPage& p = dir.pages[size_t(page)];
  const std::string where = page_name(dir, page);
  if (p.bits_per_sample != 16 || p.sample_format != SAMPLEFORMAT_UINT) {
    return Status::invalid_argument(where + ": expected 16-bit unsigned pixels, found " +
                                    std::to_string(p.bits_per_sample) + "-bit" +
                                    (p.sample_format != SAMPLEFORMAT_UINT ? " non-integer" : ""));
  }
  if (p.samples_per_pixel != 1) {
    return Status::invalid_argument(where + ": expected one sample per pixel (grayscale), found " +
                                    std::to_string(p.samples_per_pixel));
  }
  if (p.width == 0 || p.height == 0 || uint64_t(p.width) * p.height > kMaxTiffPagePixels || p.width > 65536 ||
      p.height > 65536) {
    return Status::invalid_argument(where + ": implausible size " + std::to_string(p.width) + "x" +
                                    std::to_string(p.height) + " (at most " + std::to_string(kMaxTiffPagePixels) +
                                    " pixels a page)");
  }
  VSLIDE_ASSIGN_OR_RETURN(TiffPtr tif, open_tiff(dir.path));
  if (!TIFFSetSubDirectory(tif.get(), p.offset)) {
    return Status::corruption(where + ": directory does not read" + libtiff_says());
  }
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(dir.path, ec);
  if (ec) return Status::io_error(dir.path + ": " + ec.message());
  VSLIDE_RETURN_IF_ERROR(check_extent(tif.get(), where, p, file_size));
  const uint32_t w = p.width, h = p.height;
  Image16 img{int(w), int(h)};
  if (p.tiled) {
    uint32_t tw = 0, th = 0;
    if (TIFFGetField(tif.get(), TIFFTAG_TILEWIDTH, &tw) != 1 || TIFFGetField(tif.get(), TIFFTAG_TILELENGTH, &th) != 1) {
      return Status::corruption(where + ": a tiled page without TileWidth/TileLength");
    }
    if (tw == 0 || th == 0 || uint64_t(tw) * th > kMaxTiffPagePixels) {
      return Status::invalid_argument(where + ": implausible tile size " + std::to_string(tw) + "x" + std::to_string(th));
    }
    std::vector<uint16_t> buf(size_t(tw) * th);
    for (uint32_t y = 0; y < h; y += th) {
      for (uint32_t x = 0; x < w; x += tw) {
        if (TIFFReadTile(tif.get(), buf.data(), x, y, 0, 0) < 0) {
          return Status::corruption(where + ": unreadable tile at (" + std::to_string(x) + "," + std::to_string(y) +
                                    ")" + libtiff_says());
        }
        const uint32_t n = std::min(tw, w - x);
        for (uint32_t yy = 0; yy < th && y + yy < h; ++yy) {
          std::memcpy(img.row(int(y + yy)) + x, buf.data() + size_t(yy) * tw, n * 2);
        }
      }
    }
    return img;
  }
  uint32_t rps = h;
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_ROWSPERSTRIP, &rps);
  rps = std::max<uint32_t>(1, std::min(rps, h));
  for (uint32_t s = 0, y = 0; y < h; ++s, y += rps) {
    const uint32_t rows = std::min(rps, h - y);
    const tmsize_t want = tmsize_t(rows) * tmsize_t(w) * 2;
    const tmsize_t got = TIFFReadEncodedStrip(tif.get(), s, img.row(int(y)), want);
    if (got != want) {
      return Status::corruption(where + ": strip " + std::to_string(s) + " (rows " + std::to_string(y) + ".." +
                                std::to_string(y + rows - 1) + ") does not decode" + libtiff_says());
    }
  }
  return img;
}

Result<Image16> read_tiff16(const std::string& path) {
  VSLIDE_ASSIGN_OR_RETURN(TiffDirectory dir, TiffDirectory::open(path));
  return read_tiff_page(dir, 0);
}

Status write_tiff16(const std::string& path, const Image16View& image) {
  install_handlers();
  g_last_error.clear();
  TiffPtr tif(TIFFOpen(path.c_str(), "w"));
  if (!tif) return Status::io_error(path + ": cannot create TIFF file" + libtiff_says());
  bool ok = TIFFSetField(tif.get(), TIFFTAG_IMAGEWIDTH, uint32_t(image.width())) &&
            TIFFSetField(tif.get(), TIFFTAG_IMAGELENGTH, uint32_t(image.height())) &&
            TIFFSetField(tif.get(), TIFFTAG_BITSPERSAMPLE, uint16_t(16)) &&
            TIFFSetField(tif.get(), TIFFTAG_SAMPLESPERPIXEL, uint16_t(1)) &&
            TIFFSetField(tif.get(), TIFFTAG_SAMPLEFORMAT, uint16_t(SAMPLEFORMAT_UINT)) &&
            TIFFSetField(tif.get(), TIFFTAG_PHOTOMETRIC, uint16_t(PHOTOMETRIC_MINISBLACK)) &&
            TIFFSetField(tif.get(), TIFFTAG_PLANARCONFIG, uint16_t(PLANARCONFIG_CONTIG)) &&
            TIFFSetField(tif.get(), TIFFTAG_COMPRESSION, uint16_t(COMPRESSION_ADOBE_DEFLATE)) &&
            TIFFSetField(tif.get(), TIFFTAG_ROWSPERSTRIP, uint32_t(64));
  if (!ok) return Status::io_error(path + ": cannot set the TIFF tags" + libtiff_says());
  std::vector<uint16_t> row(size_t(image.width()));
  for (int y = 0; y < image.height(); ++y) {
    std::memcpy(row.data(), image.row(y), row.size() * 2);
    if (TIFFWriteScanline(tif.get(), row.data(), uint32_t(y), 0) < 0) {
      return Status::io_error(path + ": write failed at row " + std::to_string(y) + libtiff_says());
    }
  }
  // Closing flushes the last strip and the directory: check it.
  if (!TIFFFlush(tif.get())) return Status::io_error(path + ": flush failed" + libtiff_says());
  return Status();
}

}  // namespace vslide
