// Shared by the SQLite and PostgreSQL catalogs: the column list and the
// conversions between a SlideRecord and its stored text columns.
#pragma once

#include <string>
#include <vector>

#include "vslide/catalog/catalog.h"

namespace vslide::catalog_internal {

// Column order used by every SELECT of both implementations.
constexpr const char* kColumns =
    "id, name, path, host, state, header_json, channel_names, tile_count, bytes_raw, bytes_stored, "
    "start_unix_s, end_unix_s";

// Channel names as a JSON array text, and back (empty on malformed text).
std::string channel_names_to_text(const std::vector<std::string>& names);
Result<std::vector<std::string>> channel_names_from_text(const std::string& text, const std::string& id);

// True when `text` is in libpq's keyword/value form ("host=db user=u dbname=x"):
// it starts (after blanks) with a keyword, letters and '_', then '='. Such a
// string is a PostgreSQL connection string, never a file name: taken as a SQLite
// path it would create a file named after it, password and all.
bool is_libpq_keyword_form(const std::string& text);

// Escapes LIKE wildcards so that name_contains is a plain substring (escape char '\').
std::string like_pattern(const std::string& substring);

}  // namespace vslide::catalog_internal
