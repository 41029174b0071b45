// One typed suite, run against the SQLite and the PostgreSQL catalog.
#include "vslide/catalog/catalog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "common/testing.h"
#include "postgres_server.h"

namespace vslide {
namespace {

SlideRecord make_record(const std::string& id, const std::string& name, double start,
                        SlideState state = SlideState::kScanning) {
  SlideRecord r;
  r.id = id;
  r.name = name;
  r.path = "/data/" + id + ".h5";
  r.host = "slide-server-1";
  r.state = state;
  SlideHeader h;
  h.slide_id = id;
  h.name = name;
  h.attributes["well"] = "B4";
  r.header_json = nlohmann::json(h).dump();
  r.channel_names = {"DAPI", "FITC", "TRITC"};
  r.tile_count = 360;
  r.bytes_raw = 360LL * 2560 * 2160 * 2;
  r.bytes_stored = r.bytes_raw / 2 + 17;
  r.start_unix_s = start;
  r.end_unix_s = state == SlideState::kScanning ? 0 : start + 93.5;
  return r;
}

struct SqliteKind {
  static std::string url(testing::TempDir& dir, std::string*) { return "sqlite://" + dir.file("catalog.sqlite"); }
};
struct PostgresKind {
  static std::string url(testing::TempDir&, std::string* error) {
    auto* server = testing::PostgresServer::instance(error);
    if (server == nullptr) return "";
    return server->create_database(error);
  }
};

template <typename Kind>
class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    url_ = Kind::url(dir_, &error);
    // Never skip: a PostgreSQL server that cannot start is a failure.
    ASSERT_TRUE(error.empty()) << error;
    auto c = open_catalog(url_);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    catalog_ = std::move(c).value();
  }
  testing::TempDir dir_;
  std::string url_;
  std::unique_ptr<Catalog> catalog_;
};

using Kinds = ::testing::Types<SqliteKind, PostgresKind>;
class KindNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, SqliteKind> ? "Sqlite" : "Postgres";
  }
};
TYPED_TEST_SUITE(CatalogTest, Kinds, KindNames);

TYPED_TEST(CatalogTest, AddThenGetRoundTripsEveryField) {
  SlideRecord r = make_record("vs-1", "plate 3 well B4", 1000.25, SlideState::kComplete);
  ASSERT_TRUE(this->catalog_->add(r).ok());
  auto got = this->catalog_->get("vs-1");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(*got, r);
  auto header = parse_json_as<SlideHeader>(got->header_json, "header");
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->attributes.at("well"), "B4");
}

TYPED_TEST(CatalogTest, DuplicateIdIsAlreadyExists) {
  ASSERT_TRUE(this->catalog_->add(make_record("vs-1", "a", 1)).ok());
  Status st = this->catalog_->add(make_record("vs-1", "b", 2));
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st.to_string();
  EXPECT_NE(st.message().find("vs-1"), std::string::npos);
  EXPECT_EQ(this->catalog_->get("vs-1")->name, "a");
}

TYPED_TEST(CatalogTest, UnknownIdIsNotFound) {
  auto got = this->catalog_->get("vs-missing");
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_NE(got.status().message().find("vs-missing"), std::string::npos);
  EXPECT_EQ(this->catalog_->update(make_record("vs-missing", "x", 1)).code(), StatusCode::kNotFound);
  EXPECT_EQ(this->catalog_->remove("vs-missing").code(), StatusCode::kNotFound);
}

TYPED_TEST(CatalogTest, UpdateReplacesStateCountsAndEnd) {
  SlideRecord r = make_record("vs-7", "scan", 50);
  ASSERT_TRUE(this->catalog_->add(r).ok());
  r.state = SlideState::kRecovered;
  r.tile_count = 12;
  r.bytes_stored = 999;
  r.end_unix_s = 75.5;
  r.path = "/elsewhere/vs-7.h5";
  ASSERT_TRUE(this->catalog_->update(r).ok());
  EXPECT_EQ(*this->catalog_->get("vs-7"), r);
}

