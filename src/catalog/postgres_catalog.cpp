// The PostgreSQL catalog, through libpqxx: for a facility where several slide
// servers and viewers share one slide database.
#include <libpq-fe.h>
#include <pqxx/pqxx>

#include <algorithm>
#include <mutex>

#include "catalog_internal.h"
#include "vslide/catalog/catalog.h"

namespace vslide {

std::string redact_catalog_url(const std::string& url) {
  const bool pg = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  // A path or sqlite:// URL (even one whose name holds '='): nothing secret.
  if (!pg && !catalog_internal::is_libpq_keyword_form(url)) return url;
  std::string text = url;
  if (pg) {
    // user:PASSWORD@host: the password may hold an unescaped '@' (libpq would then
    // read its tail as the host), so the user part ends at the *last* '@' before
    // the query, and everything after the first ':' in it goes.
    const size_t start = text.find("://") + 3;
    const size_t query = text.find('?', start);
    const size_t at = text.rfind('@', query == std::string::npos ? std::string::npos : query);
    if (at != std::string::npos && at >= start) {
      const size_t colon = text.find(':', start);
      if (colon != std::string::npos && colon < at) text = text.substr(0, colon) + text.substr(at);
    }
  }
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(text.c_str(), &error);
  if (options == nullptr) {
    if (error != nullptr) PQfreemem(error);
    return "postgresql://(unparseable URL)";
  }
  std::string user, host, port, dbname, query;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string key = o->keyword, val = o->val;
    if (key == "password") continue;
    if (key == "user") user = val;
    else if (key == "host" && val.find('/') == std::string::npos) host = val;
    else if (key == "port") port = val;
    else if (key == "dbname") dbname = val;
    else query += (query.empty() ? "?" : "&") + key + "=" + val;
  }
  PQconninfoFree(options);
  return "postgresql://" + (user.empty() ? "" : user + "@") + host + (port.empty() ? "" : ":" + port) + "/" +
         dbname + query;
}

namespace {

using namespace catalog_internal;

std::string without_password(const std::string& url) { return redact_catalog_url(url); }

class PostgresCatalog final : public Catalog {
 public:
  PostgresCatalog(std::unique_ptr<pqxx::connection> conn, std::string url)
      : conn_(std::move(conn)), url_(without_password(url)) {}

  std::string describe() const override { return url_; }

  Status init() {
    return run("create schema", [&](pqxx::work& w) {
      w.exec(
          "CREATE TABLE IF NOT EXISTS slides ("
          " id TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, host TEXT NOT NULL,"
          " state TEXT NOT NULL, header_json TEXT NOT NULL, channel_names TEXT NOT NULL,"
          " tile_count BIGINT NOT NULL, bytes_raw BIGINT NOT NULL, bytes_stored BIGINT NOT NULL,"
          " start_unix_s DOUBLE PRECISION NOT NULL, end_unix_s DOUBLE PRECISION NOT NULL)");
      w.exec("CREATE INDEX IF NOT EXISTS slides_name ON slides(name)");
      w.exec("CREATE INDEX IF NOT EXISTS slides_start ON slides(start_unix_s, id)");
      return Status();
    });
  }

  Status add(const SlideRecord& r) override {
    return run("add slide " + r.id, [&](pqxx::work& w) {
      try {
        w.exec_params(
            "INSERT INTO slides (id, name, path, host, state, header_json, channel_names, tile_count,"
            " bytes_raw, bytes_stored, start_unix_s, end_unix_s)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
            r.id, r.name, r.path, r.host, std::string(slide_state_name(r.state)), r.header_json,
            channel_names_to_text(r.channel_names), r.tile_count, r.bytes_raw, r.bytes_stored, r.start_unix_s,
            r.end_unix_s);
      } catch (const pqxx::unique_violation&) {
        return Status::already_exists(describe() + ": slide " + r.id + " is already catalogued");
      }
      return Status();
    });
  }

  Status update(const SlideRecord& r) override {
    return run("update slide " + r.id, [&](pqxx::work& w) {
      auto res = w.exec_params(
          "UPDATE slides SET name=$2, path=$3, host=$4, state=$5, header_json=$6, channel_names=$7,"
          " tile_count=$8, bytes_raw=$9, bytes_stored=$10, start_unix_s=$11, end_unix_s=$12 WHERE id=$1",
          r.id, r.name, r.path, r.host, std::string(slide_state_name(r.state)), r.header_json,
          channel_names_to_text(r.channel_names), r.tile_count, r.bytes_raw, r.bytes_stored, r.start_unix_s,
          r.end_unix_s);
      if (res.affected_rows() == 0) return Status::not_found(describe() + ": no slide " + r.id);
      return Status();
    });
  }

  Result<SlideRecord> get(const std::string& id) override {
    std::vector<SlideRecord> rows;
    VSLIDE_RETURN_IF_ERROR(run("get slide " + id, [&](pqxx::work& w) {
      return to_records(w.exec_params(std::string("SELECT ") + kColumns + " FROM slides WHERE id=$1", id),
                        &rows);
    }));
    if (rows.empty()) return Status::not_found(describe() + ": no slide " + id);
    return std::move(rows.front());
  }

