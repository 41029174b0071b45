// The registration report (Registration::report_json) and reading it back.
#include <cmath>

#include "vslide/register/register.h"

namespace vslide {

void to_json(nlohmann::json& j, const PairMeasurement& p) {
  j = nlohmann::json{{"a", {p.row_a, p.col_a}}, {"b", {p.row_b, p.col_b}}, {"dx_px", p.dx_px},
                     {"dy_px", p.dy_px},        {"stage_dx_px", p.stage_dx_px}, {"stage_dy_px", p.stage_dy_px},
                     {"score", p.score},        {"measured", p.measured},       {"accepted", p.accepted},
                     {"residual_px", p.residual_px}};
  if (!p.why.empty()) j["why"] = p.why;
}

void to_json(nlohmann::json& j, const StageCalibration& c) {
  j = nlohmann::json{{"fitted", c.fitted}};
  if (!c.fitted) {
    j["why"] = c.why;
    return;
  }
  j["affine"] = {{c.a11, c.a12, c.tx_px}, {c.a21, c.a22, c.ty_px}};
  j["rotation_deg"] = c.rotation_deg;
  j["shear_deg"] = c.shear_deg;
  j["scale_x"] = c.scale_x;
  j["scale_y"] = c.scale_y;
  j["pixel_size_um"] = c.pixel_size_um;
  j["rms_px"] = c.rms_px;
  j["fields_used"] = c.fields_used;
}

nlohmann::json RegisterResult::report() const {
  nlohmann::json j;
  j["method"] = "phase correlation of overlap strips + symmetric Lucas-Kanade refinement; NCC threshold from "
                "non-overlapping pairs (99th percentile); weighted least squares with a weak stage prior";
  j["reference_channel"] = registration.reference_channel;
  j["fields"] = fields;
  j["fields_measured"] = fields_measured;
  size_t accepted = 0, measured = 0;
  for (const auto& p : pairs) {
    accepted += p.accepted;
    measured += p.measured;
  }
  j["pairs"] = pairs;
  j["pairs_total"] = pairs.size();
  j["pairs_measured"] = measured;
  j["pairs_accepted"] = accepted;
  j["pairs_reused"] = pairs_reused;
  j["threshold"] = threshold;
  j["null_scores"] = null_scores;
  j["calibration"] = calibration;
  nlohmann::json um = nlohmann::json::array();
  for (const auto& f : unmeasured) um.push_back({{"field", {f.row, f.col}}, {"why", f.why}});
  j["unmeasured"] = um;
  j["colour_issues"] = colour_issues;
  nlohmann::json co = nlohmann::json::array();
  for (const auto& o : registration.channel_offsets) {
    co.push_back({{"channel", o.channel}, {"dx_px", o.dx_px}, {"dy_px", o.dy_px}, {"scale", o.scale}, {"score", o.score}});
  }
  j["channel_offsets"] = co;
  j["seconds"] = {{"wall", wall_s}, {"read", read_s}, {"fft", fft_s}, {"refine", refine_s},
                  {"solve", solve_s}, {"colour", colour_s}};
  return j;
}

std::vector<PairMeasurement> pairs_from_report(const std::string& report_json) {
  std::vector<PairMeasurement> out;
  auto j = nlohmann::json::parse(report_json, nullptr, false);
  if (j.is_discarded() || !j.contains("pairs") || !j["pairs"].is_array()) return out;
  for (const auto& p : j["pairs"]) {
    try {
      PairMeasurement m;
      m.row_a = p.at("a").at(0);
      m.col_a = p.at("a").at(1);
      m.row_b = p.at("b").at(0);
      m.col_b = p.at("b").at(1);
      m.dx_px = p.at("dx_px");
      m.dy_px = p.at("dy_px");
      m.stage_dx_px = p.at("stage_dx_px");
      m.stage_dy_px = p.at("stage_dy_px");
      m.score = p.at("score");
      m.measured = p.at("measured");
      m.why = p.value("why", "");
      if (m.why.rfind("unreliable", 0) == 0 || m.why.rfind("inconsistent", 0) == 0) m.why.clear();
      out.push_back(m);
    } catch (const nlohmann::json::exception&) {
      // A malformed entry is measured again.
    }
  }
  return out;
}

std::vector<double> null_scores_from_report(const std::string& report_json) {
  auto j = nlohmann::json::parse(report_json, nullptr, false);
  std::vector<double> out;
  if (j.is_discarded() || !j.contains("null_scores") || !j["null_scores"].is_array()) return out;
  for (const auto& v : j["null_scores"]) {
    if (v.is_number()) out.push_back(v.get<double>());
  }
  return out;
}

}  // namespace vslide
