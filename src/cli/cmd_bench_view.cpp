// `vslide bench view`: the window's own frame loop through a scripted
// session on the bench render scene slide: pan, zoom from the overview down
// to raw tiles and out, toggle channels, drag a contrast handle. Input is
// real Qt events posted to the real widgets at 60 Hz; for each one it
// measures the time from posting the event to the swapped frame that shows
// its edit (input-to-frame), and a 1 ms timer measures the longest stall of
// the UI thread. Cold: the slide just opened (empty tile and texture caches);
// warm: the same script again.
#include <QApplication>
#include <QElapsedTimer>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QWindow>
#include <QThreadPool>
#include <QTimer>
#include <QWheelEvent>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "args.h"
#include "bench_scratch.h"
#include "command.h"
#include "progress.h"
#include "vslide/app/app.h"
#include "vslide/app/channel_panel.h"
#include "vslide/app/viewer_canvas.h"
#include "vslide/simulate/scanner.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {

// From cmd_pyramid.cpp (the same executable).
struct PyramidResult {
  size_t planes = 0, written = 0, skipped = 0, overviews = 0;
};
Status write_pyramid(Hdf5Slide& slide, const std::set<int32_t>& levels, int overview, int threads, bool force,
                     ProgressBar* bar, PyramidResult* out);

namespace {

using namespace vslide::app;

// The bench render scene (19x22 tiles of 1392x1040, 4 colours), or a 6x8
// part of it for a quick run on 2 cores.
ScanConfig scene_config(bool full) {
  ScanConfig c;
  c.rows = full ? 19 : 6;
  c.cols = full ? 22 : 8;
  c.channels = 4;
  c.tile_width = 1392;
  c.tile_height = 1040;
  c.overlap = 0.1;
  c.stage_jitter_um = 1.0;
  c.shear_deg = 0.1;
  c.seed = 2013;
  return c;
}

Status prepare(const std::string& path, const ScanConfig& config, bool quiet) {
  const SyntheticScanner scanner(config);
  if (std::filesystem::exists(path)) {
    // A bench slide is the bench's own: never overwrite a file it did not make.
    auto s = Hdf5Slide::open(path);
    if (!s.ok() || !is_bench_slide((*s)->header(), "view")) {
      return Status::failed_precondition(path + ": not a slide made by `vslide bench view`; refusing to "
                                         "overwrite it (choose another --slide path)");
    }
    if ((*s)->state() == SlideState::kComplete && (*s)->geometry() == scanner.geometry() &&
        (*s)->zoom_levels().size() > 1)
      return Status();
  }
  CreateOptions opt;
  opt.overwrite = true;
  SlideHeader header = scanner.header();
  mark_bench_slide(&header, "view");
  VSLIDE_ASSIGN_OR_RETURN(auto slide,
                          Hdf5Slide::create(path, header, scanner.geometry(), scanner.channels(), opt));
  const auto& fields = scanner.fields();
  ProgressBar bar("bench view slide", fields.size(), !quiet);
  std::atomic<size_t> next{0}, done{0};
  std::mutex mu;
  Status first;
  for (const auto& f : fields) VSLIDE_RETURN_IF_ERROR(slide->write_field(f));
  auto worker = [&] {
    Image16 img(config.tile_width, config.tile_height);
    for (size_t i; (i = next++) < fields.size();) {
      for (int c = 0; c < config.channels; ++c) {
        const TileKey key{fields[i].row, fields[i].col, c};
        scanner.render_into(key, img.data());
        Status s = slide->write_plane(key, img.view());
        std::lock_guard lock(mu);
        if (!s.ok() && first.ok()) first = s;
      }
      bar.update(++done);
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < 2; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  bar.finish();
  VSLIDE_RETURN_IF_ERROR(first);
  VSLIDE_RETURN_IF_ERROR(slide->finish());
  slide.reset();
  VSLIDE_ASSIGN_OR_RETURN(auto app_slide, Hdf5Slide::open(path, OpenMode::kAppend));
  ProgressBar pbar("bench view pyramid", fields.size() * size_t(config.channels), !quiet);
  PyramidResult r;
  return write_pyramid(*app_slide, {1, 2, 3, 4, 5}, 64, 2, false, &pbar, &r);
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(std::ceil(p * double(v.size()))) - (p > 0 ? 1 : 0))];
}

struct Result1 {
  std::string name;
  std::vector<double> latency_ms;
  double stall_ms = 0;
  size_t frames = 0, dropped = 0;
};

// Runs one interaction: `events` posts the i-th input (false when done).
class Driver {
 public:
  Driver(MainWindow& w) : w_(w) {
    QObject::connect(w_.model(), &ViewerModel::stateChanged, [this] {
      if (!posted_.empty()) {
        pending_[w_.model()->version()] = posted_.front();
        posted_.pop_front();
      }
    });
    QObject::connect(w_.canvas(), &QOpenGLWidget::frameSwapped, [this] {
      ++frames_;
      const uint64_t v = w_.canvas()->painted_version();
      const double now = clock_.nsecsElapsed() / 1e6;
      while (!pending_.empty() && pending_.begin()->first <= v) {
        lat_.push_back(now - pending_.begin()->second);
        pending_.erase(pending_.begin());
      }
    });
    clock_.start();
  }