  Result<std::vector<SlideRecord>> list() override { return find(SlideQuery{}); }

  Result<std::vector<SlideRecord>> find(const SlideQuery& q) override {
    std::vector<SlideRecord> rows;
    std::string state = q.state ? std::string(slide_state_name(*q.state)) : std::string();
    std::string pattern = q.name_contains.empty() ? std::string() : like_pattern(q.name_contains);
    int64_t limit = q.limit == 0 ? INT64_MAX : int64_t(q.limit);
    VSLIDE_RETURN_IF_ERROR(run("find slides", [&](pqxx::work& w) {
      return to_records(w.exec_params(std::string("SELECT ") + kColumns +
                                           " FROM slides WHERE ($1 = '' OR name LIKE $1 ESCAPE '\\')"
                                           " AND ($2 = '' OR state = $2) ORDER BY start_unix_s, id LIMIT $3",
                                       pattern, state, limit),
                        &rows);
    }));
    return rows;
  }

  Status remove(const std::string& id) override {
    return run("remove slide " + id, [&](pqxx::work& w) {
      auto res = w.exec_params("DELETE FROM slides WHERE id=$1", id);
      if (res.affected_rows() == 0) return Status::not_found(describe() + ": no slide " + id);
      return Status();
    });
  }

 private:
  // Runs `body` in one transaction, committing when it returns OK; libpqxx
  // exceptions become IOError naming the catalog and the operation.
  template <typename Body>
  Status run(const std::string& what, Body&& body) {
    std::lock_guard lock(mu_);
    try {
      pqxx::work w(*conn_);
      Status st = body(w);
      if (st.ok()) w.commit();
      return st;
    } catch (const pqxx::broken_connection& e) {
      return Status::unavailable(describe() + ": " + what + ": " + e.what());
    } catch (const std::exception& e) {
      return Status::io_error(describe() + ": " + what + ": " + e.what());
    }
  }

  Status to_records(const pqxx::result& res, std::vector<SlideRecord>* out) {
    for (const auto& row : res) {
      SlideRecord r;
      r.id = row[0].as<std::string>();
      r.name = row[1].as<std::string>();
      r.path = row[2].as<std::string>();
      r.host = row[3].as<std::string>();
      auto state = parse_slide_state(row[4].as<std::string>());
      if (!state.ok()) return state.status().with_context(describe() + ": slide " + r.id);
      r.state = *state;
      r.header_json = row[5].as<std::string>();
      auto names = channel_names_from_text(row[6].as<std::string>(), r.id);
      if (!names.ok()) return names.status().with_context(describe());
      r.channel_names = std::move(*names);
      r.tile_count = row[7].as<int64_t>();
      r.bytes_raw = row[8].as<int64_t>();
      r.bytes_stored = row[9].as<int64_t>();
      r.start_unix_s = row[10].as<double>();
      r.end_unix_s = row[11].as<double>();
      out->push_back(std::move(r));
    }
    return Status();
  }

  std::mutex mu_;  // serialises every use of conn_
  std::unique_ptr<pqxx::connection> conn_;
  std::string url_;
};

}  // namespace

Result<std::unique_ptr<Catalog>> open_postgres_catalog(const std::string& url) {
  // libpq ends user:password at the first '@', so an unescaped '@' in a password
  // would send the password's tail to the resolver as a host name and print it in
  // libpq's error ("could not translate host name "ss@db""): refuse it unread.
  if (const size_t start = url.find("://"); start != std::string::npos) {
    const std::string authority = url.substr(start + 3, url.find_first_of("/?", start + 3) - (start + 3));
    if (std::count(authority.begin(), authority.end(), '@') > 1) {
      return Status::invalid_argument("catalog " + without_password(url) +
                                      ": more than one '@' before the host; write an '@' in the user name or "
                                      "password as %40");
    }
  }
  if (catalog_internal::is_libpq_keyword_form(url)) {
    // libpq's own parse error may quote a fragment of the string, a password's
    // tail included, so it is not shown; the string itself neither.
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
    if (error != nullptr) PQfreemem(error);
    if (options == nullptr) {
      return Status::invalid_argument(
          "catalog (a key=value connection string, not shown: it may hold a password): libpq cannot parse it; "
          "write a postgresql://user@host:port/db URL, or sqlite://PATH for a SQLite file whose name holds '='");
    }
    PQconninfoFree(options);
  }
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    return Status::unavailable("catalog " + without_password(url) + ": cannot connect: " + e.what());
  }
  auto cat = std::make_unique<PostgresCatalog>(std::move(conn), url);
  VSLIDE_RETURN_IF_ERROR(cat->init());
  return std::unique_ptr<Catalog>(std::move(cat));
}

}  // namespace vslide
