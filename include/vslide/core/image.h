// Image16: an owning uint16 image, and Image16View: a non-owning view.
//
// Pixels are row-major; `stride` counts pixels between row starts. An Image16
// owns contiguous storage (stride == width). Views never own and must not
// outlive the pixels they point at. Thread-safety: const access is safe from
// many threads; mutation needs external synchronisation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace vslide {

class Image16View {
 public:
  Image16View() = default;
  Image16View(const uint16_t* data, int width, int height, std::ptrdiff_t stride)
      : data_(data), width_(width), height_(height), stride_(stride) {}
  Image16View(const uint16_t* data, int width, int height)
      : Image16View(data, width, height, width) {}

  const uint16_t* data() const { return data_; }
  int width() const { return width_; }
  int height() const { return height_; }
  std::ptrdiff_t stride() const { return stride_; }
  bool empty() const { return width_ == 0 || height_ == 0; }
  bool contiguous() const { return stride_ == width_; }
  const uint16_t* row(int y) const { return data_ + y * stride_; }
  uint16_t at(int x, int y) const { return data_[y * stride_ + x]; }
  size_t pixel_count() const { return size_t(width_) * size_t(height_); }
  size_t byte_size() const { return pixel_count() * sizeof(uint16_t); }
  // A sub-rectangle; the caller keeps it inside the image.
  Image16View crop(int x, int y, int w, int h) const {
    return Image16View(data_ + y * stride_ + x, w, h, stride_);
  }

 private:
  const uint16_t* data_ = nullptr;
  int width_ = 0;
  int height_ = 0;
  std::ptrdiff_t stride_ = 0;
};

class Image16 {
 public:
  Image16() = default;
  // Zero-filled image.
  Image16(int width, int height)
      : width_(width), height_(height), pixels_(size_t(width) * size_t(height), 0) {}
  Image16(int width, int height, std::vector<uint16_t> pixels)
      : width_(width), height_(height), pixels_(std::move(pixels)) {}

  // Deep copy of any view (strided or not).
  static Image16 copy_of(const Image16View& v);

  int width() const { return width_; }
  int height() const { return height_; }
  bool empty() const { return pixels_.empty(); }
  uint16_t* data() { return pixels_.data(); }
  const uint16_t* data() const { return pixels_.data(); }
  uint16_t* row(int y) { return pixels_.data() + size_t(y) * size_t(width_); }
  const uint16_t* row(int y) const { return pixels_.data() + size_t(y) * size_t(width_); }
  uint16_t& at(int x, int y) { return pixels_[size_t(y) * size_t(width_) + size_t(x)]; }
  uint16_t at(int x, int y) const { return pixels_[size_t(y) * size_t(width_) + size_t(x)]; }
  size_t pixel_count() const { return pixels_.size(); }
  size_t byte_size() const { return pixels_.size() * sizeof(uint16_t); }
  std::vector<uint16_t>& pixels() { return pixels_; }
  const std::vector<uint16_t>& pixels() const { return pixels_; }
  Image16View view() const { return Image16View(pixels_.data(), width_, height_); }
  operator Image16View() const { return view(); }  // NOLINT: cheap, intended

  bool operator==(const Image16& o) const {
    return width_ == o.width_ && height_ == o.height_ && pixels_ == o.pixels_;
  }

 private:
  int width_ = 0;
  int height_ = 0;
  std::vector<uint16_t> pixels_;
};

// True when both views have the same size and pixels.
bool same_pixels(const Image16View& a, const Image16View& b);

// Box-filter downsampling by an integer factor (mean of each factor x factor
// block, rounded; partial blocks at the right/bottom edges average what exists).
// Output size is ceil(width / factor) x ceil(height / factor).
Image16 downsample(const Image16View& src, int factor);

// A shared, immutable decoded tile: what caches and many readers hand around.
using SharedImage16 = std::shared_ptr<const Image16>;

}  // namespace vslide
