// PNG read/write for rendered views (libpng), and image comparison.
#include <png.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "vslide/view/frame.h"

namespace vslide::view {

ImageDiff compare_images(const RgbImage& a, const RgbImage& b) {
  ImageDiff d;
  if (a.width != b.width || a.height != b.height || a.pixels.size() != b.pixels.size()) {
    d.max_abs = 255;
    d.pixels_differing = size_t(std::max(a.width * a.height, b.width * b.height));
    return d;
  }
  for (size_t i = 0; i < a.pixels.size(); i += 3) {
    int m = 0;
    for (int k = 0; k < 3; ++k) m = std::max(m, std::abs(int(a.pixels[i + k]) - int(b.pixels[i + k])));
    if (m > 0) ++d.pixels_differing;
    d.max_abs = std::max(d.max_abs, m);
  }
  return d;
}

namespace {
struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
}  // namespace

Status write_png(const std::string& path, const RgbImage& image) {
  if (image.width <= 0 || image.height <= 0) return Status::invalid_argument(path + ": empty image");
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "wb"));
  if (!f) return Status::io_error(path + ": cannot open for writing");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_write_struct(&png, nullptr);
    return Status::internal(path + ": libpng could not start");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return Status::io_error(path + ": libpng failed while writing");
  }
  png_init_io(png, f.get());
  png_set_compression_level(png, 3);
  png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < image.height; ++y) {
    png_write_row(png, const_cast<png_bytep>(image.at(0, y)));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fflush(f.get()) != 0) return Status::io_error(path + ": write failed (disk full?)");
  return Status();
}

Result<RgbImage> read_png(const std::string& path) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) return Status::not_found(path + ": cannot open");
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return Status::internal(path + ": libpng could not start");
  }
  RgbImage img;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return Status::corruption(path + ": not a readable PNG");
  }
  png_init_io(png, f.get());
  png_read_info(png, info);
  if (png_get_color_type(png, info) != PNG_COLOR_TYPE_RGB || png_get_bit_depth(png, info) != 8) {
    png_destroy_read_struct(&png, &info, nullptr);
    return Status::unimplemented(path + ": only 8-bit RGB PNGs are read");
  }
  img.width = int32_t(png_get_image_width(png, info));
  img.height = int32_t(png_get_image_height(png, info));
  img.pixels.resize(size_t(img.width) * size_t(img.height) * 3);
  for (int y = 0; y < img.height; ++y) png_read_row(png, img.at(0, y), nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return img;
}

}  // namespace vslide::view