TYPED_TEST(CatalogTest, ListIsOrderedByStartTime) {
  ASSERT_TRUE(this->catalog_->add(make_record("vs-b", "second", 20)).ok());
  ASSERT_TRUE(this->catalog_->add(make_record("vs-c", "third", 30)).ok());
  ASSERT_TRUE(this->catalog_->add(make_record("vs-a", "first", 10)).ok());
  auto all = this->catalog_->list();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, "vs-a");
  EXPECT_EQ((*all)[1].id, "vs-b");
  EXPECT_EQ((*all)[2].id, "vs-c");
}

TYPED_TEST(CatalogTest, FindByNameAndState) {
  ASSERT_TRUE(this->catalog_->add(make_record("vs-1", "plate 3 well B4", 1, SlideState::kComplete)).ok());
  ASSERT_TRUE(this->catalog_->add(make_record("vs-2", "plate 3 well B5", 2, SlideState::kFailed)).ok());
  ASSERT_TRUE(this->catalog_->add(make_record("vs-3", "plate 4 well B4", 3, SlideState::kComplete)).ok());
  ASSERT_TRUE(this->catalog_->add(make_record("vs-4", "100%_done", 4, SlideState::kRecovered)).ok());

  auto by_name = this->catalog_->find(SlideQuery{"plate 3", std::nullopt, 0});
  ASSERT_TRUE(by_name.ok());
  ASSERT_EQ(by_name->size(), 2u);
  EXPECT_EQ((*by_name)[0].id, "vs-1");
  EXPECT_EQ((*by_name)[1].id, "vs-2");

  auto both = this->catalog_->find(SlideQuery{"well B4", SlideState::kComplete, 0});
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[1].id, "vs-3");

  auto failed = this->catalog_->find(SlideQuery{"", SlideState::kFailed, 0});
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].id, "vs-2");

  // LIKE wildcards in the text are plain characters.
  auto literal = this->catalog_->find(SlideQuery{"0%_", std::nullopt, 0});
  ASSERT_EQ(literal->size(), 1u);
  EXPECT_EQ((*literal)[0].id, "vs-4");
  EXPECT_EQ(this->catalog_->find(SlideQuery{"_", std::nullopt, 0})->size(), 1u);

  auto limited = this->catalog_->find(SlideQuery{"", std::nullopt, 3});
  EXPECT_EQ(limited->size(), 3u);
  EXPECT_TRUE(this->catalog_->find(SlideQuery{"no such slide", std::nullopt, 0})->empty());
}

TYPED_TEST(CatalogTest, RemoveDeletes) {
  ASSERT_TRUE(this->catalog_->add(make_record("vs-1", "a", 1)).ok());
  ASSERT_TRUE(this->catalog_->remove("vs-1").ok());
  EXPECT_EQ(this->catalog_->get("vs-1").status().code(), StatusCode::kNotFound);
}

TYPED_TEST(CatalogTest, SecondConnectionSeesWritesAndManyThreadsAdd) {
  auto other = open_catalog(this->url_);
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Catalog* c = (t % 2 == 0) ? this->catalog_.get() : other->get();
      for (int i = 0; i < 10; ++i) {
        std::string id = "vs-" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(c->add(make_record(id, "threaded", t * 100 + i)).ok()) << id;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(this->catalog_->list()->size(), 40u);
  EXPECT_EQ((*other)->list()->size(), 40u);
}

TEST(OpenCatalog, RejectsUnknownSchemeAndMissingFolder) {
  auto bad = open_catalog("mysql://host/db");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("mysql://host/db"), std::string::npos);
  auto missing = open_catalog("sqlite:///no/such/folder/catalog.sqlite");
  EXPECT_EQ(missing.status().code(), StatusCode::kIOError);
  EXPECT_NE(missing.status().message().find("/no/such/folder"), std::string::npos);
  EXPECT_EQ(open_catalog("").status().code(), StatusCode::kInvalidArgument);
}

TEST(OpenCatalog, UnreachablePostgresIsUnavailable) {
  auto c = open_catalog("postgresql:///nodb?host=/nonexistent-socket-dir&port=1&connect_timeout=2");
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable) << c.status().to_string();
}

// Audit of issue 16: a libpq keyword/value string ("host=db user=u password=...")
// was taken as a SQLite path, and a file named after it, password and all, was
// created in the working folder by the manager and by `vslide catalog`.
class InFreshFolder {
 public:
  InFreshFolder() : old_(std::filesystem::current_path()) { std::filesystem::current_path(dir_.path()); }
  ~InFreshFolder() { std::filesystem::current_path(old_); }
  bool empty() const { return std::filesystem::is_empty(dir_.path()); }
  const testing::TempDir& dir() const { return dir_; }

