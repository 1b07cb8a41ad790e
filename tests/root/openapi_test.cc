#include "root/openapi.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "root/api.h"
#include "root/sqlite_store.h"
#include "support/process.h"

namespace oak::root {
namespace {

TEST(OpenApiTest, EveryRouteIsDocumented) {
  testing::TempDir dir("openapi");
  auto store = std::move(*SqliteStore::Open(dir / "root.db"));
  boost::asio::io_context io;
  boost::asio::thread_pool pool(1);
  ManualClock clock;
  TokenService tokens(std::string(64, 'k'), clock, 600, 3600);
  ClusterRegistry clusters(*store, clock, 15'000);
  GroupCommit commit(io, *store);
  Dispatcher dispatcher(io, *store, commit, clusters, clock, {});
  HttpMetrics metrics;
  RootApi api(ApiDeps{io, pool, *store, commit, tokens, clusters, dispatcher, clock, metrics, "token", 5});
  Router router;
  api.Register(router);
  EXPECT_TRUE(UndocumentedRoutes(router).empty()) << UndocumentedRoutes(router).front();
  auto doc = OpenApiDocument(router);
  EXPECT_EQ(doc["openapi"], "3.0.3");
  EXPECT_TRUE(doc["paths"].contains("/api/service/{p1}/instance/{p2}"));
  EXPECT_TRUE(doc["paths"]["/api/auth/login"].contains("post"));
  const auto& logs = doc["paths"]["/api/service/{p1}/instance/{p2}/logs"]["get"];
  ASSERT_EQ(logs["parameters"].size(), 3u) << logs.dump();
  EXPECT_EQ(logs["parameters"][2], (nlohmann::json{{"name", "max_bytes"}, {"in", "query"}, {"required", false},
                                                   {"schema", {{"type", "integer"}, {"minimum", 0}}}}));
  EXPECT_GE(doc["paths"].size(), 25u);
  pool.join();
}

}  // namespace
}  // namespace oak::root