  Result1 run(const std::string& name, const std::function<bool(int)>& post) {
    lat_.clear();
    pending_.clear();
    posted_.clear();
    frames_ = 0;
    double stall = 0, last_tick = clock_.nsecsElapsed() / 1e6;
    QTimer tick;
    tick.setInterval(1);
    QObject::connect(&tick, &QTimer::timeout, [&] {
      const double now = clock_.nsecsElapsed() / 1e6;
      stall = std::max(stall, now - last_tick);
      last_tick = now;
    });
    tick.start();
    int i = 0;
    bool more = true;
    double next_at = clock_.nsecsElapsed() / 1e6;
    while (more) {
      QCoreApplication::processEvents(QEventLoop::AllEvents, 1);
      const double now = clock_.nsecsElapsed() / 1e6;
      if (now < next_at) continue;
      next_at += 1000.0 / 60;
      const size_t before = posted_.size();
      posted_.push_back(now);
      more = post(i++);
      if (!more && posted_.size() > before) posted_.pop_back();
    }
    // Until every edit is on screen and the frame is complete.
    QElapsedTimer t;
    t.start();
    while ((!pending_.empty() || !w_.canvas()->last_info().complete ||
            w_.canvas()->painted_version() != w_.model()->version()) &&
           t.elapsed() < 60000) {
      QCoreApplication::processEvents(QEventLoop::AllEvents, 1);
    }
    QCoreApplication::processEvents();
    Result1 r{name, lat_, stall, frames_, posted_.size()};
    return r;
  }

