#include "vslide/analysis/detect.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include "vslide/analysis/merge.h"
#include "vslide/register/shading.h"

namespace vslide {
namespace {

bool valid_layer_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

}  // namespace

Result<DetectSummary> detect_slide(const SlideSource& slide, SlideWriter& writer, const ImagePipeline& pipeline,
                                   const DetectOptions& options) {
  const std::string layer = options.layer.empty() ? pipeline.name() : options.layer;
  if (!valid_layer_name(layer))
    return Status::invalid_argument(slide.describe() + ": bad detection layer name '" + layer +
                                    "' (letters, digits, '_', '-', '.')");
  const MosaicGeometry& g = slide.geometry();
  if (options.channel < 0 || options.channel >= g.channels || options.z < 0 || options.z >= g.z_planes ||
      options.t < 0 || options.t >= g.timepoints)
    return Status::invalid_argument(slide.describe() + ": channel " + std::to_string(options.channel) + " z " +
                                    std::to_string(options.z) + " t " + std::to_string(options.t) +
                                    " is outside the slide (" + std::to_string(g.channels) + " channels, " +
                                    std::to_string(g.z_planes) + " z planes, " + std::to_string(g.timepoints) +
                                    " time points)");

  DetectSummary summary;
  summary.layer = layer;
  std::optional<Registration> registration;
  if (options.positions == PositionsMode::kRegistered) {
    Result<Registration> r = slide.read_registration();
    if (r.ok()) registration = std::move(*r);
    else if (r.status().code() != StatusCode::kNotFound) return r.status();
  }
  summary.positions = registration ? "registered" : "stage";
  std::optional<FlatField> flat;
  if (options.flatfield) {
    Result<FlatField> f = slide.read_flatfield(options.channel);
    if (f.ok() && f->valid()) flat = std::move(*f);
    else if (!f.ok() && f.status().code() != StatusCode::kNotFound) return f.status();
  }
  summary.flatfield = flat.has_value();

  const std::shared_ptr<const TileIndex> index = slide.index();
  const int32_t plane = g.plane_index(options.channel, options.z, options.t);
  std::vector<const TileIndex::Entry*> work;
  for (const TileIndex::Entry& e : index->entries())
    if (index->has_plane(e.field.row, e.field.col, plane)) work.push_back(&e);

  std::vector<DetectedObject> objects;
  std::mutex mu;  // guards summary, objects and progress calls
  std::atomic<size_t> next{0};
  size_t done = 0;

  auto worker = [&] {
    std::vector<DetectedObject> local;
    Image16 corrected;
    for (size_t i = next++; i < work.size(); i = next++) {
      FieldOfView field = work[i]->field;  // placed where the objects go
      std::tie(field.stage_x_um, field.stage_y_um) =
          field_origin_um(field, registration ? &*registration : nullptr, options.positions, options.z,
                          options.t);  // the plane's own placement where it has one
      const TileKey key{field.row, field.col, options.channel, options.z, options.t, 0};
      Status failure;
      Result<Image16> tile = slide.read(key);
      Result<Detection> d = Status::internal("not run");
      if (!tile.ok()) {
        failure = tile.status();
      } else {
        if (flat) apply_flatfield(*flat, tile->view(), &corrected);
        d = pipeline.run(flat ? corrected.view() : tile->view(), key, field, g.pixel_size_um);
        if (!d.ok()) {
          failure = d.status();
        } else if (Status s = writer.write_labels(layer, key, d->labels); !s.ok()) {
          failure = s;
        } else {
          local.insert(local.end(), d->objects.begin(), d->objects.end());
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      if (failure.ok()) {
        ++summary.tiles;
        summary.candidates += d->candidates;
        for (const FilterCount& f : d->rejected) {
          auto it = std::find_if(summary.rejected.begin(), summary.rejected.end(),
                                 [&](const FilterCount& x) { return x.filter == f.filter; });
          if (it == summary.rejected.end()) summary.rejected.push_back(f);
          else it->rejected += f.rejected;
        }
      } else {
        summary.errors.push_back(slide.describe() + ": tile " + key.to_string() + ": " + failure.to_string());
      }
      if (options.progress) options.progress(done, work.size());
    }
    std::lock_guard<std::mutex> lock(mu);
    objects.insert(objects.end(), local.begin(), local.end());
  };

  int threads = options.threads > 0 ? options.threads : int(std::thread::hardware_concurrency());
  threads = std::clamp(threads, 1, std::max<int>(1, int(work.size())));
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();

  std::sort(objects.begin(), objects.end(),
            [](const DetectedObject& a, const DetectedObject& b) { return a.id < b.id; });
  if (options.merge) {
    const MergeStats m = merge_overlaps(&objects, g.tile_width, g.tile_height, g.pixel_size_um,
                                        registration ? 0.0 : kStageSlackUm);
    summary.duplicates = m.duplicates;
    summary.cut_replaced = m.cut_replaced;
  }
  nlohmann::json table = nlohmann::json::array();
  for (const DetectedObject& o : objects) {
    table.push_back(o);
    summary.objects += o.kept;
    summary.border_objects += o.kept && o.touches_border;
  }
  summary.detections = objects.size();
  std::sort(summary.errors.begin(), summary.errors.end());
  VSLIDE_RETURN_IF_ERROR(writer.write_objects_json(layer, table.dump()));
  return summary;
}

}  // namespace vslide
