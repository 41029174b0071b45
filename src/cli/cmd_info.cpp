// vslide info: what a slide holds and how it is stored.
#include <cstdio>
#include <iostream>

#include "args.h"
#include "command.h"
#include "open_slide.h"
#include "vslide/storage/hdf5_slide.h"

namespace vslide::cli {
namespace {

int run_info(int argc, char** argv) {
  std::string path;
  bool json_out = false;
  ArgParser p("vslide info SLIDE [--json]",
              "Prints a slide's header, geometry, channels, layout, codec, tiles present, bytes and state.");
  p.positional("SLIDE", "slide file or tcp://host:port/SLIDE_ID", &path);
  p.flag("--json", "print one JSON object", &json_out);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;

  auto slide = open_slide(path);
  if (!slide.ok()) {
    std::cerr << "vslide info: " << slide.status().to_string() << "\n";
    return 1;
  }
  const SlideSource& s = **slide;
  const auto& g = s.geometry();
  auto idx = s.index();
  nlohmann::json j;
  j["path"] = s.describe();
  j["slide_id"] = s.header().slide_id;
  j["name"] = s.header().name;
  j["state"] = std::string(slide_state_name(s.state()));
  j["header"] = s.header();
  j["rows"] = g.rows;
  j["cols"] = g.cols;
  j["channels"] = g.channels;
  j["z_planes"] = g.z_planes;
  j["timepoints"] = g.timepoints;
  j["tile_height"] = g.tile_height;
  j["tile_width"] = g.tile_width;
  j["pixel_size_um"] = g.pixel_size_um;
  j["codec"] = s.codec().name();
  j["channel_table"] = s.channels();
  j["zoom_levels"] = s.zoom_levels();
  j["fields_present"] = idx->fields_present();
  j["fields_complete"] = idx->fields_complete();
  j["planes_present"] = idx->planes_present();
  j["bytes_raw"] = uint64_t(idx->planes_present()) * g.plane_bytes();
  j["detection_layers"] = s.detection_layers();
  if (const auto* h = dynamic_cast<const Hdf5Slide*>(&s)) {
    j["layout"] = std::string(layout_name(h->layout()));
    j["chunk_height"] = h->chunk_height();
    j["chunk_width"] = h->chunk_width();
    j["format_version"] = h->format_version();
    j["bytes_stored"] = h->bytes_stored();
  } else {
    j["layout"] = "remote";
    j["bytes_stored"] = nullptr;
  }
  if (json_out) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  const auto& h = s.header();
  std::printf("slide      %s  \"%s\"  (%s)\n", h.slide_id.c_str(), h.name.c_str(), j["state"].get<std::string>().c_str());
  std::printf("file       %s\n", s.describe().c_str());
  std::printf("acquired   %s  %s  %s  %s\n", h.date.c_str(), h.instrument.c_str(), h.objective.c_str(),
              h.assay.c_str());
  std::printf("mosaic     %d x %d fields, %d channels, %d z, %d t; tiles %d x %d px at %.4f um/px\n", g.rows, g.cols,
              g.channels, g.z_planes, g.timepoints, g.tile_width, g.tile_height, g.pixel_size_um);
  std::printf("present    %zu fields (%zu complete), %zu planes\n", idx->fields_present(), idx->fields_complete(),
              idx->planes_present());
  std::printf("storage    layout %s, codec %s", j["layout"].get<std::string>().c_str(), s.codec().name().c_str());
  if (j.contains("chunk_height")) std::printf(", chunk %dx%d", j["chunk_height"].get<int>(), j["chunk_width"].get<int>());
  std::printf("\n");
  const double raw = j["bytes_raw"].get<double>();
  if (!j["bytes_stored"].is_null()) {
    const double stored = j["bytes_stored"].get<double>();
    std::printf("bytes      %.1f MB raw, %.1f MB stored, ratio %.2f\n", raw / 1e6, stored / 1e6,
                stored > 0 ? raw / stored : 0.0);
  } else {
    std::printf("bytes      %.1f MB raw\n", raw / 1e6);
  }
  std::printf("zoom       ");
  for (int l : s.zoom_levels()) std::printf("%s1/%d", l == 0 ? "" : ", ", 1 << l);
  std::printf("\nchannels\n");
  for (size_t i = 0; i < s.channels().size(); ++i) {
    const auto& c = s.channels()[i];
    std::printf("  %zu %-8s ex %4.0f nm  em %4.0f nm  colour %s  window %u:%u\n", i, c.name.c_str(), c.excitation_nm,
                c.emission_nm, rgb_to_hex(c.color).c_str(), c.contrast_low, c.contrast_high);
  }
  for (const auto& l : s.detection_layers()) std::printf("detections %s\n", l.c_str());
  if (!h.attributes.empty()) {
    std::printf("attributes\n");
    for (const auto& [k, v] : h.attributes) std::printf("  %s = %s\n", k.c_str(), v.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("info", "print a slide's header, geometry, storage and state", vslide::cli::run_info);
