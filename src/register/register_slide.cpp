// register_slide: reads each field once (row-major, on all cores), cuts the
// overlap strips its pairs need, measures a pair as soon as both of its
// strips are in, then solves for all positions (see register.h).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>

#include "colour.h"
#include "shift.h"
#include "solve.h"
#include "vslide/register/register.h"

namespace vslide {

namespace {

using Clock = std::chrono::steady_clock;

struct Rect {
  int32_t x = 0, y = 0, w = 0, h = 0;
};

// One measurement to make: strips ra of field fa and rb of field fb. pair >= 0
// indexes the result's pairs; pair < 0 is a null pair (fields that do not
// overlap, cut with a real pair's geometry) that teaches the threshold.
struct Task {
  int32_t fa = 0, fb = 0;
  Rect ra, rb;
  int32_t pair = -1;
  int32_t ix = 0, iy = 0;  // integer stage displacement of the strips' origins
  reg::FloatImage a, b;
  bool have_a = false, have_b = false;
};

// CPU seconds of the calling thread (the phase timings are CPU time: on a
// shared machine wall time would also count other processes).
double thread_cpu_s() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

std::string field_name(int32_t r, int32_t c) { return "(" + std::to_string(r) + "," + std::to_string(c) + ")"; }

std::string fmt(double v, int prec = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t i = size_t(pos);
  const double f = pos - double(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

}  // namespace

Result<RegisterResult> register_slide(const SlideSource& slide, const RegisterOptions& opt) {
  const auto wall0 = Clock::now();
  const MosaicGeometry& g = slide.geometry();
  if (opt.channel < 0 || opt.channel >= g.channels || opt.z < 0 || opt.z >= g.z_planes || opt.t < 0 ||
      opt.t >= g.timepoints) {
    return Status::invalid_argument(slide.describe() + ": no plane channel " + std::to_string(opt.channel) + " z " +
                                    std::to_string(opt.z) + " t " + std::to_string(opt.t) + " in this slide");
  }
  const int32_t W = g.tile_width, H = g.tile_height;
  const double um = g.pixel_size_um;
  const int32_t plane = g.plane_index(opt.channel, opt.z, opt.t);
  const auto index = slide.index();
  RegisterResult res;

  // Fields, row-major (the index is sorted by (row, col)).
  struct Field {
    int32_t row, col;
    double sx, sy;  // stage position, pixels
    bool has_plane;
  };
  std::vector<Field> fields;
  std::map<std::pair<int32_t, int32_t>, int32_t> at;
  for (const auto& e : index->entries()) {
    at[{e.field.row, e.field.col}] = int32_t(fields.size());
    fields.push_back({e.field.row, e.field.col, e.field.stage_x_um / um, e.field.stage_y_um / um,
                      index->has_plane(e.field.row, e.field.col, plane)});
  }
  const int32_t n = int32_t(fields.size());
  res.fields = n;
  auto find = [&](int32_t r, int32_t c) {
    auto it = at.find({r, c});
    return it == at.end() ? -1 : it->second;
  };

  // The neighbour pairs, their predicted overlaps, and what to measure.
  std::map<std::tuple<int32_t, int32_t, int32_t, int32_t>, const PairMeasurement*> previous;
  for (const auto& p : opt.previous_pairs) previous[{p.row_a, p.col_a, p.row_b, p.col_b}] = &p;
  std::vector<Task> tasks;
  for (int32_t i = 0; i < n; ++i) {
    for (const auto& [dr, dc] : {std::pair{0, 1}, std::pair{1, 0}}) {
      const int32_t j = find(fields[size_t(i)].row + dr, fields[size_t(i)].col + dc);
      if (j < 0) continue;
      const Field &fa = fields[size_t(i)], &fb = fields[size_t(j)];
      PairMeasurement pm;
      pm.row_a = fa.row;
      pm.col_a = fa.col;
      pm.row_b = fb.row;
      pm.col_b = fb.col;
      pm.stage_dx_px = fb.sx - fa.sx;
      pm.stage_dy_px = fb.sy - fa.sy;
      const int32_t ix = int32_t(std::lround(pm.stage_dx_px)), iy = int32_t(std::lround(pm.stage_dy_px));
      Rect ra{std::max(0, ix), std::max(0, iy), 0, 0};
      ra.w = std::min(W, W + ix) - ra.x;
      ra.h = std::min(H, H + iy) - ra.y;
      const int32_t pair = int32_t(res.pairs.size());
      auto prev = previous.find({pm.row_a, pm.col_a, pm.row_b, pm.col_b});
      if (prev != previous.end() && std::abs(prev->second->stage_dx_px - pm.stage_dx_px) < 1e-6 &&
          std::abs(prev->second->stage_dy_px - pm.stage_dy_px) < 1e-6 &&
          (prev->second->measured || prev->second->why.rfind("no overlap", 0) == 0)) {
        pm = *prev->second;
        pm.accepted = false;
        ++res.pairs_reused;
      } else if (ra.w < 16 || ra.h < 16) {
        pm.why = "no overlap: the stage puts the fields " + fmt(pm.stage_dx_px, 1) + ", " + fmt(pm.stage_dy_px, 1) +
                 " px apart";
      } else if (!fa.has_plane || !fb.has_plane) {
        pm.why = "not acquired yet";
      } else {
        Task t;
        t.fa = i;
        t.fb = j;
        t.ra = ra;
        t.rb = Rect{ra.x - ix, ra.y - iy, ra.w, ra.h};
        t.pair = pair;
        t.ix = ix;
        t.iy = iy;
        tasks.push_back(std::move(t));
      }
      res.pairs.push_back(pm);
    }
  }
  // Null pairs: a real pair's strip geometry, its second field replaced by
  // one at least two rows or columns away from the first (no overlap).
  const bool reuse_null = int32_t(opt.previous_null_scores.size()) >= opt.null_pairs;
  if (reuse_null) res.null_scores = opt.previous_null_scores;
  const size_t real_tasks = tasks.size();
  if (!reuse_null && real_tasks > 0) {
    const size_t want = std::min<size_t>(size_t(std::max(opt.null_pairs, 0)), real_tasks);
    for (size_t k = 0; k < want; ++k) {
      const Task& src = tasks[k * real_tasks / want];
      const Field& fa = fields[size_t(src.fa)];
      for (const auto& [dr, dc] : {std::pair{0, 2}, std::pair{2, 0}, std::pair{2, 2}, std::pair{0, 3}, std::pair{3, 0},
                                  std::pair{2, -2}, std::pair{0, -2}, std::pair{-2, 0}}) {
        const int32_t j = find(fa.row + dr, fa.col + dc);
        if (j < 0 || !fields[size_t(j)].has_plane) continue;
        Task t;
        t.fa = src.fa;
        t.fb = j;
        t.ra = src.ra;
        t.rb = src.rb;
        tasks.push_back(std::move(t));
        break;
      }
    }
  }
  std::vector<std::vector<std::pair<int32_t, bool>>> uses(static_cast<size_t>(n));  // (task, is side a)
  for (size_t k = 0; k < tasks.size(); ++k) {
    uses[size_t(tasks[k].fa)].push_back({int32_t(k), true});
    uses[size_t(tasks[k].fb)].push_back({int32_t(k), false});
  }
  std::vector<int32_t> to_read;
  for (int32_t i = 0; i < n; ++i) {
    if (!uses[size_t(i)].empty()) to_read.push_back(i);
  }

  // Read each field once; measure each pair when its second strip arrives.
  std::mutex mu;  // guards tasks' strips, res.pairs, res.null_scores, timings, read_errors, progress
  std::map<int32_t, std::string> read_errors;
  std::atomic<size_t> next{0};
  size_t done = 0;
  const uint64_t total = to_read.size();
  auto measure = [&](Task& t) {
    reg::ShiftOptions so;
    so.max_shift_x = t.ra.w / 2;
    so.max_shift_y = t.ra.h / 2;
    const reg::ShiftEstimate e = reg::estimate_shift(t.a, t.b, so);
    t.a = {};
    t.b = {};
    std::lock_guard lock(mu);
    res.fft_s += e.fft_s;
    res.refine_s += e.refine_s;
    if (t.pair < 0) {
      res.null_scores.push_back(e.ok ? e.score : 0.0);
      return;
    }
    PairMeasurement& pm = res.pairs[size_t(t.pair)];
    pm.measured = e.ok;
    pm.score = e.score;
    pm.why = e.why;
    if (e.ok) {
      pm.dx_px = t.ix + e.dx;
      pm.dy_px = t.iy + e.dy;
    }
  };
  auto worker = [&] {
    std::vector<uint16_t> buf(size_t(W) * size_t(H));
    for (size_t k; (k = next++) < to_read.size();) {
      const int32_t i = to_read[k];
      const Field& f = fields[size_t(i)];
      const double r0 = thread_cpu_s();
      const auto rw0 = Clock::now();
      const Status s = slide.read_into(TileKey{f.row, f.col, opt.channel, opt.z, opt.t, 0}, buf);
      const double read_s = thread_cpu_s() - r0;
      const double read_wall_s = std::chrono::duration<double>(Clock::now() - rw0).count();
      std::vector<Task*> ready;
      {
        std::lock_guard lock(mu);
        res.read_s += read_s;
        res.read_wall_s += read_wall_s;
        if (!s.ok()) read_errors[i] = s.to_string();
      }
      for (const auto& [k2, side_a] : uses[size_t(i)]) {
        Task& t = tasks[size_t(k2)];
        const Rect& r = side_a ? t.ra : t.rb;
        reg::FloatImage strip = s.ok() ? reg::crop(buf.data(), W, r.x, r.y, r.w, r.h) : reg::FloatImage();
        std::lock_guard lock(mu);
        (side_a ? t.a : t.b) = std::move(strip);
        (side_a ? t.have_a : t.have_b) = true;
        if (t.have_a && t.have_b) ready.push_back(&t);
      }
      for (Task* t : ready) {
        if (t->a.empty() || t->b.empty()) {
          std::lock_guard lock(mu);
          if (t->pair >= 0) res.pairs[size_t(t->pair)].why = "a field could not be read";
          t->a = {};
          t->b = {};
          continue;
        }
        measure(*t);
      }
      std::lock_guard lock(mu);
      ++done;
      if (opt.progress) opt.progress(done, total);
    }
  };
  {
    unsigned threads = opt.threads ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
    threads = std::max(1u, std::min<unsigned>(threads, unsigned(std::max<size_t>(to_read.size(), 1))));
    std::vector<std::thread> pool;
    for (unsigned k = 1; k < threads; ++k) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
  }
  for (auto& pm : res.pairs) {
    const int32_t a = find(pm.row_a, pm.col_a), b = find(pm.row_b, pm.col_b);
    for (int32_t f : {a, b}) {
      auto it = read_errors.find(f);
      if (it != read_errors.end() && !pm.measured) pm.why = "field " + field_name(fields[size_t(f)].row, fields[size_t(f)].col) + " could not be read: " + it->second;
    }
  }

  // The threshold learnt from pairs that do not overlap.
  res.threshold = std::max(opt.min_score, percentile(res.null_scores, 0.99));
  for (auto& pm : res.pairs) {
    pm.accepted = pm.measured && pm.score >= res.threshold;
    if (pm.measured && !pm.accepted) {
      pm.why = "unreliable: NCC " + fmt(pm.score) + " below the slide's threshold " + fmt(res.threshold) +
               " (no texture or no true overlap)";
    }
  }

  // Global solution: pass 1 with the raw stage prior, then the stage mapped
  // through the fitted affine, dropping pairs the solution contradicts.
  const auto s0 = Clock::now();
  std::vector<double> sx(static_cast<size_t>(n)), sy(static_cast<size_t>(n)), px = sx, py = sy, x, y;
  for (int32_t i = 0; i < n; ++i) {
    sx[size_t(i)] = px[size_t(i)] = fields[size_t(i)].sx;
    sy[size_t(i)] = py[size_t(i)] = fields[size_t(i)].sy;
  }
  int32_t band = 1;
  for (const auto& f : fields) band = std::max(band, f.col + 1);
  constexpr double kPriorWeight = 1e-4;  // stage ~100x less trusted than a pair, per pixel
  std::vector<int32_t> degree(static_cast<size_t>(n));
  std::vector<reg::Tie> ties;
  std::vector<size_t> tie_pair;
  reg::Affine affine;
  bool affine_ok = false;
  for (int pass = 0; pass < 4; ++pass) {
    ties.clear();
    tie_pair.clear();
    for (size_t k = 0; k < res.pairs.size(); ++k) {
      const auto& pm = res.pairs[k];
      if (!pm.accepted) continue;
      ties.push_back({find(pm.row_a, pm.col_a), find(pm.row_b, pm.col_b), pm.dx_px, pm.dy_px, 1.0});
      tie_pair.push_back(k);
    }
    reg::solve_positions(ties, px, py, kPriorWeight, band, &x, &y);
    std::fill(degree.begin(), degree.end(), 0);
    for (const auto& t : ties) {
      ++degree[size_t(t.a)];
      ++degree[size_t(t.b)];
    }
    if (pass == 0) {
      std::vector<double> ax, ay, bx, by;
      for (int32_t i = 0; i < n; ++i) {
        if (degree[size_t(i)] == 0) continue;
        ax.push_back(sx[size_t(i)]);
        ay.push_back(sy[size_t(i)]);
        bx.push_back(x[size_t(i)]);
        by.push_back(y[size_t(i)]);
      }
      affine_ok = ax.size() >= 4 && reg::fit_affine(ax, ay, bx, by, &affine);
      if (affine_ok) {
        for (int32_t i = 0; i < n; ++i) affine.apply(sx[size_t(i)], sy[size_t(i)], &px[size_t(i)], &py[size_t(i)]);
      }
      continue;
    }
    bool dropped = false;
    for (size_t k = 0; k < ties.size(); ++k) {
      const auto& t = ties[k];
      const double r = std::hypot(x[size_t(t.b)] - x[size_t(t.a)] - t.dx, y[size_t(t.b)] - y[size_t(t.a)] - t.dy);
      auto& pm = res.pairs[tie_pair[k]];
      pm.residual_px = r;
      if (r > opt.max_residual_px) {
        pm.accepted = false;
        pm.why = "inconsistent with the other pairs (residual " + fmt(r, 2) + " px)";
        dropped = true;
      }
    }
    if (!dropped) break;
  }
  res.solve_s = std::chrono::duration<double>(Clock::now() - s0).count();

  // Per-field results and the reasons for fields left unmeasured.
  std::vector<double> sq(static_cast<size_t>(n), 0.0);
  for (const auto& pm : res.pairs) {
    if (!pm.accepted) continue;
    for (int32_t f : {find(pm.row_a, pm.col_a), find(pm.row_b, pm.col_b)}) sq[size_t(f)] += pm.residual_px * pm.residual_px;
  }
  std::vector<std::string> reasons(static_cast<size_t>(n));
  for (const auto& pm : res.pairs) {
    if (pm.accepted) continue;
    const int32_t a = find(pm.row_a, pm.col_a), b = find(pm.row_b, pm.col_b);
    reasons[size_t(a)] += (reasons[size_t(a)].empty() ? "" : "; ") + field_name(pm.row_b, pm.col_b) + ": " + pm.why;
    reasons[size_t(b)] += (reasons[size_t(b)].empty() ? "" : "; ") + field_name(pm.row_a, pm.col_a) + ": " + pm.why;
  }
  for (int32_t i = 0; i < n; ++i) {
    const Field& f = fields[size_t(i)];
    FieldPlacement p{f.row, f.col, x[size_t(i)] * um, y[size_t(i)] * um, degree[size_t(i)] > 0, 0.0};
    if (p.measured) {
      p.residual_px = std::sqrt(sq[size_t(i)] / degree[size_t(i)]);
      ++res.fields_measured;
    } else {
      std::string why = !f.has_plane ? "not acquired yet"
                        : reasons[size_t(i)].empty() ? "no neighbour in the mosaic"
                                                     : reasons[size_t(i)];
      if (read_errors.count(i)) why = "could not be read: " + read_errors[i];
      res.unmeasured.push_back({f.row, f.col, why + (affine_ok ? " (kept its stage position, calibrated)" : " (kept its stage position)")});
    }
    res.registration.fields.push_back(p);
  }

  // Calibration: the affine from stage to registered positions of measured fields.
  StageCalibration& cal = res.calibration;
  {
    std::vector<double> ax, ay, bx, by;
    for (int32_t i = 0; i < n; ++i) {
      if (degree[size_t(i)] == 0) continue;
      ax.push_back(sx[size_t(i)]);
      ay.push_back(sy[size_t(i)]);
      bx.push_back(x[size_t(i)]);
      by.push_back(y[size_t(i)]);
    }
    reg::Affine a;
    if (ax.size() >= 4 && reg::fit_affine(ax, ay, bx, by, &a)) {
      cal.fitted = true;
      cal.a11 = a.a11;
      cal.a12 = a.a12;
      cal.a21 = a.a21;
      cal.a22 = a.a22;
      cal.tx_px = a.tx;
      cal.ty_px = a.ty;
      cal.scale_x = std::hypot(a.a11, a.a21);
      cal.scale_y = std::hypot(a.a12, a.a22);
      const double rx = std::atan2(a.a21, a.a11), ry = std::atan2(-a.a12, a.a22);
      cal.rotation_deg = rx * 180 / M_PI;
      cal.shear_deg = (ry - rx) * 180 / M_PI;
      cal.pixel_size_um = um * 2 / (cal.scale_x + cal.scale_y);
      double ss = 0;
      for (size_t k = 0; k < ax.size(); ++k) {
        double fx, fy;
        a.apply(ax[k], ay[k], &fx, &fy);
        ss += (fx - bx[k]) * (fx - bx[k]) + (fy - by[k]) * (fy - by[k]);
      }
      cal.rms_px = std::sqrt(ss / double(ax.size()));
      cal.fields_used = int32_t(ax.size());
    } else {
      cal.why = ax.size() < 4 ? "fewer than 4 measured fields" : "the measured fields lie on one line";
    }
  }

  // Colour registration on a few measured fields spread over the slide.
  res.registration.reference_channel = opt.channel;
  if (opt.colour && g.channels > 1) {
    std::vector<std::pair<int32_t, int32_t>> sample;
    std::vector<int32_t> cand;
    for (int32_t i = 0; i < n; ++i) {
      if (fields[size_t(i)].has_plane && degree[size_t(i)] > 0) cand.push_back(i);
    }
    if (cand.empty()) {
      for (int32_t i = 0; i < n; ++i) {
        if (fields[size_t(i)].has_plane) cand.push_back(i);
      }
    }
    const size_t want = std::min(cand.size(), size_t(std::max(opt.colour_fields, 1)));
    for (size_t k = 0; k < want; ++k) {
      const Field& f = fields[size_t(cand[k * cand.size() / want])];
      sample.push_back({f.row, f.col});
    }
    auto cr = reg::register_colours(slide, opt.channel, opt.z, opt.t, sample, opt.colour_scale,
                                    opt.threads ? opt.threads : std::thread::hardware_concurrency());
    res.registration.channel_offsets = cr.offsets;
    res.colour_s = cr.seconds;
    res.colour_issues = cr.issues;
  } else {
    res.registration.channel_offsets.push_back(ChannelOffset{opt.channel, 0, 0, 1, 1});
  }
  res.wall_s = std::chrono::duration<double>(Clock::now() - wall0).count();
  res.registration.report_json = res.report().dump();
  return res;
}

}  // namespace vslide
