// The cursor readout: which field is under a screen point, and every
// channel's raw 16-bit value there, read from the raw (level 0) tile of the
// slide (a remote slide's too), never from the display colours.
#include <QCoreApplication>
#include <QPointer>
#include <QThreadPool>
#include <cmath>

#include "vslide/app/viewer_model.h"

namespace vslide::app {

using namespace vslide::view;

namespace {

struct RawTile {
  std::shared_ptr<SlideSource> slide;
  int32_t row = -1, col = -1, z = 0, t = 0;
  std::vector<SharedImage16> planes;  // per slide channel; null: missing or failed
  std::string error;
};

// The last raw tile read (the cursor mostly stays on one field).
RawTile& raw_cache() {
  static RawTile cache;
  return cache;
}

RawTile read_raw(const std::shared_ptr<SlideSource>& source, int32_t row, int32_t col, int32_t z, int32_t t) {
  RawTile r{source, row, col, z, t, {}, {}};
  const SlideSource& slide = *source;
  const MosaicGeometry& g = slide.geometry();
  auto index = slide.index();
  for (int32_t c = 0; c < g.channels; ++c) {
    if (index && !index->has_plane(row, col, g.plane_index(c, z, t))) {
      r.planes.push_back(nullptr);
      continue;
    }
    auto img = slide.read(TileKey{row, col, c, z, t, 0});
    if (img.ok()) {
      r.planes.push_back(std::make_shared<const Image16>(std::move(*img)));
    } else {
      r.planes.push_back(nullptr);
      if (r.error.empty()) r.error = img.status().to_string();
    }
  }
  return r;
}

void fill_values(Readout& out, const RawTile& raw) {
  out.values.clear();
  for (const auto& p : raw.planes) {
    const bool inside = p && out.px >= 0 && out.py >= 0 && out.px < p->width() && out.py < p->height();
    out.values.push_back(inside ? int(p->at(out.px, out.py)) : -1);
  }
  out.error = QString::fromStdString(raw.error);
}

}  // namespace

// Position and field under a screen point; values left empty.
Readout ViewerModel::read_at(double x_um, double y_um) const {
  Readout r;
  r.x_um = x_um;
  r.y_um = y_um;
  r.valid = true;
  if (!view_) return r;
  const double px = slide_->geometry().pixel_size_um;
  // The last tile in draw order owns the point (frame.h's rule).
  for (const TileBounds& t : view_->tree().query(RectUm{x_um, y_um, x_um + px * 1e-3, y_um + px * 1e-3})) {
    if (x_um >= t.rect.x0 && x_um < t.rect.x1 && y_um >= t.rect.y0 && y_um < t.rect.y1) {
      r.row = t.row;
      r.col = t.col;
      r.px = int32_t(std::floor((x_um - t.rect.x0) / px));
      r.py = int32_t(std::floor((y_um - t.rect.y0) / px));
    }
  }
  return r;
}

void ViewerModel::probe(QPointF p) {
  if (!view_) return;
  const Viewport v = viewport();
  const RectUm r = v.rect_um();
  // The screen pixel's centre, as the renderers sample it.
  const double x = r.x0 + (std::floor(p.x()) + 0.5) / v.px_per_um();
  const double y = r.y0 + (std::floor(p.y()) + 0.5) / v.px_per_um();
  readout_ = read_at(x, y);
  const uint64_t gen = ++probe_generation_;
  const RawTile& cache = raw_cache();
  if (readout_.row < 0) {
    emit readoutChanged();
    return;
  }
  if (cache.slide == slide_ && cache.row == readout_.row && cache.col == readout_.col && cache.z == state_.z && cache.t == state_.t &&
      !cache.planes.empty()) {
    fill_values(readout_, cache);
    emit readoutChanged();
    return;
  }
  emit readoutChanged();  // position now, values when read
  std::shared_ptr<SlideSource> slide = slide_;
  const int32_t row = readout_.row, col = readout_.col, z = state_.z, t = state_.t;
  QPointer<ViewerModel> self(this);
  QThreadPool::globalInstance()->start([self, slide, row, col, z, t, gen] {
    auto raw = std::make_shared<RawTile>(read_raw(slide, row, col, z, t));
    QMetaObject::invokeMethod(
        QCoreApplication::instance(),
        [self, slide, raw, gen] {
          if (!self || slide != self->slide_) return;
          raw_cache() = *raw;
          if (gen != self->probe_generation_) return;
          fill_values(self->readout_, *raw);
          emit self->readoutChanged();
        },
        Qt::QueuedConnection);
  });
}

Readout ViewerModel::probe_now(QPointF p) {
  probe(p);
  if (readout_.row >= 0 && readout_.values.empty()) {
    const RawTile raw = read_raw(slide_, readout_.row, readout_.col, state_.z, state_.t);
    raw_cache() = raw;
    fill_values(readout_, raw);
  }
  return readout_;
}

}  // namespace vslide::app
