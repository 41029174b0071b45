// Issue 16, found by fuzz_acquire_protocol: a reply whose "type", "code" or
// "error" is not a string made status_from_reply throw (and a scanner die on
// std::terminate). A hostile or broken peer's reply is now an error or OK.
#include <gtest/gtest.h>

#include "vslide/acquire/protocol.h"

namespace vslide {
namespace {

TEST(HostileReply, MembersOfTheWrongTypeAreReadAsAbsent) {
  using nlohmann::json;
  EXPECT_TRUE(acquire::status_from_reply(json::parse(R"({"type":{"header":1}})")).ok());
  EXPECT_EQ(acquire::status_from_reply(json::parse(R"({"type":"error","code":7,"error":[1]})")).code(),
            StatusCode::kInternal);
  Status s = acquire::status_from_reply(json::parse(R"({"type":"error","code":"NotFound","error":"gone"})"));
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "gone");
}

}  // namespace
}  // namespace vslide