 private:
  MainWindow& w_;
  QElapsedTimer clock_;
  std::deque<double> posted_;
  std::map<uint64_t, double> pending_;
  std::vector<double> lat_;
  size_t frames_ = 0;
};

void post_mouse(QWidget* w, QEvent::Type type, QPointF p, Qt::MouseButton b, Qt::MouseButtons held) {
  QCoreApplication::postEvent(w, new QMouseEvent(type, p, w->mapToGlobal(p), b, held, Qt::NoModifier));
}

std::vector<Result1> session(MainWindow& w, Driver& d) {
  ViewerModel* m = w.model();
  ViewerCanvas* c = w.canvas();
  const QPointF mid(c->width() / 2.0, c->height() / 2.0);
  std::vector<Result1> out;
  m->fit();
  // Pan: a drag across the slide at zoom 1/8 (the paper's scene 2 zoom).
  m->zoom_by(0.125 / m->viewport().zoom, mid);
  const int steps = 90;
  out.push_back(d.run("pan at zoom 1/8", [&](int i) {
    if (i == 0) post_mouse(c, QEvent::MouseButtonPress, mid + QPointF(200, 0), Qt::LeftButton, Qt::LeftButton);
    if (i > steps) {
      post_mouse(c, QEvent::MouseButtonRelease, mid - QPointF(200, 0), Qt::LeftButton, Qt::NoButton);
      return false;
    }
    const double x = 200 - 400.0 * i / steps, y = 60 * std::sin(i * 0.1);
    post_mouse(c, QEvent::MouseMove, mid + QPointF(x, y), Qt::NoButton, Qt::LeftButton);
    return true;
  }));
  // Zoom: wheel notches from the fitted overview down to raw tiles, then out.
  m->fit();
  const double fit_zoom = m->viewport().zoom;
  const int notches = int(std::ceil(2 * std::log2(1.0 / fit_zoom)));
  auto wheel = [&](int dir) {
    return [&, dir](int i) {
      if (i >= notches) return false;
      QCoreApplication::postEvent(c, new QWheelEvent(mid, c->mapToGlobal(mid), QPoint(), QPoint(0, 120 * dir),
                                                      Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false));
      return true;
    };
  };
  out.push_back(d.run("zoom in: overview to raw", wheel(1)));
  out.push_back(d.run("zoom out: raw to overview", wheel(-1)));
  // Channels: keys 1-4 switch channels off and on at zoom 1/4.
  m->zoom_by(0.25 / m->viewport().zoom, mid);
  c->setFocus();
  out.push_back(d.run("toggle channels", [&](int i) {
    if (i >= 16) return false;
    const Qt::Key k = Qt::Key(Qt::Key_1 + i % 4);
    QCoreApplication::postEvent(c, new QKeyEvent(QEvent::ShortcutOverride, k, Qt::NoModifier, QString(QChar('1' + i % 4))));
    QCoreApplication::postEvent(c, new QKeyEvent(QEvent::KeyPress, k, Qt::NoModifier, QString(QChar('1' + i % 4))));
    QCoreApplication::postEvent(c, new QKeyEvent(QEvent::KeyRelease, k, Qt::NoModifier, QString(QChar('1' + i % 4))));
    return true;
  }));
  // Contrast: drag channel 1's high handle on the histogram.
  HistogramWidget* h = w.channels()->histogram();
  w.channels()->select(0);
  const auto& cd = m->state().display.channels[0];
  const double y = h->height() / 2.0, x0 = h->x_of(cd.high);
  out.push_back(d.run("contrast handle drag", [&, x0, y](int i) {
    if (i == 0) post_mouse(h, QEvent::MouseButtonPress, QPointF(x0, y), Qt::LeftButton, Qt::LeftButton);
    if (i > 40) {
      post_mouse(h, QEvent::MouseButtonRelease, QPointF(x0, y), Qt::LeftButton, Qt::NoButton);
      return false;
    }
    post_mouse(h, QEvent::MouseMove, QPointF(x0 - 2 - (i % 20) * 3, y), Qt::NoButton, Qt::LeftButton);
    return true;
  }));
  return out;
}

int bench_view(int argc, char** argv) {
  std::string path, size = "1280x800";
  bool full = false, json = false;
  ArgParser p("vslide bench view [--full] [--slide PATH] [--size WxH] [--json]",
              "Drives the viewer window's own frame loop (Qt, OpenGL through the window's context) through a "
              "scripted session on the bench render scene slide: pan, zoom from overview to raw and out, toggle "
              "channels, drag a contrast handle. Reports per interaction the input-to-frame time p50/p99 and the "
              "longest UI-thread stall, cold (just opened) and warm. Starts a private Xvfb when DISPLAY is unset.");
  p.flag("--full", "the whole 19x22-tile bench render scene (default: a 6x8-tile part of it)", &full);
  p.option("--slide", "PATH", "bench slide (created when absent; default /tmp/vslide-bench-view[-full].h5)", &path);
  p.option("--size", "WxH", "window size (default 1280x800)", &size);
  p.flag("--json", "machine-readable output", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  int ww = 0, wh = 0;
  if (!parse_size(size, &ww, &wh)) return p.usage_error("--size must be WIDTHxHEIGHT");
  if (path.empty()) path = full ? "/tmp/vslide-bench-view-full.h5" : "/tmp/vslide-bench-view.h5";
  if (Status s = prepare(path, scene_config(full), json); !s.ok()) {
    std::cerr << "vslide bench view: " << s.to_string() << "\n";
    return 1;
  }
  std::unique_ptr<XvfbServer> xvfb;
  if (!std::getenv("DISPLAY")) {
    auto x = XvfbServer::start(ww + 400, wh + 200);
    if (!x.ok()) {
      std::cerr << "vslide bench view: " << x.status().to_string() << "\n";
      return 1;
    }
    xvfb = std::move(*x);
    setenv("DISPLAY", xvfb->display().c_str(), 1);
  }
  set_default_gl_format();
  QApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
  int qargc = 1;
  char name[] = "vslide";
  char* qargv[] = {name, nullptr};
  QApplication app(qargc, qargv);
  WindowOptions wo;
  wo.save_display = false;
  MainWindow w([](const std::string& f) -> Result<std::unique_ptr<SlideSource>> {
    auto s = Hdf5Slide::open(f);
    if (!s.ok()) return s.status();
    return std::unique_ptr<SlideSource>(std::move(*s));
  }, wo);
  w.resize(ww, wh);
  w.show();
  QElapsedTimer shown;
  shown.start();
  while (!(w.windowHandle() && w.windowHandle()->isExposed()) && shown.elapsed() < 10000)
    QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
  if (!w.windowHandle() || !w.windowHandle()->isExposed()) {
    std::cerr << "vslide bench view: the window was not shown\n";
    return 1;
  }
  if (!w.canvas()->gl_error().empty()) {
    std::cerr << "vslide bench view: " << w.canvas()->gl_error() << "\n";
    return 1;
  }
  nlohmann::json j = {{"slide", path}, {"full", full}, {"window", {ww, wh}}};
  j["canvas"] = {w.model()->canvas_size().width(), w.model()->canvas_size().height()};
  Driver d(w);
  for (const char* phase : {"cold", "warm"}) {
    if (std::string(phase) == "cold") {
      if (Status s = w.model()->open_now(path); !s.ok()) {
        std::cerr << "vslide bench view: " << s.to_string() << "\n";
        return 1;
      }
      w.model()->set_state(view::default_view_state(*w.model()->slide(), path));  // no saved settings
    }
    for (const Result1& r : session(w, d)) {
      j[phase].push_back({{"interaction", r.name},
                          {"inputs", r.latency_ms.size()},
                          {"frames", r.frames},
                          {"p50_ms", pct(r.latency_ms, 0.5)},
                          {"p99_ms", pct(r.latency_ms, 0.99)},
                          {"max_ms", pct(r.latency_ms, 1.0)},
                          {"longest_stall_ms", r.stall_ms}});
    }
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("vslide bench view: %s, window %dx%d (canvas %dx%d), %s\n", path.c_str(), ww, wh,
              w.model()->canvas_size().width(), w.model()->canvas_size().height(), full ? "full scene" : "6x8 tiles");
  std::printf("%-5s %-28s %7s %7s %9s %9s %9s %10s\n", "", "interaction", "inputs", "frames", "p50 ms", "p99 ms",
              "max ms", "stall ms");
  for (const char* phase : {"cold", "warm"}) {
    for (const auto& r : j[phase]) {
      std::printf("%-5s %-28s %7zu %7zu %9.1f %9.1f %9.1f %10.1f\n", phase,
                  r["interaction"].get<std::string>().c_str(), r["inputs"].get<size_t>(), r["frames"].get<size_t>(),
                  r["p50_ms"].get<double>(), r["p99_ms"].get<double>(), r["max_ms"].get<double>(),
                  r["longest_stall_ms"].get<double>());
    }
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_BENCH("view", "the viewer window's input-to-frame times and UI stalls (Qt, scripted session)",
             vslide::cli::bench_view);
