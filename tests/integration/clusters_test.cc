// The cluster-facing side: registration, the two credential worlds, cluster documents, liveness.
#include "integration/helpers.h"

namespace oak::it {
namespace {

TEST(Clusters, RegistrationNeedsTheJoinToken) {
  TestRoot t("cl-join");
  FakeCluster wrong(t->url(), "not-the-token", ClusterCfg("intruder"));
  Status s = wrong.Register();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("401"), std::string::npos) << s.message();

  ApiClient anon = t->Client();
  json body = {{"cluster_name", "intruder"}, {"cluster_location", "48.1,11.5,50"}, {"manager_url", "http://127.0.0.1:1"}};
  auto none = anon.Post("/api/clusters/register", body);
  EXPECT_EQ(none.status, 401u);
  EXPECT_FALSE(none.message().empty());
  // A user's JWT is not a join token.
  ApiClient admin = t->Admin();
  EXPECT_EQ(admin.Post("/api/clusters/register", body).status, 401u);
  EXPECT_EQ(admin.Get("/api/clusters/").json.size(), 0u) << "a refused registration left a cluster behind";

  // The right token: id and secret.
  auto ok = anon.Call(verb::verb::post, "/api/clusters/register", body.dump(), t->config().cluster_token);
  ASSERT_EQ(ok.status, 200u) << ok.body;
  ASSERT_TRUE(ok.json.contains("id") && ok.json["id"].is_string());
  EXPECT_TRUE(IsHex24(ok.json["id"]));
  ASSERT_TRUE(ok.json.contains("secret") && ok.json["secret"].is_string());
  EXPECT_GE(ok.json["secret"].get<std::string>().size(), 32u) << "cluster secrets must be long random strings";
  EXPECT_NE(ok.json["secret"], t->config().cluster_token);

  // Bad registration bodies with the right token are 400s naming the field.
  for (auto [field, bad] : std::vector<std::pair<std::string, json>>{
           {"cluster_name", {{"cluster_name", "has space"}, {"manager_url", "http://127.0.0.1:1"}}},
           {"cluster_location", {{"cluster_name", "c1"}, {"cluster_location", "north"}, {"manager_url", "http://127.0.0.1:1"}}},
           {"manager_url", {{"cluster_name", "c1"}}}}) {
    auto r = anon.Call(verb::verb::post, "/api/clusters/register", bad.dump(), t->config().cluster_token);
    EXPECT_EQ(r.status, 400u) << bad.dump() << " -> " << r.body;
    EXPECT_NE(r.message().find(field), std::string::npos) << r.body;
  }
}

TEST(Clusters, CredentialsDoNotCross) {
  TestRoot t("cl-cross");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("cross"));
  ApiClient raw = t->Client();
  const std::string hb = R"({"memory":1024,"vcpus":2})";

  // A user JWT (even Admin's) on the cluster route.
  auto r = raw.Call(verb::verb::post, "/api/information/" + fake->id(), hb, admin.token());
  EXPECT_EQ(r.status, 401u) << r.body;
  EXPECT_FALSE(r.message().empty());
  EXPECT_EQ(raw.Call(verb::verb::post, "/api/information/" + fake->id(), hb, "").status, 401u);
  EXPECT_EQ(raw.Call(verb::verb::post, "/api/information/" + fake->id(), hb, t->config().cluster_token).status, 401u)
      << "the join token is not a cluster's secret";
  // Another cluster's secret.
  auto other = StartFake(t.root(), ClusterCfg("other"));
  EXPECT_EQ(raw.Call(verb::verb::post, "/api/information/" + fake->id(), hb, other->secret()).status, 401u);
  EXPECT_EQ(raw.Call(verb::verb::post, "/api/information/0123456789abcdef01234567", hb, fake->secret()).status, 401u);
  EXPECT_EQ(raw.Call(verb::verb::post, "/api/information/" + fake->id(), hb, fake->secret()).status, 200u);

  // The cluster secret and the join token on user routes.
  for (const std::string& cred : {fake->secret(), t->config().cluster_token}) {
    for (auto [m, target] : std::vector<std::pair<verb::verb, std::string>>{
             {verb::verb::get, "/api/applications/"},
             {verb::verb::get, "/api/clusters/"},
             {verb::verb::get, "/api/users/"},
             {verb::verb::post, "/api/application/"}}) {
      auto u = raw.Call(m, target, m == verb::verb::post ? SimpleSla("x", 1).dump() : "", cred);
      EXPECT_EQ(u.status, 401u) << target << " accepted a cluster credential: " << u.body;
    }
  }
  // The root calls the cluster with that cluster's secret only; nothing unauthorized so far.
  EXPECT_EQ(fake->unauthorized_calls(), 0u);
}

