// HTTP-level behaviour: 404/405, CORS preflights, slow clients, /metrics and /api/docs.
#include "common/fs.h"
#include "integration/helpers.h"

namespace oak::it {
namespace {

std::string HostOf(const RootProcess& root) { return root.url().substr(std::string("http://").size()); }

// The root runs with glibc's allocator tuned (common/malloc_tuning.h): the same process (the PID
// the test started) executed itself once more with the setting in its environment.
TEST(Robustness, TheRootRunsWithTheAllocatorTuned) {
  TestRoot t("rob-malloc");
  EXPECT_EQ(t->Admin().Get("/api/applications").status, 200u);
  EXPECT_NE(oak::testing::EnvironOf(t->pid(), "GLIBC_TUNABLES").find("glibc.malloc.tcache_count=256"), std::string::npos)
      << "GLIBC_TUNABLES=" << oak::testing::EnvironOf(t->pid(), "GLIBC_TUNABLES");
  auto comm = ReadFile("/proc/" + std::to_string(t->pid()) + "/comm");
  ASSERT_TRUE(comm.ok());
  EXPECT_EQ(*comm, "oak\n") << "the process keeps its name";
}

TEST(Robustness, UnknownRouteAndWrongMethod) {
  TestRoot t("rob-routes");
  ApiClient admin = t->Admin();
  auto r = admin.Get("/api/no/such/route");
  EXPECT_EQ(r.status, 404u);
  EXPECT_FALSE(r.message().empty()) << r.body;
  auto r2 = admin.Get("/nothing");
  EXPECT_EQ(r2.status, 404u);
  EXPECT_FALSE(r2.message().empty()) << r2.body;

  auto m = admin.Call(verb::verb::patch, "/api/application/0123456789abcdef01234567", "{}");
  EXPECT_EQ(m.status, 405u) << m.body;
  EXPECT_FALSE(m.message().empty()) << m.body;
  auto m2 = admin.Delete("/api/users/");
  EXPECT_EQ(m2.status, 405u) << m2.body;
  EXPECT_FALSE(m2.message().empty());
  // The raw answer names the allowed methods.
  auto raw = RawExchange(t->url(), "DELETE /healthz HTTP/1.1\r\nHost: " + HostOf(t.root()) +
                                       "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw.status, 405) << raw.error;
  EXPECT_NE(raw.headers["allow"].find("GET"), std::string::npos);
  EXPECT_NE(raw.headers["content-type"].find("application/json"), std::string::npos);
  // Trailing slashes are optional, as Oakestra's clients use both.
  EXPECT_EQ(admin.Get("/api/applications").status, 200u);
  EXPECT_EQ(admin.Get("/api/applications/").status, 200u);
}

TEST(Robustness, CorsPreflightAndHeaders) {
  TestRoot t("rob-cors");
  const std::string origin = "http://dashboard.example:8080";
  auto pre = RawExchange(t->url(), "OPTIONS /api/application/ HTTP/1.1\r\nHost: " + HostOf(t.root()) +
                                       "\r\nOrigin: " + origin +
                                       "\r\nAccess-Control-Request-Method: POST"
                                       "\r\nAccess-Control-Request-Headers: authorization, content-type"
                                       "\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(pre.status, 204) << pre.error << pre.body;
  std::string allow_origin = pre.headers["access-control-allow-origin"];
  EXPECT_TRUE(allow_origin == origin || allow_origin == "*") << "Access-Control-Allow-Origin: " << allow_origin;
  std::string allow_headers = pre.headers["access-control-allow-headers"];
  for (auto& c : allow_headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_NE(allow_headers.find("authorization"), std::string::npos) << allow_headers;
  EXPECT_NE(allow_headers.find("content-type"), std::string::npos) << allow_headers;
  EXPECT_NE(pre.headers["access-control-allow-methods"].find("POST"), std::string::npos);

  // A preflight needs no token, for any route the dashboard calls.
  auto pre2 = RawExchange(t->url(), "OPTIONS /api/service/0123456789abcdef01234567/instance HTTP/1.1\r\nHost: " +
                                        HostOf(t.root()) + "\r\nOrigin: " + origin +
                                        "\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(pre2.status, 204) << pre2.body;

  // Real answers from that origin carry the header too, errors included.
  auto get = RawExchange(t->url(), "GET /api/applications/ HTTP/1.1\r\nHost: " + HostOf(t.root()) +
                                       "\r\nOrigin: " + origin + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(get.status, 401);
  EXPECT_FALSE(get.headers["access-control-allow-origin"].empty()) << "401 without CORS header: the dashboard cannot read it";
  EXPECT_TRUE(Healthy(t.root()));
}

TEST(Robustness, SilentClientIsCutOff) {
  TestRoot t("rob-slow");
  // Half a request line and header, then nothing.
  double secs = SecondsUntilClosed(t->url(), "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Le",
                                   std::chrono::seconds(13));
  EXPECT_GE(secs, 0) << "connection still open after 13 s";
  EXPECT_LE(secs, 12.5);
  EXPECT_TRUE(Healthy(t.root()));
}

TEST(Robustness, ManyConnectionsAndKeepAlive) {
  TestRoot t("rob-conns");
  std::string req = "GET /healthz HTTP/1.1\r\nHost: " + HostOf(t.root()) + "\r\n\r\n";
  std::string pipelined;
  for (int i = 0; i < 20; ++i) pipelined += req;
  pipelined += "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto r = RawExchange(t->url(), pipelined);
  EXPECT_EQ(r.status, 200) << r.error;
  // Oversized headers are refused with a JSON answer.
  auto big = RawExchange(t->url(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(40000, 'a') +
                                       "\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(big.status == 431 || big.status == 400) << big.status << " " << big.error;
  json big_body = json::parse(big.body, nullptr, false);
  EXPECT_TRUE(big_body.is_object() && big_body.contains("message")) << big.body;
  // Garbage instead of HTTP gets a 400 and the server carries on.
  auto g = RawExchange(t->url(), "\x16\x03\x01 not http at all\r\n\r\n");
  EXPECT_TRUE(g.status == 400 || g.status == 0) << g.status;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 10; ++k)
        if (Healthy(t.root())) ++ok;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST(Robustness, MetricsExposition) {
  TestRoot t("rob-metrics");
  ApiClient admin = t->Admin();
  CreateApp(admin, SimpleSla("metered", 2), "metered");
  admin.Get("/api/no/such/route");
  t->Client().Post("/api/auth/login", {{"username", "Admin"}, {"password", "wrong"}});
  auto r = t->Client().Get("/metrics");
  ASSERT_EQ(r.status, 200u);
  auto m = ParseMetrics(r.body);
  EXPECT_GE((m["oak_http_requests_total{route=\"/api/auth/login\",method=\"POST\",code=\"200\"}"]), 1) << r.body;
  EXPECT_GE((m["oak_http_requests_total{route=\"/api/auth/login\",method=\"POST\",code=\"401\"}"]), 1) << r.body;
  EXPECT_GE((m["oak_http_requests_total{route=\"/api/application\",method=\"POST\",code=\"200\"}"]), 1) << r.body;
  bool has_404 = false;
  for (auto& [k, v] : m)
    if (k.rfind("oak_http_requests_total{", 0) == 0 && k.find("code=\"404\"") != std::string::npos) has_404 = true;
  EXPECT_TRUE(has_404) << "404s are counted";
  EXPECT_TRUE(m.count("oak_http_request_duration_seconds_bucket{le=\"+Inf\"}")) << r.body;
  EXPECT_TRUE(m.count("oak_http_request_duration_seconds_count"));
  EXPECT_TRUE(m.count("oak_http_request_duration_seconds_sum"));
  EXPECT_NE(r.body.find("# TYPE oak_http_request_duration_seconds histogram"), std::string::npos);
  EXPECT_EQ(m["oak_applications"], 1);
  EXPECT_EQ(m["oak_services"], 2);
  EXPECT_TRUE(m.count("oak_instances{status=\"RUNNING\"}")) << r.body;
  EXPECT_TRUE(m.count("oak_instances{status=\"REQUESTED\"}")) << r.body;
  EXPECT_TRUE(m.count("oak_clusters_active")) << r.body;
  EXPECT_EQ(m["oak_clusters_active"], 0);

  // Instances and clusters move the gauges.
  auto fake = StartFake(t.root(), ClusterCfg("metrics"));
  auto svc = admin.Get("/api/services/");
  ASSERT_EQ(svc.json.size(), 2u);
  std::string sid = Oid(svc.json[0]);
  ASSERT_EQ(admin.Post("/api/service/" + sid + "/instance", json::object()).status, 200u);
  ASSERT_TRUE(WaitFor([&] { return !fake->Instances().empty(); }));
  fake->Heartbeat();
  WaitInstanceStatus(admin, sid, 0, "RUNNING");
  auto m2 = ParseMetrics(t->Client().Get("/metrics").body);
  EXPECT_EQ(m2["oak_clusters_active"], 1);
  EXPECT_EQ(m2["oak_instances{status=\"RUNNING\"}"], 1);
}

TEST(Robustness, OpenApiListsEveryRoute) {
  TestRoot t("rob-docs");
  auto r = t->Client().Get("/api/docs");
  ASSERT_EQ(r.status, 200u);
  ASSERT_TRUE(r.json.is_object()) << r.body.substr(0, 200);
  ASSERT_TRUE(r.json.contains("openapi") && r.json["openapi"].is_string());
  EXPECT_EQ(r.json["openapi"].get<std::string>().substr(0, 2), "3.");
  ASSERT_TRUE(r.json.contains("paths") && r.json["paths"].is_object());
  const json& paths = r.json["paths"];
  // Path parameters are written as {name}: compare with the names blanked.
  std::map<std::string, json> normalized;
  for (auto& [p, ops] : paths.items()) {
    std::string n;
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i] == '{') {
        n += "{}";
        i = p.find('}', i);
      } else {
        n += p[i];
      }
    }
    while (n.size() > 1 && n.back() == '/') n.pop_back();
    normalized[n] = ops;
  }
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"post", "/api/auth/login"},          {"post", "/api/auth/refresh"},
      {"post", "/api/auth/register"},       {"get", "/api/user/{}"},
      {"put", "/api/user/{}"},              {"delete", "/api/user/{}"},
      {"post", "/api/user/{}"},             {"get", "/api/users"},
      {"get", "/api/permission/{}"},        {"get", "/api/organization"},
      {"post", "/api/organization"},        {"get", "/api/organization/{}"},
      {"put", "/api/organization/{}"},      {"delete", "/api/organization/{}"},
      {"post", "/api/application"},         {"get", "/api/applications"},
      {"get", "/api/applications/{}"},      {"get", "/api/application/{}"},
      {"put", "/api/application/{}"},       {"delete", "/api/application/{}"},
      {"post", "/api/service"},             {"get", "/api/service/{}"},
      {"delete", "/api/service/{}"},        {"get", "/api/services/{}"},
      {"get", "/api/services"},             {"post", "/api/service/{}/instance"},
      {"delete", "/api/service/{}/instance/{}"}, {"get", "/api/clusters"},
      {"get", "/api/clusters/active"},      {"post", "/api/clusters/register"},
      {"post", "/api/information/{}"},      {"get", "/healthz"},
      {"get", "/metrics"},                  {"get", "/api/docs"}};
  for (auto& [method, path] : routes) {
    auto it = normalized.find(path);
    ASSERT_NE(it, normalized.end()) << "OpenAPI document lacks " << path;
    EXPECT_TRUE(it->second.contains(method)) << "OpenAPI document lacks " << method << " " << path;
    if (it->second.contains(method)) {
      const json& op = it->second[method];
      EXPECT_FALSE(op.value("summary", "").empty()) << method << " " << path << " has no summary";
      EXPECT_TRUE(op.contains("responses")) << method << " " << path;
    }
  }
}

}  // namespace
}  // namespace oak::it
