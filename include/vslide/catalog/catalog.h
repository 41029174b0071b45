// The slide catalog (the paper's "slide database"): one record per slide,
// saying what it is, where its file lives and how far its scan got.
//
// Start here: open_catalog(url) picks the implementation from the URL.
//   sqlite:///abs/path/catalog.sqlite   an embedded SQLite file (the default;
//                                       nothing to start; created on first use)
//   sqlite://relative/catalog.sqlite    a path relative to the working folder
//   /some/path.sqlite                   a bare path means SQLite too (write
//                                       sqlite://a=b.sqlite for a name that
//                                       starts with letters and '=')
//   postgresql://user@host:port/db      a PostgreSQL server, through libpqxx;
//   postgresql:///db?host=/sock/dir&port=N  (any libpq connection URI)
//   host=db user=u dbname=x ...         libpq's keyword/value form: PostgreSQL
//                                       too (a bare string that starts with
//                                       KEYWORD=); never a file name. One that
//                                       libpq cannot parse is InvalidArgument.
// The schema (table `slides`) is created if absent, so both kinds need no
// set-up beyond a reachable server for PostgreSQL.
//
// Users: the acquisition part (the manager adds a record when a scan begins,
// the slide writer updates it as the scan ends), the tile dealer (looks a
// slide up by id to find its file), and `vslide catalog`.
//
// Ownership and thread-safety: a Catalog object owns its connection. Every
// method is safe to call from many threads at once (calls are serialised on
// one connection inside the object). Several processes may open the same
// catalog at once: SQLite runs in WAL mode with a busy timeout; PostgreSQL
// gives each process its own connection.
//
// Failure modes: add() returns AlreadyExists for a duplicate id; get() and
// update() return NotFound for an unknown id; open_catalog returns
// InvalidArgument for an unknown URL scheme, Unavailable when the server
// cannot be reached, IOError when the file cannot be opened or created.
// Messages name the catalog (its URL, without a password) and the slide id.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vslide/core/slide_header.h"
#include "vslide/core/status.h"

namespace vslide {

// One slide as the catalog knows it.
struct SlideRecord {
  std::string id;                          // SlideHeader::slide_id; unique
  std::string name;                        // SlideHeader::name
  std::string path;                        // absolute path of the HDF5 file on `host`
  std::string host;                        // host name of the slide server holding the file
  SlideState state = SlideState::kScanning;
  std::string header_json;                 // the SlideHeader as JSON text (to_json)
  std::vector<std::string> channel_names;  // in channel order
  int64_t tile_count = 0;                  // planes stored (level 0)
  int64_t bytes_raw = 0;                   // tile_count * plane bytes
  int64_t bytes_stored = 0;                // sum of stored (compressed) chunk sizes
  double start_unix_s = 0;                 // scan start, seconds since the epoch
  double end_unix_s = 0;                   // scan end; 0 while scanning

  bool operator==(const SlideRecord&) const = default;
};

// The record as a JSON object (for --json output and the wire):
// {"id","name","path","host","state","header","channels","tile_count",
//  "bytes_raw","bytes_stored","start_unix_s","end_unix_s"}; "header" is the
// parsed header object (or null when header_json is empty).
nlohmann::json slide_record_to_json(const SlideRecord& r);

// A search: every set criterion must hold.
struct SlideQuery {
  std::string name_contains;          // case-sensitive substring of the name; empty = any
  std::optional<SlideState> state;    // only slides in this state
  size_t limit = 0;                   // at most this many records; 0 = all
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  // The URL it was opened with, password removed, for messages.
  virtual std::string describe() const = 0;

  // Inserts a new record. AlreadyExists when the id is taken.
  virtual Status add(const SlideRecord& record) = 0;
  // Replaces every field of the record with this id. NotFound when absent.
  virtual Status update(const SlideRecord& record) = 0;
  // The record with this id. NotFound when absent.
  virtual Result<SlideRecord> get(const std::string& id) = 0;
  // Every record, oldest scan first (by start time, then id).
  virtual Result<std::vector<SlideRecord>> list() = 0;
  // Records matching the query, oldest scan first.
  virtual Result<std::vector<SlideRecord>> find(const SlideQuery& query) = 0;
  // Deletes the record. NotFound when absent.
  virtual Status remove(const std::string& id) = 0;
};

// Opens (and creates the schema of) the catalog named by `url`; see the top
// of this file for the accepted forms.
Result<std::unique_ptr<Catalog>> open_catalog(const std::string& url);

// Direct constructors, for callers that already know the kind.
Result<std::unique_ptr<Catalog>> open_sqlite_catalog(const std::string& path);
Result<std::unique_ptr<Catalog>> open_postgres_catalog(const std::string& url);

// A catalog URL fit to print or log: a postgresql:// URL (or key=value
// conninfo) is parsed by libpq (PQconninfoParse) and rebuilt without its
// password, wherever it was (user:PASS@, ?password=, a password holding '@');
// other URLs are returned as they are; an unparseable one as a placeholder.
std::string redact_catalog_url(const std::string& url);

}  // namespace vslide
