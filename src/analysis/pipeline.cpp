#include "vslide/analysis/pipeline.h"

#include "vslide/analysis/nuclei.h"

namespace vslide {

void to_json(nlohmann::json& j, const DetectedObject& o) {
  j = {{"id", o.id}, {"label", o.label}, {"row", o.key.row}, {"col", o.key.col},
       {"channel", o.key.channel}, {"z", o.key.z}, {"t", o.key.t},
       {"x_px", o.x_px}, {"y_px", o.y_px}, {"x_um", o.x_um}, {"y_um", o.y_um},
       {"area_px", o.area_px}, {"area_um2", o.area_um2}, {"mean_intensity", o.mean_intensity},
       {"bbox", {o.bbox_x0, o.bbox_y0, o.bbox_x1, o.bbox_y1}}, {"touches_border", o.touches_border},
       {"kept", o.kept}, {"duplicate_of", o.duplicate_of ? nlohmann::json(o.duplicate_of) : nlohmann::json()}};
}

void from_json(const nlohmann::json& j, DetectedObject& o) {
  o.id = j.at("id").get<int64_t>();
  o.label = j.at("label").get<uint32_t>();
  o.key = TileKey{j.at("row").get<int32_t>(), j.at("col").get<int32_t>(), j.at("channel").get<int32_t>(),
                  j.at("z").get<int32_t>(), j.at("t").get<int32_t>(), 0};
  o.x_px = j.at("x_px").get<double>();
  o.y_px = j.at("y_px").get<double>();
  o.x_um = j.at("x_um").get<double>();
  o.y_um = j.at("y_um").get<double>();
  o.area_px = j.at("area_px").get<int64_t>();
  o.area_um2 = j.at("area_um2").get<double>();
  o.mean_intensity = j.at("mean_intensity").get<double>();
  const auto& b = j.at("bbox");
  o.bbox_x0 = b.at(0).get<int32_t>();
  o.bbox_y0 = b.at(1).get<int32_t>();
  o.bbox_x1 = b.at(2).get<int32_t>();
  o.bbox_y1 = b.at(3).get<int32_t>();
  o.touches_border = j.at("touches_border").get<bool>();
  // Tables stored before objects were merged across fields lack these.
  o.kept = j.value("kept", true);
  const auto dup = j.find("duplicate_of");
  o.duplicate_of = dup != j.end() && dup->is_number_integer() ? dup->get<int64_t>() : 0;
}

std::vector<std::string> pipeline_names() { return {"nuclei"}; }

Result<std::unique_ptr<ImagePipeline>> make_pipeline(const std::string& name) {
  if (name == "nuclei") return std::unique_ptr<ImagePipeline>(std::make_unique<NucleiPipeline>());
  std::string known;
  for (const std::string& n : pipeline_names()) known += (known.empty() ? "" : ", ") + n;
  return Status::invalid_argument("unknown pipeline '" + name + "' (known: " + known + ")");
}

}  // namespace vslide
