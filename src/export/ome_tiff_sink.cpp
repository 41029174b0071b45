// OME-TIFF writer: tiled BigTIFF (libtiff), one top-level IFD per
// (c, z, t) plane in XYCZT order, the reduced levels of each plane in its
// SubIFDs, OME-XML in the first IFD's ImageDescription. Tiles are
// compressed by the workers (libdeflate's zlib streams = TIFF "Adobe deflate") and written raw, in
// the order the file needs: a block done before its turn waits in memory (at
// most one per worker) while its worker goes on to the next.
#include <libdeflate.h>
#include <tiffio.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "pyramid_sink.h"

namespace vslide {
namespace {

class OmeTiffSink final : public PyramidSink {
 public:
  OmeTiffSink(TIFF* tif, std::string path, const FusionPlan& plan, const SinkSettings& s, std::string xml,
              bool deflate)
      : tif_(tif),
        path_(std::move(path)),
        plan_(plan),
        s_(s),
        xml_(std::move(xml)),
        deflate_(deflate),
        max_pending_(size_t(std::max(1, s.workers))) {}
  ~OmeTiffSink() override {
    if (tif_) TIFFClose(tif_);
  }

  Status write_block(const BlockJob& job, std::span<const uint16_t> pixels) override {
    // Cut into full tiles (zero padded) and compress, outside the lock.
    const int32_t t = s_.tile;
    const int32_t ntx = (job.w + t - 1) / t, nty = (job.h + t - 1) / t;
    Compressed block = take_buffers();
    block.ntx = ntx;
    block.nty = nty;
    block.job = job;
    block.tiles.resize(size_t(ntx) * size_t(nty));
    thread_local std::vector<uint16_t> buf;  // reused block after block (fresh pages are expensive here)
    buf.resize(size_t(t) * size_t(t));
    for (int32_t ty = 0; ty < nty; ++ty) {
      for (int32_t tx = 0; tx < ntx; ++tx) {
        std::fill(buf.begin(), buf.end(), 0);
        const int32_t cw = std::min(t, job.w - tx * t), ch = std::min(t, job.h - ty * t);
        for (int32_t y = 0; y < ch; ++y) {
          std::memcpy(buf.data() + size_t(y) * size_t(t),
                      pixels.data() + size_t(ty * t + y) * size_t(job.w) + size_t(tx * t), size_t(cw) * 2);
        }
        auto& out = block.tiles[size_t(ty) * size_t(ntx) + size_t(tx)];
        const size_t raw = buf.size() * 2;
        if (deflate_) {
          // libdeflate's zlib stream is TIFF's "Adobe deflate", ~3x faster than zlib at level 1.
          thread_local std::unique_ptr<libdeflate_compressor, void (*)(libdeflate_compressor*)> z(
              libdeflate_alloc_compressor(1), libdeflate_free_compressor);
          if (!z) return Status::resource_exhausted(path_ + ": cannot allocate a deflate compressor");
          out.resize(libdeflate_zlib_compress_bound(z.get(), raw));
          const size_t n = libdeflate_zlib_compress(z.get(), buf.data(), raw, out.data(), out.size());
          if (n == 0) return Status::internal(path_ + ": deflate failed on a tile");
          out.resize(n);
        } else {
          out.resize(raw);
          std::memcpy(out.data(), buf.data(), raw);
        }
      }
    }
    // The file takes blocks in order. A block done early waits in `pending_`
    // (at most one per worker) and its worker goes on; whoever hands in the
    // next block writes every block that is then in order.
    std::unique_lock lock(mu_);
    turn_.wait(lock, [&] { return aborted_ || job.seq == next_seq_ || pending_.size() < max_pending_; });
    if (aborted_) return Status::io_error(path_ + ": export aborted");
    pending_.emplace(job.seq, std::move(block));
    Status s;
    for (auto it = pending_.find(next_seq_); it != pending_.end(); it = pending_.find(next_seq_)) {
      s = write_in_order(it->second);
      free_.push_back(std::move(it->second.tiles));
      pending_.erase(it);
      if (!s.ok()) {
        aborted_ = true;
        break;
      }
      ++next_seq_;
    }
    turn_.notify_all();
    return s;
  }

  void abort() override {
    std::lock_guard lock(mu_);
    aborted_ = true;
    turn_.notify_all();
  }

  Status finish() override {
    TIFF* t = tif_;
    tif_ = nullptr;
    TIFFClose(t);  // directories are all written; this flushes the header
    return Status();
  }

 private:
  struct Compressed {
    BlockJob job;
    int32_t ntx = 0, nty = 0;
    std::vector<std::vector<uint8_t>> tiles;
  };

  // Tile buffers of a block written earlier (their memory is warm), or new ones.
  Compressed take_buffers() {
    Compressed c;
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      c.tiles = std::move(free_.back());
      free_.pop_back();
    }
    return c;
  }

