// Hdf5Slide: the register part's results, stored beside the raw data.
//   /registration                 group; attrs reference_channel (int64), method (string)
//   /registration/row, col        float64 (N): the field of each placement, sorted by (row, col)
//   /registration/x_um, y_um      float64 (N): registered top-left corner, slide micrometres
//   /registration/measured        float64 (N): 1 when accepted pairs tied the field, else 0
//   /registration/residual_px     float64 (N): RMS disagreement with its accepted pairs
//   /registration/channel_offsets/{channel,dx_px,dy_px,scale,score}  float64 (C)
//   /registration/report_json     uint8: method, thresholds, calibration, per-pair quality
//   /registration/planes/{z,t,row,col,x_um,y_um,measured,residual_px}  float64 (P), optional:
//                                 placements of fields in other (z, t) planes where they differ;
//                                 attrs reference_z, reference_t on /registration (absent: 0)
//   /flatfield/channel<C>         float32 (gain_height, gain_width), attr dark (float64)
// Stage positions (/index/fields) and the planes are never touched. Writing
// either group raises the file's vslide_format_version to 2; /registration/planes
// makes it 3 (a version-2 reader would draw every plane at the reference
// plane's positions), and a registration written without planes brings a
// version-3 file back to 2 (planes are version 3's only addition).
#include <array>
#include <cmath>

#include "hdf5_slide_impl.h"

namespace vslide {

namespace {

Status writable_for_results(const Hdf5Slide::Impl& m) {
  if (!m.writable || m.finished) return Status::failed_precondition(m.path + ": not open for writing");
  if (m.swmr_writer) {
    return Status::failed_precondition(m.path + ": results cannot be stored while scanning (SWMR); finish first");
  }
  return Status();
}

Result<h5::Handle> open_or_create(hid_t loc, const char* name) {
  if (h5::exists(loc, name)) return h5::check(H5Gopen2(loc, name, H5P_DEFAULT), std::string("open ") + name);
  return h5::check(H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), std::string("create ") + name);
}

// Sets the file's version to the lowest that reads what it now holds, after
// a registration or a flat-field was stored. REQUIRES: h5_mu held.
Status update_version(Hdf5Slide::Impl& m) {
  const int need = h5::exists(m.file.get(), "registration/planes") ? 3 : 2;
  if (m.format_version == need || (m.format_version > need && m.format_version != 3)) return Status();
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(m.file.get(), "vslide_format_version", int64_t(need)));
  m.format_version = need;
  return Status();
}

Status write_bytes(hid_t loc, const char* name, const std::string& s) {
  hsize_t n = s.size();
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle space, h5::check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle ds, h5::check(H5Dcreate2(loc, name, H5T_STD_U8LE, space.get(), H5P_DEFAULT,
                                                              H5P_DEFAULT, H5P_DEFAULT),
                                                   std::string("create ") + name));
  if (n == 0) return Status();
  return h5::check(H5Dwrite(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data()),
                   std::string("write ") + name);
}

Result<std::string> read_bytes(hid_t loc, const char* name) {
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle ds, h5::check(H5Dopen2(loc, name, H5P_DEFAULT), std::string("open ") + name));
  VSLIDE_ASSIGN_OR_RETURN(auto d, h5::dims(ds.get()));
  if (d.size() != 1 || d[0] > (hsize_t(1) << 30)) return Status::corruption(std::string("malformed ") + name);
  VSLIDE_RETURN_IF_ERROR(h5::fits_in_file(ds.get(), d[0], name));
  std::string s(d[0], '\0');
  if (!s.empty()) {
    VSLIDE_RETURN_IF_ERROR(
        h5::check(H5Dread(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data()), name));
  }
  return s;
}

// Reads named float64 columns that must all have `n` rows (n < 0: take the first's).
Result<std::vector<std::vector<double>>> read_columns(hid_t g, std::initializer_list<const char*> names, int64_t n) {
  std::vector<std::vector<double>> cols;
  for (const char* name : names) {
    VSLIDE_ASSIGN_OR_RETURN(auto v, h5::read_vector(g, name));
    if (n < 0) n = int64_t(v.size());
    if (int64_t(v.size()) != n) {
      return Status::corruption(std::string("column ") + name + " has " + std::to_string(v.size()) +
                                " rows, expected " + std::to_string(n));
    }
    cols.push_back(std::move(v));
  }
  return cols;
}

}  // namespace

