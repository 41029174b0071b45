// The SQLite catalog: one file, WAL mode so that readers (`vslide catalog`,
// the tile dealer) never block the manager and writers, and a busy timeout so
// that several processes writing at once wait instead of failing.
#include <sqlite3.h>

#include <filesystem>
#include <mutex>

#include "catalog_internal.h"
#include "vslide/catalog/catalog.h"

namespace vslide {
namespace {

using namespace catalog_internal;

constexpr int kBusyTimeoutMs = 10000;

class SqliteCatalog final : public Catalog {
 public:
  SqliteCatalog(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteCatalog() override { sqlite3_close_v2(db_); }

  std::string describe() const override { return "sqlite://" + path_; }

  Status init() {
    VSLIDE_RETURN_IF_ERROR(exec("PRAGMA journal_mode=WAL"));
    VSLIDE_RETURN_IF_ERROR(exec("PRAGMA synchronous=NORMAL"));
    return exec(
        "CREATE TABLE IF NOT EXISTS slides ("
        " id TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, host TEXT NOT NULL,"
        " state TEXT NOT NULL, header_json TEXT NOT NULL, channel_names TEXT NOT NULL,"
        " tile_count INTEGER NOT NULL, bytes_raw INTEGER NOT NULL, bytes_stored INTEGER NOT NULL,"
        " start_unix_s REAL NOT NULL, end_unix_s REAL NOT NULL);"
        "CREATE INDEX IF NOT EXISTS slides_name ON slides(name);"
        "CREATE INDEX IF NOT EXISTS slides_start ON slides(start_unix_s, id);");
  }

  Status add(const SlideRecord& r) override {
    std::lock_guard lock(mu_);
    auto st = write_row(
        "INSERT INTO slides (id, name, path, host, state, header_json, channel_names, tile_count,"
        " bytes_raw, bytes_stored, start_unix_s, end_unix_s) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
        r);
    if (st.code() == StatusCode::kAlreadyExists) {
      return Status::already_exists(describe() + ": slide " + r.id + " is already catalogued");
    }
    return st;
  }

  Status update(const SlideRecord& r) override {
    std::lock_guard lock(mu_);
    VSLIDE_RETURN_IF_ERROR(write_row(
        "UPDATE slides SET name=?2, path=?3, host=?4, state=?5, header_json=?6, channel_names=?7,"
        " tile_count=?8, bytes_raw=?9, bytes_stored=?10, start_unix_s=?11, end_unix_s=?12 WHERE id=?1",
        r));
    if (sqlite3_changes(db_) == 0) return Status::not_found(describe() + ": no slide " + r.id);
    return Status();
  }

  Result<SlideRecord> get(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto rows = select(std::string("SELECT ") + kColumns + " FROM slides WHERE id=?1", {id}, 0);
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return Status::not_found(describe() + ": no slide " + id);
    return std::move(rows->front());
  }

  Result<std::vector<SlideRecord>> list() override { return find(SlideQuery{}); }

  Result<std::vector<SlideRecord>> find(const SlideQuery& q) override {
    std::lock_guard lock(mu_);
    std::string sql = std::string("SELECT ") + kColumns + " FROM slides WHERE 1=1";
    std::vector<std::string> params;
    if (!q.name_contains.empty()) {
      params.push_back(like_pattern(q.name_contains));
      sql += " AND name LIKE ?" + std::to_string(params.size()) + " ESCAPE '\\'";
    }
    if (q.state) {
      params.push_back(std::string(slide_state_name(*q.state)));
      sql += " AND state=?" + std::to_string(params.size());
    }
    sql += " ORDER BY start_unix_s, id";
    return select(sql, params, q.limit);
  }

  Status remove(const std::string& id) override {
    std::lock_guard lock(mu_);
    Stmt s(db_);
    VSLIDE_RETURN_IF_ERROR(prepare(&s, "DELETE FROM slides WHERE id=?1"));
    if (sqlite3_bind_text(s.p, 1, id.c_str(), -1, SQLITE_TRANSIENT) != SQLITE_OK) return error("bind slide id");
    if (sqlite3_step(s.p) != SQLITE_DONE) return error("delete slide " + id);
    if (sqlite3_changes(db_) == 0) return Status::not_found(describe() + ": no slide " + id);
    return Status();
  }

 private:
  struct Stmt {
    explicit Stmt(sqlite3*) {}
    ~Stmt() { sqlite3_finalize(p); }
    sqlite3_stmt* p = nullptr;
  };

  Status error(const std::string& what) const {
    return Status::io_error(describe() + ": " + what + ": " + sqlite3_errmsg(db_));
  }
  Status exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      Status st = Status::io_error(describe() + ": " + (msg ? msg : "sqlite error"));
      sqlite3_free(msg);
      return st;
    }
    return Status();
  }
  Status prepare(Stmt* s, const std::string& sql) {
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s->p, nullptr) != SQLITE_OK) return error("prepare");
    return Status();
  }

  // REQUIRES: mu_ held.
  Status write_row(const char* sql, const SlideRecord& r) {
    Stmt s(db_);
    VSLIDE_RETURN_IF_ERROR(prepare(&s, sql));
    std::string state(slide_state_name(r.state));
    std::string channels = channel_names_to_text(r.channel_names);
    int bound = SQLITE_OK;
    int i = 0;
    for (const std::string* text : std::initializer_list<const std::string*>{&r.id, &r.name, &r.path, &r.host, &state,
                                                                             &r.header_json, &channels}) {
      if (bound == SQLITE_OK) bound = sqlite3_bind_text(s.p, ++i, text->c_str(), -1, SQLITE_TRANSIENT);
    }
    for (int64_t v : {int64_t(r.tile_count), int64_t(r.bytes_raw), int64_t(r.bytes_stored)}) {
      if (bound == SQLITE_OK) bound = sqlite3_bind_int64(s.p, ++i, v);
    }
    for (double v : {r.start_unix_s, r.end_unix_s}) {
      if (bound == SQLITE_OK) bound = sqlite3_bind_double(s.p, ++i, v);
    }
    if (bound != SQLITE_OK) return error("bind parameter " + std::to_string(i) + " of slide " + r.id);
    int rc = sqlite3_step(s.p);
    if (rc == SQLITE_CONSTRAINT) return Status::already_exists(r.id);
    if (rc != SQLITE_DONE) return error("write slide " + r.id);
    return Status();
  }

  // REQUIRES: mu_ held.
  Result<std::vector<SlideRecord>> select(const std::string& sql, const std::vector<std::string>& params,
                                          size_t limit) {
    Stmt s(db_);
    VSLIDE_RETURN_IF_ERROR(prepare(&s, sql));
    for (size_t i = 0; i < params.size(); ++i) {
      if (sqlite3_bind_text(s.p, int(i + 1), params[i].c_str(), -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        return error("bind query parameter " + std::to_string(i + 1));
      }
    }
    std::vector<SlideRecord> out;
    int rc;
    auto text = [&](int c) {
      const unsigned char* t = sqlite3_column_text(s.p, c);
      return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
    };
    while ((rc = sqlite3_step(s.p)) == SQLITE_ROW) {
      SlideRecord r;
      r.id = text(0);
      r.name = text(1);
      r.path = text(2);
      r.host = text(3);
      auto state = parse_slide_state(text(4));
      if (!state.ok()) return state.status().with_context(describe() + ": slide " + r.id);
      r.state = *state;
      r.header_json = text(5);
      auto names = channel_names_from_text(text(6), r.id);
      if (!names.ok()) return names.status().with_context(describe());
      r.channel_names = std::move(*names);
      r.tile_count = sqlite3_column_int64(s.p, 7);
      r.bytes_raw = sqlite3_column_int64(s.p, 8);
      r.bytes_stored = sqlite3_column_int64(s.p, 9);
      r.start_unix_s = sqlite3_column_double(s.p, 10);
      r.end_unix_s = sqlite3_column_double(s.p, 11);
      out.push_back(std::move(r));
      if (limit != 0 && out.size() >= limit) return out;
    }
    if (rc != SQLITE_DONE) return error("query");
    return out;
  }

  std::mutex mu_;  // serialises every use of db_
  sqlite3* db_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<Catalog>> open_sqlite_catalog(const std::string& path) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    return Status::io_error("catalog sqlite://" + path + ": folder " + parent.string() + " does not exist");
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Status::io_error("catalog sqlite://" + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  auto cat = std::make_unique<SqliteCatalog>(db, path);
  VSLIDE_RETURN_IF_ERROR(cat->init());
  return std::unique_ptr<Catalog>(std::move(cat));
}

}  // namespace vslide
