// The channel table of `vslide import-tiles`: the user's, the files', or
// defaults derived from the data, never the simulator's.
#include <fstream>
#include <sstream>

#include "args.h"
#include "import_plan.h"

namespace vslide::cli {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

Result<Rgb> parse_colour(const std::string& s) {
  static const std::map<std::string, std::string> kNamed = {
      {"red", "#ff0000"},  {"green", "#00ff00"},   {"blue", "#0000ff"},   {"cyan", "#00ffff"},
      {"magenta", "#ff00ff"}, {"yellow", "#ffff00"}, {"white", "#ffffff"}, {"gray", "#ffffff"}, {"grey", "#ffffff"}};
  auto it = kNamed.find(s);
  return parse_rgb(it != kNamed.end() ? it->second : s);
}

// 0.1 and 99.9 percentiles of up to kWindowSamplePlanes planes, evenly spread.
Result<std::pair<uint16_t, uint16_t>> percentile_window(const ImportPlan& plan, int32_t channel, int* sampled) {
  std::vector<const ImportPlane*> planes;
  for (const auto& p : plan.planes) {
    if (p.key.channel == channel) planes.push_back(&p);
  }
  *sampled = 0;
  if (planes.empty()) return std::pair<uint16_t, uint16_t>{0, 65535};
  std::vector<uint64_t> hist(65536, 0);
  uint64_t total = 0;
  const size_t n = std::min<size_t>(planes.size(), kWindowSamplePlanes);
  for (size_t k = 0; k < n; ++k) {
    const ImportPlane& p = *planes[k * planes.size() / n];
    auto img = read_tiff_page(plan.files[p.file], p.page);
    if (!img.ok()) return img.status().with_context(p.label);
    for (uint16_t v : img->pixels()) ++hist[v];
    total += img->pixel_count();
    ++*sampled;
  }
  auto quantile = [&](double q) {
    const uint64_t want = uint64_t(q * double(total));
    uint64_t acc = 0;
    for (size_t v = 0; v < hist.size(); ++v) {
      acc += hist[v];
      if (acc > want) return uint16_t(v);
    }
    return uint16_t(65535);
  };
  uint16_t lo = quantile(0.001), hi = quantile(0.999);
  if (hi <= lo) hi = uint16_t(std::min(65535, lo + 1));
  if (hi <= lo) lo = uint16_t(hi - 1);
  return std::pair{lo, hi};
}

}  // namespace