Status Hdf5Slide::write_registration(const Registration& reg) {
  Impl& m = *impl_;
  VSLIDE_RETURN_IF_ERROR(writable_for_results(m));
  std::vector<double> row, col, x, y, measured, residual;
  for (size_t i = 0; i < reg.fields.size(); ++i) {
    const auto& f = reg.fields[i];
    if (f.row < 0 || f.row >= m.geometry.rows || f.col < 0 || f.col >= m.geometry.cols) {
      return Status::out_of_range(m.path + ": registration places field (" + std::to_string(f.row) + "," +
                                  std::to_string(f.col) + ") outside the mosaic");
    }
    if (i > 0 && std::pair{reg.fields[i - 1].row, reg.fields[i - 1].col} >= std::pair{f.row, f.col}) {
      return Status::invalid_argument(m.path + ": registration fields must be sorted by (row, col), unique");
    }
    if (!std::isfinite(f.x_um) || !std::isfinite(f.y_um)) {
      return Status::invalid_argument(m.path + ": registration of field (" + std::to_string(f.row) + "," +
                                      std::to_string(f.col) + ") is not finite");
    }
    row.push_back(f.row);
    col.push_back(f.col);
    x.push_back(f.x_um);
    y.push_back(f.y_um);
    measured.push_back(f.measured ? 1 : 0);
    residual.push_back(f.residual_px);
  }
  std::vector<double> ch, dx, dy, sc, score;
  for (const auto& o : reg.channel_offsets) {
    if (o.channel < 0 || o.channel >= m.geometry.channels) {
      return Status::out_of_range(m.path + ": colour offset for channel " + std::to_string(o.channel));
    }
    ch.push_back(o.channel);
    dx.push_back(o.dx_px);
    dy.push_back(o.dy_px);
    sc.push_back(o.scale);
    score.push_back(o.score);
  }
  std::vector<std::vector<double>> planes(8);
  for (size_t i = 0; i < reg.plane_fields.size(); ++i) {
    const PlanePlacement& p = reg.plane_fields[i];
    const FieldPlacement& f = p.field;
    if (p.z < 0 || p.z >= m.geometry.z_planes || p.t < 0 || p.t >= m.geometry.timepoints || f.row < 0 ||
        f.row >= m.geometry.rows || f.col < 0 || f.col >= m.geometry.cols || !std::isfinite(f.x_um) ||
        !std::isfinite(f.y_um)) {
      return Status::out_of_range(m.path + ": registration places field (" + std::to_string(f.row) + "," +
                                  std::to_string(f.col) + ") of z " + std::to_string(p.z) + " t " +
                                  std::to_string(p.t) + " outside the slide");
    }
    if (i > 0) {
      const PlanePlacement& q = reg.plane_fields[i - 1];
      if (std::array{q.z, q.t, q.field.row, q.field.col} >= std::array{p.z, p.t, f.row, f.col})
        return Status::invalid_argument(m.path + ": plane placements must be sorted by (z, t, row, col), unique");
    }
    const double v[8] = {double(p.z), double(p.t), double(f.row), double(f.col), f.x_um, f.y_um,
                         f.measured ? 1.0 : 0.0, f.residual_px};
    for (int k = 0; k < 8; ++k) planes[size_t(k)].push_back(v[k]);
  }
  std::lock_guard lock(m.h5_mu);
  hid_t root = m.file.get();
  if (h5::exists(root, "registration")) {
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Ldelete(root, "registration", H5P_DEFAULT), m.path + ": replace /registration"));
  }
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle g, open_or_create(root, "registration"));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(g.get(), "reference_channel", int64_t(reg.reference_channel)));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(g.get(), "method", std::string("vslide register")));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(g.get(), "row", row));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(g.get(), "col", col));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(g.get(), "x_um", x));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(g.get(), "y_um", y));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(g.get(), "measured", measured));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(g.get(), "residual_px", residual));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle og, open_or_create(g.get(), "channel_offsets"));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(og.get(), "channel", ch));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(og.get(), "dx_px", dx));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(og.get(), "dy_px", dy));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(og.get(), "scale", sc));
  VSLIDE_RETURN_IF_ERROR(h5::write_vector(og.get(), "score", score));
  VSLIDE_RETURN_IF_ERROR(write_bytes(g.get(), "report_json", reg.report_json));
  if (reg.reference_z != 0 || reg.reference_t != 0 || !reg.plane_fields.empty()) {
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(g.get(), "reference_z", int64_t(reg.reference_z)));
    VSLIDE_RETURN_IF_ERROR(h5::write_attr(g.get(), "reference_t", int64_t(reg.reference_t)));
  }
  if (!reg.plane_fields.empty()) {
    VSLIDE_ASSIGN_OR_RETURN(h5::Handle pg, open_or_create(g.get(), "planes"));
    const char* names[8] = {"z", "t", "row", "col", "x_um", "y_um", "measured", "residual_px"};
    for (int k = 0; k < 8; ++k) VSLIDE_RETURN_IF_ERROR(h5::write_vector(pg.get(), names[k], planes[size_t(k)]));
  }
  return update_version(m).with_context(m.path);
}

