// vslide pyramid: stores zoom layers (per-tile downsampled copies) and an
// overview image in a slide file, so the viewer draws coarse zooms without
// decoding full-resolution tiles (paper, section 5.3). Resumable: planes
// already stored are skipped, so an interrupted run simply runs again.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "args.h"
#include "command.h"
#include "progress.h"
#include "write_aside.h"
#include "vslide/core/placement.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {
namespace {

int fail(const std::string& message) {
  std::cerr << "vslide pyramid: " << message << "\n";
  return 1;
}

// Power-of-two factors -> levels; false on anything else.
bool parse_factors(const std::string& text, std::set<int32_t>* levels) {
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    int f = 0;
    try {
      size_t used = 0;
      f = std::stoi(part, &used);
      if (used != part.size()) return false;
    } catch (...) {
      return false;
    }
    if (f < 2 || f > (1 << 15) || (f & (f - 1)) != 0) return false;
    levels->insert(int32_t(std::lround(std::log2(f))));
  }
  return !levels->empty();
}

struct WorkItem {
  TileKey key;  // level 0 plane
};

// The plane at `level` for the overview: a stored level as close below as
// possible, downsampled the rest of the way.
Result<Image16> plane_at(const Hdf5Slide& slide, TileKey key, int32_t level,
                         const std::vector<int32_t>& stored) {
  int32_t from = 0;
  for (int32_t l : stored) {
    if (l <= level) from = l;
  }
  key.level = from;
  auto img = slide.read(key);
  if (!img.ok() && from > 0) {
    key.level = from = 0;
    img = slide.read(key);
  }
  if (!img.ok()) return img.status();
  if (from == level) return img;
  return downsample(img->view(), 1 << (level - from));
}

}  // namespace

// Shared with `vslide bench render`, which builds its slide's pyramid the
// same way. Writes the missing planes of `levels` and, when overview > 0,
// the overviews; counts what it did in `out`.
struct PyramidResult {
  size_t planes = 0, written = 0, skipped = 0, overviews = 0;
};

