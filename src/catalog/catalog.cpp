#include "vslide/catalog/catalog.h"

#include <cctype>

#include "catalog_internal.h"

namespace vslide {

nlohmann::json slide_record_to_json(const SlideRecord& r) {
  nlohmann::json header = nullptr;
  if (!r.header_json.empty()) {
    header = nlohmann::json::parse(r.header_json, nullptr, /*allow_exceptions=*/false);
    if (header.is_discarded()) header = r.header_json;  // keep the text rather than lose it
  }
  return nlohmann::json{{"id", r.id},
                        {"name", r.name},
                        {"path", r.path},
                        {"host", r.host},
                        {"state", std::string(slide_state_name(r.state))},
                        {"header", header},
                        {"channels", r.channel_names},
                        {"tile_count", r.tile_count},
                        {"bytes_raw", r.bytes_raw},
                        {"bytes_stored", r.bytes_stored},
                        {"start_unix_s", r.start_unix_s},
                        {"end_unix_s", r.end_unix_s}};
}

Result<std::unique_ptr<Catalog>> open_catalog(const std::string& url) {
  auto starts = [&](std::string_view p) { return url.rfind(p, 0) == 0; };
  if (url.empty()) return Status::invalid_argument("catalog URL is empty");
  if (starts("sqlite://")) {
    std::string path = url.substr(9);
    if (path.empty()) return Status::invalid_argument("catalog '" + url + "': no file path");
    return open_sqlite_catalog(path);
  }
  if (starts("postgresql://") || starts("postgres://")) return open_postgres_catalog(url);
  if (catalog_internal::is_libpq_keyword_form(url)) return open_postgres_catalog(url);
  if (url.find("://") != std::string::npos) {
    return Status::invalid_argument("catalog '" + url +
                                    "': unknown scheme (use sqlite:///path or postgresql://...)");
  }
  return open_sqlite_catalog(url);
}

namespace catalog_internal {

bool is_libpq_keyword_form(const std::string& text) {
  size_t i = text.find_first_not_of(" \t\n\r\f\v");
  const size_t keyword = i;
  while (i < text.size() && (std::isalpha(static_cast<unsigned char>(text[i])) || text[i] == '_')) ++i;
  if (i == keyword || i == std::string::npos) return false;
  i = text.find_first_not_of(" \t\n\r\f\v", i);
  return i != std::string::npos && text[i] == '=';
}

std::string channel_names_to_text(const std::vector<std::string>& names) {
  return nlohmann::json(names).dump();
}

Result<std::vector<std::string>> channel_names_from_text(const std::string& text, const std::string& id) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return Status::corruption("slide " + id + ": channel_names column is not a JSON array");
  }
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return Status::corruption("slide " + id + ": channel name is not a string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string like_pattern(const std::string& substring) {
  std::string p = "%";
  for (char c : substring) {
    if (c == '%' || c == '_' || c == '\\') p += '\\';
    p += c;
  }
  p += '%';
  return p;
}

}  // namespace catalog_internal
}  // namespace vslide