Result<Registration> Hdf5Slide::read_registration() const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.h5_mu);
  if (!h5::exists(m.file.get(), "registration")) {
    return Status::not_found(m.path + ": no registration stored (run vslide register)");
  }
  auto bad = [&](const Status& s) { return s.with_context(m.path + ": /registration"); };
  auto g = h5::check(H5Gopen2(m.file.get(), "registration", H5P_DEFAULT), "open /registration");
  if (!g.ok()) return bad(g.status());
  Registration reg;
  auto refc = h5::read_attr_int(g->get(), "reference_channel");
  if (!refc.ok()) return bad(refc.status());
  reg.reference_channel = int32_t(*refc);
  auto f = read_columns(g->get(), {"row", "col", "x_um", "y_um", "measured", "residual_px"}, -1);
  if (!f.ok()) return bad(f.status());
  const auto& c = *f;
  for (size_t i = 0; i < c[0].size(); ++i) {
    FieldPlacement p{int32_t(c[0][i]), int32_t(c[1][i]), c[2][i], c[3][i], c[4][i] != 0, c[5][i]};
    if (p.row < 0 || p.row >= m.geometry.rows || p.col < 0 || p.col >= m.geometry.cols ||
        (i > 0 && std::pair{reg.fields.back().row, reg.fields.back().col} >= std::pair{p.row, p.col})) {
      return Status::corruption(m.path + ": /registration row " + std::to_string(i) +
                                " is outside the mosaic or out of order");
    }
    reg.fields.push_back(p);
  }
  if (h5::exists(g->get(), "channel_offsets")) {
    auto og = h5::check(H5Gopen2(g->get(), "channel_offsets", H5P_DEFAULT), "open channel_offsets");
    if (!og.ok()) return bad(og.status());
    auto o = read_columns(og->get(), {"channel", "dx_px", "dy_px", "scale", "score"}, -1);
    if (!o.ok()) return bad(o.status());
    for (size_t i = 0; i < (*o)[0].size(); ++i) {
      reg.channel_offsets.push_back(
          ChannelOffset{int32_t((*o)[0][i]), (*o)[1][i], (*o)[2][i], (*o)[3][i], (*o)[4][i]});
    }
  }
  for (auto [name, out] : {std::pair{"reference_z", &reg.reference_z}, std::pair{"reference_t", &reg.reference_t}}) {
    if (!h5::has_attr(g->get(), name)) continue;
    auto v = h5::read_attr_int(g->get(), name);
    if (!v.ok()) return bad(v.status());
    *out = int32_t(*v);
  }
  if (reg.reference_z < 0 || reg.reference_z >= m.geometry.z_planes || reg.reference_t < 0 ||
      reg.reference_t >= m.geometry.timepoints)
    return Status::corruption(m.path + ": /registration reference plane z " + std::to_string(reg.reference_z) +
                              " t " + std::to_string(reg.reference_t) + " is outside the slide");
  if (h5::exists(g->get(), "planes")) {
    auto pg = h5::check(H5Gopen2(g->get(), "planes", H5P_DEFAULT), "open planes");
    if (!pg.ok()) return bad(pg.status());
    auto pc = read_columns(pg->get(), {"z", "t", "row", "col", "x_um", "y_um", "measured", "residual_px"}, -1);
    if (!pc.ok()) return bad(pc.status());
    const auto& c = *pc;
    for (size_t i = 0; i < c[0].size(); ++i) {
      PlanePlacement p{int32_t(c[0][i]), int32_t(c[1][i]),
                       FieldPlacement{int32_t(c[2][i]), int32_t(c[3][i]), c[4][i], c[5][i], c[6][i] != 0, c[7][i]}};
      const bool inside = p.z >= 0 && p.z < m.geometry.z_planes && p.t >= 0 && p.t < m.geometry.timepoints &&
                          p.field.row >= 0 && p.field.row < m.geometry.rows && p.field.col >= 0 &&
                          p.field.col < m.geometry.cols && std::isfinite(p.field.x_um) &&
                          std::isfinite(p.field.y_um);
      const bool ordered =
          i == 0 || std::array{reg.plane_fields.back().z, reg.plane_fields.back().t, reg.plane_fields.back().field.row,
                               reg.plane_fields.back().field.col} < std::array{p.z, p.t, p.field.row, p.field.col};
      if (!inside || !ordered)
        return Status::corruption(m.path + ": /registration/planes row " + std::to_string(i) +
                                  " is outside the slide or out of order");
      reg.plane_fields.push_back(p);
    }
  }
  if (h5::exists(g->get(), "report_json")) {
    auto r = read_bytes(g->get(), "report_json");
    if (!r.ok()) return bad(r.status());
    reg.report_json = std::move(*r);
  }
  return reg;
}