 private:
  testing::TempDir dir_;
  std::filesystem::path old_;
};

TEST(OpenCatalog, KeywordValueConnectionStringIsPostgresNeverAFile) {
  std::string error;
  auto* server = testing::PostgresServer::instance(&error);
  ASSERT_NE(server, nullptr) << error;
  // The fixture's postgresql:///NAME?host=DIR&port=P&user=postgres, rewritten as key=value.
  const std::string url = server->create_database(&error);
  ASSERT_TRUE(error.empty()) << error;
  const size_t query = url.find('?');
  std::string params = url.substr(query + 1);
  std::replace(params.begin(), params.end(), '&', ' ');
  const std::string conninfo = "dbname=" + url.substr(14, query - 14) + " " + params + " password=s3cret-kv";

  InFreshFolder cwd;
  auto c = open_catalog(conninfo);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ((*c)->describe().find("s3cret"), std::string::npos) << (*c)->describe();
  EXPECT_EQ((*c)->describe().rfind("postgresql://postgres@", 0), 0u) << (*c)->describe();
  ASSERT_TRUE((*c)->add(make_record("vs-kv", "keyword form", 1)).ok());
  auto same = open_catalog(url);  // the same database through its URL
  ASSERT_TRUE(same.ok()) << same.status().to_string();
  EXPECT_TRUE((*same)->get("vs-kv").ok());

  // `vslide catalog` takes it the same way and prints no password.
  auto r = testing::run_command(testing::vslide_binary() + " catalog list --catalog '" + conninfo + "' 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("vs-kv"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("s3cret"), std::string::npos) << r.output;
  EXPECT_TRUE(cwd.empty()) << "a file was created in the working folder";
}

TEST(OpenCatalog, KeywordValueStringsThatFailAreNeverAFileNorShown) {
  InFreshFolder cwd;
  // Unreachable server: Unavailable, the password not in the message.
  auto down = open_catalog("hostaddr=127.0.0.1 port=1 user=u password=s3cret dbname=x connect_timeout=2");
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().to_string();
  EXPECT_EQ(down.status().message().find("s3cret"), std::string::npos) << down.status().to_string();
  // Not libpq's (a misspelt keyword; a value with a blank, unquoted): refused unread.
  for (const std::string bad : {"hots=db user=u password=s3cret dbname=x", "host=db password=s3 cret dbname=x"}) {
    auto c = open_catalog(bad);
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << bad << ": " << c.status().to_string();
    EXPECT_NE(c.status().message().find("postgresql://"), std::string::npos) << c.status().to_string();
    EXPECT_EQ(c.status().message().find("s3"), std::string::npos) << c.status().to_string();
    EXPECT_EQ(c.status().message().find("cret"), std::string::npos) << c.status().to_string();
  }
  EXPECT_TRUE(cwd.empty()) << "a file was created in the working folder";
  // A file name holding '=' is still a SQLite file when it says so, or when it is not KEYWORD=.
  EXPECT_TRUE(open_catalog("sqlite://a=b.sqlite").ok());
  EXPECT_TRUE(open_catalog("./c=d.sqlite").ok());
  EXPECT_TRUE(std::filesystem::exists(cwd.dir().file("a=b.sqlite")));
  EXPECT_TRUE(std::filesystem::exists(cwd.dir().file("c=d.sqlite")));
}

TEST(OpenCatalog, BarePathMeansSqliteAndRecordToJson) {
  testing::TempDir dir;
  auto c = open_catalog(dir.file("c.sqlite"));
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  SlideRecord r = make_record("vs-9", "json", 5, SlideState::kComplete);
  ASSERT_TRUE((*c)->add(r).ok());
  auto j = slide_record_to_json(*(*c)->get("vs-9"));
  EXPECT_EQ(j["state"], "complete");
  EXPECT_EQ(j["header"]["attributes"]["well"], "B4");
  EXPECT_EQ(j["channels"].size(), 3u);
  EXPECT_EQ(j["tile_count"], 360);
}

}  // namespace
}  // namespace vslide