TEST(Clusters, ListingsShowOakestraFields) {
  TestRoot t("cl-list");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("munich", 6000, 200, 6));
  for (const char* route : {"/api/clusters/", "/api/clusters/active"}) {
    auto r = admin.Get(route);
    ASSERT_EQ(r.status, 200u) << route;
    ASSERT_TRUE(r.json.is_array());
    ASSERT_EQ(r.json.size(), 1u) << route << ": " << r.body;
    const json& c = r.json[0];
    for (const char* f : {"_id", "cluster_name", "active", "active_nodes", "memory_in_mb", "total_cpu_cores",
                          "total_gpu_cores", "aggregated_cpu_percent", "cluster_location", "virtualization"})
      EXPECT_TRUE(c.contains(f)) << route << " lacks " << f << ": " << c.dump();
    EXPECT_EQ(Oid(c), fake->id());
    EXPECT_EQ(c.value("cluster_name", ""), "munich");
    EXPECT_EQ(c.value("active", false), true);
    EXPECT_EQ(c.value("memory_in_mb", 0), 6000);
    EXPECT_EQ(c.value("total_cpu_cores", 0), 6);
    EXPECT_EQ(c.value("active_nodes", 0), 1);
    EXPECT_TRUE(c["aggregated_cpu_percent"].is_number());
    EXPECT_EQ(c.value("cluster_location", ""), "48.1,11.5,50");
    EXPECT_EQ(c["virtualization"], json::array({"container"}));
    EXPECT_FALSE(c.contains("secret")) << "cluster secret leaked in a listing";
    EXPECT_EQ(c.dump().find(fake->secret()), std::string::npos) << "cluster secret leaked in a listing";
  }
  EXPECT_EQ(t->Client().Get("/api/clusters/").status, 401u) << "cluster listings need a user";

  // Registering again under the same name keeps the id and rotates the secret.
  std::string old_secret = fake->secret(), id = fake->id();
  ASSERT_TRUE(fake->Register().ok());
  EXPECT_EQ(fake->id(), id);
  EXPECT_NE(fake->secret(), old_secret);
  ApiClient raw = t->Client();
  EXPECT_EQ(raw.Call(verb::verb::post, "/api/information/" + id, "{}", old_secret).status, 401u);
  EXPECT_EQ(fake->Heartbeat(), 200u);
  EXPECT_EQ(admin.Get("/api/clusters/").json.size(), 1u);
}

TEST(Clusters, SilentClusterTurnsInactiveAndIsNotUsed) {
  TestRoot t("cl-silent", {.extra_args = {"--cluster-timeout", "2"}});
  ApiClient admin = t->Admin();
  auto small = StartFake(t.root(), ClusterCfg("small", 2048));
  auto big = StartFake(t.root(), ClusterCfg("big", 16384));
  Heartbeater keep_small(*small);
  EXPECT_EQ(admin.Get("/api/clusters/active").json.size(), 2u);
  // `big` says nothing more.
  ASSERT_TRUE(WaitFor([&] { return admin.Get("/api/clusters/active").json.size() == 1; }, std::chrono::seconds(6)))
      << "a silent cluster stays active";
  auto all = admin.Get("/api/clusters/");
  ASSERT_EQ(all.json.size(), 2u);
  for (auto& c : all.json) EXPECT_EQ(c.value("active", true), c.value("cluster_name", "") == "small") << c.dump();
  EXPECT_EQ(admin.Get("/api/clusters/active").json[0].value("cluster_name", ""), "small");
  auto m = ParseMetrics(t->Client().Get("/metrics").body);
  EXPECT_EQ(m["oak_clusters_active"], 1);

  // Placement skips the silent (bigger) cluster.
  json app = CreateApp(admin, SimpleSla("pick", 1), "pick");
  std::string sid = Oid(admin.Get("/api/services/" + Oid(app)).json[0]);
  ASSERT_EQ(admin.Post("/api/service/" + sid + "/instance", json::object()).status, 200u);
  json inst = WaitInstanceStatus(admin, sid, 0, "CLUSTER_SCHEDULED");
  EXPECT_EQ(inst.value("cluster_id", ""), small->id()) << inst.dump();
  EXPECT_TRUE(big->Instances().empty());

  // A heartbeat brings it back.
  EXPECT_EQ(big->Heartbeat(), 200u);
  EXPECT_EQ(admin.Get("/api/clusters/active").json.size(), 2u);
}

}  // namespace
}  // namespace oak::it