  // REQUIRES: mu_ held and it is this block's turn.
  Status write_in_order(const Compressed& block) {
    const BlockJob& job = block.job;
    const auto& tiles = block.tiles;
    const int32_t ntx = block.ntx, nty = block.nty;
    if (job.first_of_image) VSLIDE_RETURN_IF_ERROR(start_directory(job));
    for (int32_t ty = 0; ty < nty; ++ty) {
      for (int32_t tx = 0; tx < ntx; ++tx) {
        const ttile_t index = TIFFComputeTile(tif_, uint32_t(job.x + tx * s_.tile), uint32_t(job.y + ty * s_.tile), 0, 0);
        auto& data = tiles[size_t(ty) * size_t(ntx) + size_t(tx)];
        if (TIFFWriteRawTile(tif_, index, const_cast<uint8_t*>(data.data()), tmsize_t(data.size())) < 0) {
          return Status::io_error(path_ + ": writing tile " + std::to_string(index) + " of plane " +
                                  std::to_string(job.plane_index) + " level " + std::to_string(job.level) +
                                  " failed (disk full?)");
        }
      }
    }
    if (job.last_of_image && !TIFFWriteDirectory(tif_)) {
      return Status::io_error(path_ + ": writing the directory of plane " + std::to_string(job.plane_index) +
                              " level " + std::to_string(job.level) + " failed");
    }
    return Status();
  }

  Status start_directory(const BlockJob& job) {
    const int32_t l = job.level;
    const uint32_t w = uint32_t(plan_.level_width(l)), h = uint32_t(plan_.level_height(l));
    bool ok = TIFFSetField(tif_, TIFFTAG_SUBFILETYPE, l == 0 ? 0 : FILETYPE_REDUCEDIMAGE) &&
              TIFFSetField(tif_, TIFFTAG_IMAGEWIDTH, w) && TIFFSetField(tif_, TIFFTAG_IMAGELENGTH, h) &&
              TIFFSetField(tif_, TIFFTAG_TILEWIDTH, uint32_t(s_.tile)) &&
              TIFFSetField(tif_, TIFFTAG_TILELENGTH, uint32_t(s_.tile)) &&
              TIFFSetField(tif_, TIFFTAG_BITSPERSAMPLE, 16) && TIFFSetField(tif_, TIFFTAG_SAMPLESPERPIXEL, 1) &&
              TIFFSetField(tif_, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_UINT) &&
              TIFFSetField(tif_, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK) &&
              TIFFSetField(tif_, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
              TIFFSetField(tif_, TIFFTAG_COMPRESSION, deflate_ ? COMPRESSION_ADOBE_DEFLATE : COMPRESSION_NONE) &&
              TIFFSetField(tif_, TIFFTAG_SOFTWARE, "vslide export") &&
              TIFFSetField(tif_, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER) &&
              TIFFSetField(tif_, TIFFTAG_XRESOLUTION, float(1e4 / (plan_.pixel_size_um * double(1 << l)))) &&
              TIFFSetField(tif_, TIFFTAG_YRESOLUTION, float(1e4 / (plan_.pixel_size_um * double(1 << l))));
    if (ok && l == 0 && plan_.levels > 1) {
      std::vector<toff_t> offsets(size_t(plan_.levels - 1), 0);
      ok = TIFFSetField(tif_, TIFFTAG_SUBIFD, uint16_t(plan_.levels - 1), offsets.data());
    }
    if (ok && l == 0 && job.plane_index == 0) ok = TIFFSetField(tif_, TIFFTAG_IMAGEDESCRIPTION, xml_.c_str());
    if (!ok) return Status::io_error(path_ + ": setting the TIFF tags of plane " + std::to_string(job.plane_index) + " failed");
    return Status();
  }

  TIFF* tif_;
  const std::string path_;
  const FusionPlan plan_;
  const SinkSettings s_;
  const std::string xml_;
  const bool deflate_;
  const size_t max_pending_;
  std::mutex mu_;  // guards tif_ writes, next_seq_, aborted_, pending_, free_
  std::condition_variable turn_;
  uint64_t next_seq_ = 0;
  bool aborted_ = false;
  std::map<uint64_t, Compressed> pending_;              // done, waiting for their turn
  std::vector<std::vector<std::vector<uint8_t>>> free_;  // tile buffers of written blocks
};

}  // namespace

Result<std::unique_ptr<PyramidSink>> open_ome_tiff_sink(const std::string& path, const SlideSource& src,
                                                       const FusionPlan& plan, const SinkSettings& settings) {
  bool deflate = true;
  if (settings.compression == "none") {
    deflate = false;
  } else if (!settings.compression.empty() && settings.compression != "deflate") {
    return Status::invalid_argument("OME-TIFF compression must be deflate or none, not '" + settings.compression + "'");
  }
  if (settings.tile % 16 != 0) return Status::invalid_argument("TIFF tiles must be a multiple of 16 pixels");
  TIFFSetWarningHandler(nullptr);
  TIFF* tif = TIFFOpen(path.c_str(), "w8");
  if (!tif) return Status::io_error(path + ": cannot create the TIFF file");
  return std::unique_ptr<PyramidSink>(new OmeTiffSink(tif, path, plan, settings, ome_xml(src, plan), deflate));
}

}  // namespace vslide