Status write_pyramid(Hdf5Slide& slide, const std::set<int32_t>& levels, int overview, int threads, bool force,
                     ProgressBar* bar, PyramidResult* out) {
  for (int32_t l : levels) VSLIDE_RETURN_IF_ERROR(slide.add_zoom_level(l));
  const MosaicGeometry& g = slide.geometry();
  auto index = slide.index();
  std::vector<WorkItem> items;
  for (const auto& e : index->entries()) {
    for (int32_t t = 0; t < g.timepoints; ++t) {
      for (int32_t z = 0; z < g.z_planes; ++z) {
        for (int32_t c = 0; c < g.channels; ++c) {
          if (index->has_plane(e.field.row, e.field.col, g.plane_index(c, z, t))) {
            items.push_back(WorkItem{TileKey{e.field.row, e.field.col, c, z, t, 0}});
          }
        }
      }
    }
  }
  if (items.empty())
    return Status::failed_precondition(slide.describe() + ": the slide has no stored planes");
  out->planes = items.size();

  std::atomic<size_t> next{0}, done{0}, written{0}, skipped{0};
  std::mutex mu;
  Status first_error;
  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (!first_error.ok()) return;
      }
      const size_t i = next++;
      if (i >= items.size()) return;
      const TileKey key = items[i].key;
      std::vector<int32_t> missing;
      for (int32_t l : levels) {
        TileKey k = key;
        k.level = l;
        if (force || !slide.read_chunk(k).ok()) missing.push_back(l);
      }
      Status s;
      if (missing.empty()) {
        ++skipped;
      } else {
        auto raw = slide.read(key);
        if (!raw.ok()) {
          s = raw.status();
        } else {
          Image16 img = std::move(*raw);
          int32_t cur = 0;
          for (int32_t l : levels) {
            if (l > missing.back()) break;
            img = downsample(img.view(), 1 << (l - cur));
            cur = l;
            if (std::find(missing.begin(), missing.end(), l) == missing.end()) continue;
            TileKey k = key;
            k.level = l;
            s = slide.write_plane(k, img.view());
            if (!s.ok()) break;
            ++written;
          }
        }
      }
      std::lock_guard lock(mu);
      if (!s.ok() && first_error.ok()) first_error = s;
      if (bar) bar->update(++done);
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < std::max(1, threads); ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (bar) bar->finish();
  out->written = written;
  out->skipped = skipped;
  if (!first_error.ok()) return first_error;

  // The overview: each tile's plane at the overview's factor, pasted as the
  // viewer draws the slide by default (in (row, col) order, like the viewer
  // draws overlaps): at its registered position where the slide is
  // registered, else the stage's (field_origin_um), and each channel through
  // its colour offset at the overview's level (ChannelOffset::source_x/y,
  // nearest neighbour: the renderers' and the export's rule). A pixel whose
  // shifted sample falls outside a field keeps what the fields before drew.
  if (overview > 0) {
    const int32_t olevel = int32_t(std::lround(std::log2(overview)));
    const std::vector<int32_t> stored = slide.zoom_levels();
    const double um_per_px = g.pixel_size_um * overview;
    std::optional<Registration> reg;
    if (auto r = slide.read_registration(); r.ok()) {
      reg = std::move(*r);
    } else if (r.status().code() != StatusCode::kNotFound) {
      return r.status();
    }
    std::vector<std::pair<double, double>> origin;  // per index entry, plane (z 0, t 0)
    double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
    for (const auto& e : index->entries()) {
      const auto [x, y] = field_origin_um(e.field, reg ? &*reg : nullptr, PositionsMode::kRegistered, 0, 0);
      origin.emplace_back(x, y);
      x0 = std::min(x0, x);
      y0 = std::min(y0, y);
      x1 = std::max(x1, x + g.tile_width * g.pixel_size_um);
      y1 = std::max(y1, y + g.tile_height * g.pixel_size_um);
    }
    const int ow = int(std::ceil((x1 - x0) / um_per_px)), oh = int(std::ceil((y1 - y0) / um_per_px));
    if (ow <= 0 || oh <= 0 || double(ow) * oh > 1e9) {
      return Status::invalid_argument(slide.describe() + ": cannot size an overview of " +
                                      std::to_string(ow) + "x" + std::to_string(oh));
    }
    for (int32_t c = 0; c < g.channels; ++c) {
      if (!force && slide.read_overview(c).ok()) continue;
      ChannelOffset offset{c, 0, 0, 1, 0};
      if (reg) {
        for (const ChannelOffset& o : reg->channel_offsets)
          if (o.channel == c) offset = o;
      }
      if (!(offset.scale > 0) || !std::isfinite(offset.scale)) offset.scale = 1;  // as the viewer
      Overview ov;
      ov.channel = c;
      ov.image = Image16(ow, oh);
      ov.origin_x_um = x0;
      ov.origin_y_um = y0;
      ov.um_per_px = um_per_px;
      std::vector<int32_t> u, v;  // overview-level pixel of the reference -> this channel's
      for (size_t i = 0; i < index->entries().size(); ++i) {
        const auto& e = index->entries()[i];
        if (!index->has_plane(e.field.row, e.field.col, g.plane_index(c, 0, 0))) continue;
        VSLIDE_ASSIGN_OR_RETURN(
            Image16 img, plane_at(slide, TileKey{e.field.row, e.field.col, c, 0, 0, 0}, olevel, stored));
        if (u.size() != size_t(img.width()) || v.size() != size_t(img.height())) {
          u.resize(size_t(img.width()));
          v.resize(size_t(img.height()));
          for (int x = 0; x < img.width(); ++x) u[size_t(x)] = offset.source_x(x, olevel);
          for (int y = 0; y < img.height(); ++y) v[size_t(y)] = offset.source_y(y, olevel);
        }
        const int ox = int(std::lround((origin[i].first - x0) / um_per_px));
        const int oy = int(std::lround((origin[i].second - y0) / um_per_px));
        for (int y = 0; y < img.height(); ++y) {
          const int32_t sy = v[size_t(y)];
          if (oy + y < 0 || oy + y >= oh || sy < 0 || sy >= img.height()) continue;
          for (int x = 0; x < img.width(); ++x) {
            const int32_t sx = u[size_t(x)];
            if (ox + x < 0 || ox + x >= ow || sx < 0 || sx >= img.width()) continue;
            ov.image.at(ox + x, oy + y) = img.at(sx, sy);
          }
        }
      }
      VSLIDE_RETURN_IF_ERROR(slide.write_overview(ov));
      ++out->overviews;
    }
  }
  return slide.flush();
}