Result<std::vector<ChannelInfo>> build_channel_table(const ImportPlan& plan, int32_t channels,
                                                     const ChannelTableOptions& opt, std::string* note) {
  // Fiji's composite colours, in its order.
  static const char* kColours[] = {"#ff0000", "#00ff00", "#0000ff", "#ffffff", "#00ffff", "#ff00ff", "#ffff00"};
  std::vector<ChannelInfo> table(static_cast<size_t>(channels));
  std::vector<bool> window_given(static_cast<size_t>(channels), false);
  for (int32_t c = 0; c < channels; ++c) {
    table[size_t(c)].name = "Channel " + std::to_string(c);
    table[size_t(c)].color = *parse_rgb(channels == 1 ? "#ffffff" : kColours[c % 7]);
  }
  std::vector<std::string> from;
  if (!plan.ome_channels.empty()) {
    from.push_back("OME-XML");
    for (size_t c = 0; c < plan.ome_channels.size() && c < table.size(); ++c) {
      const OmeChannel& o = plan.ome_channels[c];
      if (!o.name.empty()) table[c].name = o.name;
      if (o.color) table[c].color = *o.color;
      if (o.excitation_nm) table[c].excitation_nm = *o.excitation_nm;
      if (o.emission_nm) table[c].emission_nm = *o.emission_nm;
    }
  }
  if (!opt.json_file.empty()) {
    std::ifstream in(opt.json_file);
    if (!in) return Status::not_found(opt.json_file + ": cannot open");
    std::stringstream text;
    text << in.rdbuf();
    auto list = parse_json_as<std::vector<nlohmann::json>>(text.str(), opt.json_file);
    if (!list.ok()) return list.status();
    if (list->size() != table.size()) {
      return Status::invalid_argument(opt.json_file + ": " + std::to_string(list->size()) + " channels, the tiles have " +
                                      std::to_string(table.size()));
    }
    for (size_t c = 0; c < table.size(); ++c) {
      const auto& j = (*list)[c];
      if (!j.is_object()) return Status::invalid_argument(opt.json_file + ": channel " + std::to_string(c) + " is not an object");
      auto info = parse_json_as<ChannelInfo>(j.dump(), opt.json_file + ": channel " + std::to_string(c));
      if (!info.ok()) return info.status();
      table[c].name = info->name;
      if (j.contains("color")) table[c].color = info->color;
      if (j.contains("excitation_nm")) table[c].excitation_nm = info->excitation_nm;
      if (j.contains("emission_nm")) table[c].emission_nm = info->emission_nm;
      if (j.contains("contrast_low") && j.contains("contrast_high")) {
        table[c].contrast_low = info->contrast_low, table[c].contrast_high = info->contrast_high;
        window_given[c] = true;
      }
    }
    from.push_back(opt.json_file);
  }
  // Per-channel options: a comma-separated list with one item per channel.
  auto each = [&](const std::string& text, const char* option, auto&& apply) -> Status {
    if (text.empty()) return Status();
    const auto items = split_list(text);
    if (items.size() != table.size()) {
      return Status::invalid_argument(std::string(option) + ": " + std::to_string(items.size()) +
                                      " items, the tiles have " + std::to_string(table.size()) + " channels");
    }
    for (size_t c = 0; c < items.size(); ++c) {
      Status s = apply(table[c], items[c], c);
      if (!s.ok()) return s.with_context(std::string(option) + " item " + std::to_string(c));
    }
    from.push_back(option);
    return Status();
  };
  auto wavelength = [](double* out) {
    return [out](const std::string& v) -> Status {
      double x = 0;
      if (!parse_real(v, &x) || x < 0 || x > 100000) return Status::invalid_argument("'" + v + "' is not a wavelength in nm");
      *out = x;
      return Status();
    };
  };
  VSLIDE_RETURN_IF_ERROR(each(opt.names, "--channel-names", [](ChannelInfo& c, const std::string& v, size_t) {
    if (v.empty()) return Status::invalid_argument("empty name");
    c.name = v;
    return Status();
  }));
  VSLIDE_RETURN_IF_ERROR(each(opt.colors, "--channel-colors", [](ChannelInfo& c, const std::string& v, size_t) {
    auto rgb = parse_colour(v);
    if (!rgb.ok()) return rgb.status();
    c.color = *rgb;
    return Status();
  }));
  VSLIDE_RETURN_IF_ERROR(each(opt.excitation_nm, "--excitation-nm",
                              [&](ChannelInfo& c, const std::string& v, size_t) { return wavelength(&c.excitation_nm)(v); }));
  VSLIDE_RETURN_IF_ERROR(each(opt.emission_nm, "--emission-nm",
                              [&](ChannelInfo& c, const std::string& v, size_t) { return wavelength(&c.emission_nm)(v); }));
  VSLIDE_RETURN_IF_ERROR(each(opt.windows, "--windows", [&](ChannelInfo& c, const std::string& v, size_t i) {
    const auto colon = v.find(':');
    int64_t lo = 0, hi = 0;
    if (colon == std::string::npos || !parse_int(v.substr(0, colon), &lo) || !parse_int(v.substr(colon + 1), &hi) ||
        lo < 0 || hi > 65535 || lo >= hi) {
      return Status::invalid_argument("'" + v + "' is not LOW:HIGH with 0 <= LOW < HIGH <= 65535");
    }
    c.contrast_low = uint16_t(lo), c.contrast_high = uint16_t(hi);
    window_given[i] = true;
    return Status();
  }));
  int sampled_max = 0;
  for (int32_t c = 0; c < channels; ++c) {
    if (window_given[size_t(c)]) continue;
    int sampled = 0;
    VSLIDE_ASSIGN_OR_RETURN(auto w, percentile_window(plan, c, &sampled));
    table[size_t(c)].contrast_low = w.first, table[size_t(c)].contrast_high = w.second;
    sampled_max = std::max(sampled_max, sampled);
  }
  std::string n = from.empty() ? "defaults" : "";
  for (const auto& f : from) n += (n.empty() ? "" : ", ") + f;
  if (sampled_max > 0) {
    n += "; contrast windows from the 0.1-99.9 percentiles of up to " + std::to_string(sampled_max) +
         " planes per channel";
  }
  *note = n;
  return table;
}

}  // namespace vslide::cli