Status Hdf5Slide::write_flatfield(const FlatField& ff) {
  Impl& m = *impl_;
  VSLIDE_RETURN_IF_ERROR(writable_for_results(m));
  if (ff.channel < 0 || ff.channel >= m.geometry.channels) {
    return Status::out_of_range(m.path + ": flat-field for channel " + std::to_string(ff.channel) + " of " +
                                std::to_string(m.geometry.channels));
  }
  if (ff.gain_width <= 0 || ff.gain_height <= 0 || ff.gain_width > m.geometry.tile_width ||
      ff.gain_height > m.geometry.tile_height ||
      ff.gain.size() != size_t(ff.gain_width) * size_t(ff.gain_height)) {
    return Status::invalid_argument(m.path + ": flat-field of channel " + std::to_string(ff.channel) + " is " +
                                    std::to_string(ff.gain_width) + "x" + std::to_string(ff.gain_height) +
                                    " with " + std::to_string(ff.gain.size()) + " values");
  }
  for (float v : ff.gain) {
    if (!std::isfinite(v) || v <= 0) {
      return Status::invalid_argument(m.path + ": flat-field of channel " + std::to_string(ff.channel) +
                                      " has a gain that is not finite and positive");
    }
  }
  std::lock_guard lock(m.h5_mu);
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle g, open_or_create(m.file.get(), "flatfield"));
  const std::string name = "channel" + std::to_string(ff.channel);
  if (h5::exists(g.get(), name.c_str())) {
    VSLIDE_RETURN_IF_ERROR(h5::check(H5Ldelete(g.get(), name.c_str(), H5P_DEFAULT), "replace flat-field"));
  }
  hsize_t d[2] = {hsize_t(ff.gain_height), hsize_t(ff.gain_width)};
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle space, h5::check(H5Screate_simple(2, d, nullptr), "H5Screate_simple"));
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle ds, h5::check(H5Dcreate2(g.get(), name.c_str(), H5T_IEEE_F32LE, space.get(),
                                                              H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                                   m.path + ": create /flatfield/" + name));
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ff.gain.data()),
                                   m.path + ": write /flatfield/" + name));
  VSLIDE_RETURN_IF_ERROR(h5::write_attr(ds.get(), "dark", double(ff.dark)));
  return update_version(m).with_context(m.path);
}

Result<FlatField> Hdf5Slide::read_flatfield(int32_t channel) const {
  const Impl& m = *impl_;
  if (channel < 0 || channel >= m.geometry.channels) {
    return Status::out_of_range(m.path + ": no channel " + std::to_string(channel));
  }
  std::lock_guard lock(m.h5_mu);
  const std::string name = "flatfield/channel" + std::to_string(channel);
  if (!h5::exists(m.file.get(), "flatfield") || !h5::exists(m.file.get(), name.c_str())) {
    return Status::not_found(m.path + ": no flat-field stored for channel " + std::to_string(channel));
  }
  VSLIDE_ASSIGN_OR_RETURN(h5::Handle ds, h5::check(H5Dopen2(m.file.get(), name.c_str(), H5P_DEFAULT),
                                                   m.path + ": open /" + name));
  VSLIDE_ASSIGN_OR_RETURN(auto d, h5::dims(ds.get()));
  if (d.size() != 2 || d[0] == 0 || d[1] == 0 || d[0] > hsize_t(m.geometry.tile_height) ||
      d[1] > hsize_t(m.geometry.tile_width)) {
    return Status::corruption(m.path + ": malformed /" + name);
  }
  FlatField ff;
  ff.channel = channel;
  ff.gain_height = int32_t(d[0]);
  ff.gain_width = int32_t(d[1]);
  ff.gain.resize(size_t(d[0]) * size_t(d[1]));
  VSLIDE_RETURN_IF_ERROR(h5::check(H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ff.gain.data()),
                                   m.path + ": read /" + name));
  VSLIDE_ASSIGN_OR_RETURN(double dark, h5::read_attr_double(ds.get(), "dark"));
  ff.dark = float(dark);
  return ff;
}

}  // namespace vslide
