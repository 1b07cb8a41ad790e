#include "common/router.h"

#include <gtest/gtest.h>

namespace oak {
namespace {

HttpResponse Tag(const char* t) { return HttpResponse::Text(200, t); }

struct RouterTest : ::testing::Test {
  RouterTest() {
    r.Add(http::verb::get, "/api/service/{}", [](HttpRequest&) { return Tag("get-service"); });
    r.Add(http::verb::delete_, "/api/service/{}", [](HttpRequest&) { return Tag("delete-service"); });
    r.Add(http::verb::post, "/api/service/{}/instance", [](HttpRequest&) { return Tag("deploy"); });
    r.Add(http::verb::get, "/api/clusters/active", [](HttpRequest&) { return Tag("active"); });
    r.Add(http::verb::post, "/api/application/", [](HttpRequest&) { return Tag("create-app"); });
  }
  Router::Match Find(http::verb m, std::string path) {
    req.method = m;
    req.path = std::move(path);
    return r.Find(req);
  }
  Router r;
  HttpRequest req;
};

TEST_F(RouterTest, MatchesPlaceholdersAndDecodesThem) {
  auto m = Find(http::verb::get, "/api/service/abc%20def");
  ASSERT_EQ(m.kind, Router::Match::kFound);
  EXPECT_EQ(*m.pattern, "/api/service/{}");
  ASSERT_EQ(req.params.size(), 1u);
  EXPECT_EQ(req.params[0], "abc def");
}

TEST_F(RouterTest, TrailingSlashIsOptionalOnBothSides) {
  EXPECT_EQ(Find(http::verb::post, "/api/application").kind, Router::Match::kFound);
  EXPECT_EQ(Find(http::verb::post, "/api/application/").kind, Router::Match::kFound);
  EXPECT_EQ(Find(http::verb::get, "/api/service/x/").kind, Router::Match::kFound);
}

TEST_F(RouterTest, WrongMethodListsAllowedMethods) {
  auto m = Find(http::verb::put, "/api/service/x");
  EXPECT_EQ(m.kind, Router::Match::kMethodNotAllowed);
  EXPECT_NE(m.allowed.find("GET"), std::string::npos);
  EXPECT_NE(m.allowed.find("DELETE"), std::string::npos);
}

TEST_F(RouterTest, UnknownPathsAndDepthsAreNotFound) {
  EXPECT_EQ(Find(http::verb::get, "/api/service").kind, Router::Match::kNotFound);
  EXPECT_EQ(Find(http::verb::get, "/api/service/x/y/z").kind, Router::Match::kNotFound);
  EXPECT_EQ(Find(http::verb::get, "/").kind, Router::Match::kNotFound);
  EXPECT_EQ(Find(http::verb::get, "/api/clusters/other").kind, Router::Match::kNotFound);
}

TEST_F(RouterTest, LiteralSegmentsDoNotMatchPlaceholdersOfOtherRoutes) {
  auto m = Find(http::verb::post, "/api/service/abc/instance");
  ASSERT_EQ(m.kind, Router::Match::kFound);
  EXPECT_EQ(*m.pattern, "/api/service/{}/instance");
  EXPECT_EQ(req.params, std::vector<std::string>{"abc"});
}

TEST(SplitPathTest, CollapsesRepeatedSlashes) {
  EXPECT_EQ(SplitPath("//a///b/"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_TRUE(SplitPath("/").empty());
}

TEST(HttpRequestTest, BearerTokenIsCaseInsensitiveAndTrimmed) {
  RawRequest raw;
  raw.set(http::field::authorization, "bearer   abc.def  ");
  HttpRequest req;
  req.raw = &raw;
  EXPECT_EQ(req.BearerToken(), "abc.def");
  raw.set(http::field::authorization, "Basic abc");
  EXPECT_EQ(req.BearerToken(), "");
  raw.set(http::field::authorization, "Bearer ");
  EXPECT_EQ(req.BearerToken(), "");
}

TEST(HttpRequestTest, QueryParametersAreDecoded) {
  RawRequest raw;
  HttpRequest req;
  req.raw = &raw;
  req.query = "a=1&name=x%20y&flag";
  EXPECT_EQ(req.QueryParam("name"), "x y");
  EXPECT_EQ(req.QueryParam("a"), "1");
  EXPECT_EQ(req.QueryParam("missing"), "");
}

TEST(ParseJsonBodyTest, NamesThePositionOfASyntaxError) {
  auto r = ParseJsonBody("{\"a\": tru}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find("malformed JSON at byte"), std::string::npos);
  EXPECT_FALSE(ParseJsonBody("").ok());
  EXPECT_TRUE(ParseJsonBody("[1,2]").ok());
}

TEST(HttpResponseTest, StatusMapsToCodeAndMessage) {
  auto res = HttpResponse::FromStatus(Status::Conflict("name: taken"));
  EXPECT_EQ(res.status, 409u);
  EXPECT_EQ(nlohmann::json::parse(res.body)["message"], "name: taken");
  EXPECT_EQ(HttpCodeFor(Code::kTooLarge), 413u);
  EXPECT_EQ(HttpCodeFor(Code::kUnavailable), 503u);
}

}  // namespace
}  // namespace oak
