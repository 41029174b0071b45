// Issue 16: catalog URLs are printed and logged without their password.
#include <gtest/gtest.h>

#include "vslide/catalog/catalog.h"

namespace vslide {
namespace {

TEST(RedactCatalogUrl, NoPasswordSurvivesWhereverItWas) {
  for (const std::string url : {"postgresql://alice:s3cret@db.example:5433/slides",
                                "postgresql://alice:p@ss@w0rd@db.example/slides",  // '@' in the password
                                "postgresql://alice@db.example/slides?password=s3cret&sslmode=require",
                                "postgres://alice:s3cret@db.example/slides",
                                "host=db.example user=alice password=s3cret dbname=slides"}) {
    const std::string shown = redact_catalog_url(url);
    EXPECT_EQ(shown.find("s3cret"), std::string::npos) << url << " -> " << shown;
    EXPECT_EQ(shown.find("w0rd"), std::string::npos) << url << " -> " << shown;
    EXPECT_NE(shown.find("alice"), std::string::npos) << url << " -> " << shown;
  }
  EXPECT_EQ(redact_catalog_url("postgresql://alice:s3cret@db.example:5433/slides"),
            "postgresql://alice@db.example:5433/slides");
  EXPECT_NE(redact_catalog_url("postgresql://alice@h/db?password=x&sslmode=require").find("sslmode=require"),
            std::string::npos);
  EXPECT_EQ(redact_catalog_url("sqlite:///data/catalog.sqlite"), "sqlite:///data/catalog.sqlite");
  // Audit of issue 16: any '=' made a SQLite URL "postgresql://(unparseable URL)".
  EXPECT_EQ(redact_catalog_url("sqlite:///data/run=3/catalog.sqlite"), "sqlite:///data/run=3/catalog.sqlite");
  EXPECT_EQ(redact_catalog_url("./run=3.sqlite"), "./run=3.sqlite");
}

TEST(RedactCatalogUrl, AnUnescapedAtInThePasswordIsRefusedBeforeLibpqSeesIt) {
  // Found auditing issue 16 on 1d55ca3: libpq read "p@ss" as password "p" and
  // host "ss@127.0.0.1", and its error printed that host, the password's tail.
  auto c = open_catalog("postgresql://alice:p@ssw0rd@127.0.0.1:1/slides");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().to_string();
  EXPECT_EQ(c.status().message().find("ssw0rd"), std::string::npos) << c.status().to_string();
  EXPECT_NE(c.status().message().find("%40"), std::string::npos) << c.status().to_string();
}

}  // namespace
}  // namespace vslide
