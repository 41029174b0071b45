// vslide catalog: what the slide database knows (list | show ID | find).
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "args.h"
#include "command.h"
#include "vslide/catalog/catalog.h"

namespace vslide::cli {
namespace {

std::string when(double unix_s) {
  if (unix_s <= 0) return "-";
  std::time_t t = std::time_t(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void print_table(const std::vector<SlideRecord>& rows) {
  std::printf("%-28s %-10s %7s %10s %10s  %-19s  %s\n", "ID", "STATE", "PLANES", "RAW MB", "STORED MB", "STARTED (UTC)",
              "NAME");
  for (const auto& r : rows) {
    std::printf("%-28s %-10s %7lld %10.1f %10.1f  %-19s  %s\n", r.id.c_str(),
                std::string(slide_state_name(r.state)).c_str(), (long long)r.tile_count, double(r.bytes_raw) / 1e6,
                double(r.bytes_stored) / 1e6, when(r.start_unix_s).c_str(), r.name.c_str());
  }
}

int run_catalog(int argc, char** argv) {
  std::string action, arg, url, data_dir, name, state_s;
  bool json_out = false;
  int limit = 0;
  ArgParser p("vslide catalog list | show ID | find --name TEXT [--state STATE] [--json] [--catalog URL]",
              "Lists and searches the slide catalog (the slide database). The catalog is --catalog URL,\n"
              "else DATA/catalog.sqlite for --data-dir DATA, else $VSLIDE_CATALOG.");
  p.positional("ACTION", "list, show or find", &action);
  p.positional("ID", "show: the slide id", &arg, /*required=*/false);
  p.option("--catalog", "URL", "sqlite:///path/catalog.sqlite, postgresql://... or 'host=H dbname=D ...'", &url);
  p.option("--data-dir", "DIR", "the manager's data folder (its catalog.sqlite)", &data_dir);
  p.option("--name", "TEXT", "find: slides whose name contains TEXT", &name);
  p.option("--state", "STATE", "find/list: scanning, complete, failed or recovered", &state_s);
  p.option("--limit", "N", "at most N slides", &limit);
  p.flag("--json", "machine-readable output", &json_out);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (url.empty() && !data_dir.empty()) url = "sqlite://" + data_dir + "/catalog.sqlite";
  if (url.empty()) {
    if (const char* env = std::getenv("VSLIDE_CATALOG")) url = env;
  }
  if (url.empty()) return p.usage_error("no catalog: pass --catalog URL or --data-dir DIR (or set VSLIDE_CATALOG)");
  SlideQuery q;
  q.name_contains = name;
  q.limit = limit > 0 ? size_t(limit) : 0;
  if (!state_s.empty()) {
    auto st = parse_slide_state(state_s);
    if (!st.ok()) return p.usage_error(st.status().message());
    q.state = *st;
  }
  if (action == "show" && arg.empty()) return p.usage_error("show needs a slide ID");
  if (action == "find" && name.empty() && !q.state) return p.usage_error("find needs --name and/or --state");
  if (action != "list" && action != "show" && action != "find") {
    return p.usage_error("unknown action '" + action + "' (list, show, find)");
  }

  auto catalog = open_catalog(url);
  if (!catalog.ok()) {
    std::cerr << "vslide catalog: " << catalog.status().to_string() << "\n";
    return 1;
  }
  if (action == "show") {
    auto r = (*catalog)->get(arg);
    if (!r.ok()) {
      std::cerr << "vslide catalog: " << r.status().to_string() << "\n";
      return 1;
    }
    nlohmann::json j = slide_record_to_json(*r);
    if (json_out) {
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    std::printf("id        %s\nname      %s\nstate     %s\npath      %s\nhost      %s\nchannels  %s\n"
                "planes    %lld\nraw       %.1f MB\nstored    %.1f MB (ratio %.2f)\nstarted   %s UTC\n"
                "ended     %s UTC\nheader    %s\n",
                r->id.c_str(), r->name.c_str(), std::string(slide_state_name(r->state)).c_str(), r->path.c_str(),
                r->host.c_str(), j["channels"].dump().c_str(), (long long)r->tile_count, double(r->bytes_raw) / 1e6,
                double(r->bytes_stored) / 1e6, r->bytes_stored > 0 ? double(r->bytes_raw) / double(r->bytes_stored) : 0.0,
                when(r->start_unix_s).c_str(), when(r->end_unix_s).c_str(), j["header"].dump().c_str());
    return 0;
  }
  auto rows = (*catalog)->find(q);
  if (!rows.ok()) {
    std::cerr << "vslide catalog: " << rows.status().to_string() << "\n";
    return 1;
  }
  if (json_out) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : *rows) arr.push_back(slide_record_to_json(r));
    std::cout << arr.dump(2) << "\n";
  } else {
    print_table(*rows);
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("catalog", "the slide catalog: list | show ID | find --name TEXT [--state S]",
               vslide::cli::run_catalog);