namespace {

int run_pyramid(int argc, char** argv) {
  std::string path, factors = "2,4,8,16,32";
  int overview = 64, threads = 2;
  bool json = false, force = false;
  ArgParser p("vslide pyramid SLIDE [--factors 2,4,8,16,32] [--overview 64] [--threads N] [--force] [--json]",
              "Writes zoom layers (each tile downsampled by the given factors) and a reconstructed overview "
              "image into a slide file. Planes already stored are skipped, so the command resumes after an "
              "interruption.");
  p.positional("SLIDE", "slide file (HDF5)", &path);
  p.option("--factors", "F,F,...", "downsampling factors, powers of two (default 2,4,8,16,32)", &factors);
  p.option("--overview", "F", "overview image downsampled by F (power of two; 0 = none; default 64)",
           &overview);
  p.option("--threads", "N", "worker threads (default 2)", &threads);
  p.flag("--force", "recompute planes and overviews already stored", &force);
  p.flag("--json", "print a JSON summary", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  std::set<int32_t> levels;
  if (!parse_factors(factors, &levels)) {
    return p.usage_error("--factors must list powers of two from 2 to 32768, e.g. 2,4,8,16,32; got '" +
                         factors + "'");
  }
  if (overview != 0 && (overview < 2 || (overview & (overview - 1)) != 0)) {
    return p.usage_error("--overview must be 0 or a power of two >= 2");
  }
  const auto t0 = std::chrono::steady_clock::now();
  // Written into a copy that replaces the slide only when complete: a full
  // disk or a kill never damages the slide (write_aside.h).
  auto aside = WriteAside::begin(path);
  if (!aside.ok()) return fail(aside.status().to_string());
  PyramidResult r;
  {
    auto opened = Hdf5Slide::open(aside->temp_path(), OpenMode::kAppend);
    if (!opened.ok()) return fail(opened.status().to_string());
    Hdf5Slide& slide = **opened;
    const auto index = slide.index();
    size_t planes = 0;
    for (const auto& e : index->entries()) planes += size_t(std::count(e.planes.begin(), e.planes.end(), true));
    ProgressBar bar("pyramid", planes, !json);
    if (Status s = write_pyramid(slide, levels, overview, threads, force, &bar, &r); !s.ok()) {
      fail(path + ": " + s.to_string() + " (the slide is untouched)");
      aside->abandon(1);
    }
  }
  if (Status s = aside->commit(); !s.ok()) return fail(s.to_string() + " (the slide is untouched)");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<int> fs;
  for (int32_t l : levels) fs.push_back(1 << l);
  if (json) {
    std::cout << nlohmann::json{{"slide", path},        {"factors", fs},        {"planes", r.planes},
                                {"written", r.written}, {"skipped", r.skipped}, {"overviews", r.overviews},
                                {"seconds", secs}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << path << ": zoom layers";
    for (int f : fs) std::cout << " " << f;
    std::cout << ": " << r.written << " planes written, " << r.skipped << " of " << r.planes
              << " source planes already complete; " << r.overviews << " overview(s) written; " << secs
              << " s\n";
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("pyramid", "store zoom layers and an overview in a slide (resumable)",
               vslide::cli::run_pyramid);
