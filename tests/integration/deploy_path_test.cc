// The deploy path under load: kept-alive connections to clusters, group commit, kill -9 during a
// burst of deploys, and status pushes from clusters.
#include <mutex>
#include <set>

#include "integration/helpers.h"

namespace oak::it {
namespace {

std::string OneService(const ApiClient& c, const std::string& app, json ms) {
  json a = CreateApp(c, Sla(json::array({Application(app, "test", json::array({std::move(ms)}))})), app);
  auto svcs = c.Get("/api/services/" + Oid(a));
  return svcs.json.is_array() && svcs.json.size() == 1 ? Oid(svcs.json[0]) : std::string();
}

double Metric(const TestRoot& t, const std::string& name) {
  return ParseMetrics(const_cast<TestRoot&>(t).root().Client().Get("/metrics").body)[name];
}

// Deploys from `threads` clients at once until `stop` or `per_thread` each; records the
// acknowledged (service, number) pairs and fails the test on any unexpected answer.
void DeployConcurrently(const ApiClient& c, const std::vector<std::string>& services, int threads, int per_thread,
                        std::set<std::pair<std::string, int64_t>>& acked, std::mutex& mu,
                        const std::atomic<bool>* stop = nullptr) {
  std::vector<std::thread> ths;
  for (int w = 0; w < threads; ++w) {
    ths.emplace_back([&, w] {
      for (int i = 0; i < per_thread && !(stop && *stop); ++i) {
        const std::string& sid = services[static_cast<size_t>(w + i) % services.size()];
        auto r = c.Post("/api/service/" + sid + "/instance", json::object());
        if (r.status == 0) return;  // the root is gone
        if (r.status != 200) {
          ADD_FAILURE() << r.status << " " << r.body;
          return;
        }
        EXPECT_EQ(r.json.value("status", ""), "REQUESTED");
        std::lock_guard lock(mu);
        EXPECT_TRUE(acked.emplace(sid, r.json.value("instance_number", int64_t{-1})).second) << "number handed out twice";
      }
    });
  }
  for (auto& th : ths) th.join();
}

TEST(DeployPath, ManyDeploysShareAFewConnectionsToTheCluster) {
  TestRoot t("dp-conns");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("conns", 1'000'000, 200, 100'000));
  std::vector<std::string> services = {OneService(admin, "conna", Microservice("web")),
                                       OneService(admin, "connb", Microservice("web"))};
  std::mutex mu;
  std::set<std::pair<std::string, int64_t>> acked;
  DeployConcurrently(admin, services, 8, 40, acked, mu);
  ASSERT_EQ(acked.size(), 320u);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 320; })) << fake->Instances().size();
  // One connection per instance before; now at most the pool's 16 per cluster.
  EXPECT_LE(Metric(t, "oak_cluster_connections_opened_total"), 16.0);
  EXPECT_GE(Metric(t, "oak_cluster_connections_opened_total"), 1.0);
  EXPECT_EQ(Metric(t, "oak_dispatch_in_flight"), 0.0);
  for (const auto& sid : services) {
    auto svc = admin.Get("/api/service/" + sid);
    ASSERT_EQ(svc.json["instance_list"].size(), 160u);
    for (auto& i : svc.json["instance_list"]) {
      EXPECT_EQ(i.value("status", ""), "CLUSTER_SCHEDULED") << i.dump();
      EXPECT_EQ(i.value("cluster_id", ""), fake->id());
      EXPECT_EQ(i.value("cluster_location", ""), "48.1,11.5,50");
    }
  }
  // What the cluster received is the service document with the instance's number.
  for (auto& got : fake->Instances()) {
    EXPECT_EQ(got.body.value("instance_number", int64_t{-1}), got.number);
    EXPECT_EQ(got.body.value("job_id", ""), got.job_id);
    EXPECT_EQ(got.body["_id"].value("$oid", ""), got.job_id);
    EXPECT_EQ(got.body.value("microservice_name", ""), "web");
  }
}

TEST(DeployPath, ABurstIsHandedOverInFewBatchedRequests) {
  TestRoot t("dp-batch");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("batchy", 1'000'000, 200, 100'000));
  std::vector<std::string> services = {OneService(admin, "batcha", Microservice("web")),
                                       OneService(admin, "batchb", Microservice("db"))};
  std::mutex mu;
  std::set<std::pair<std::string, int64_t>> acked;
  DeployConcurrently(admin, services, 8, 50, acked, mu);
  ASSERT_EQ(acked.size(), 400u);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 400; })) << fake->Instances().size();
  ASSERT_TRUE(WaitFor([&] { return Metric(t, "oak_dispatch_in_flight") == 0; }));
  // Several instances per request: fewer requests than instances, none of them single ones.
  EXPECT_LT(fake->batch_requests(), 400u);
  EXPECT_GE(fake->batch_requests(), 1u);
  for (auto& got : fake->Instances()) {
    EXPECT_TRUE(acked.count({got.job_id, got.number}));
    EXPECT_EQ(got.body.value("job_id", ""), got.job_id);
    EXPECT_EQ(got.body.value("microservice_name", ""), got.job_id == services[0] ? "web" : "db");
  }
  for (const auto& sid : services)
    for (auto& i : admin.Get("/api/service/" + sid).json["instance_list"])
      EXPECT_EQ(i.value("status", ""), "CLUSTER_SCHEDULED") << i.dump();
}

TEST(DeployPath, AClusterWithoutTheBatchedFormGetsOneInstancePerRequest) {
  TestRoot t("dp-nobatch");
  ApiClient admin = t->Admin();
  FakeClusterConfig cfg = ClusterCfg("single", 1'000'000, 200, 100'000);
  cfg.batched = false;
  auto fake = StartFake(t.root(), cfg);
  const std::string sid = OneService(admin, "singleapp", Microservice("web"));
  std::mutex mu;
  std::set<std::pair<std::string, int64_t>> acked;
  DeployConcurrently(admin, {sid}, 4, 25, acked, mu);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 100; })) << fake->Instances().size();
  EXPECT_EQ(fake->batch_requests(), 0u);
  for (auto& got : fake->Instances()) EXPECT_EQ(got.body.value("instance_number", int64_t{-1}), got.number);
  for (auto& i : admin.Get("/api/service/" + sid).json["instance_list"])
    EXPECT_EQ(i.value("status", ""), "CLUSTER_SCHEDULED") << i.dump();
}

TEST(DeployPath, Kill9DuringADeployBurstLosesNoAcknowledgedInstance) {
  TestRoot t("dp-kill9");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("burst", 1'000'000, 200, 100'000));
  std::vector<std::string> services = {OneService(admin, "burstx", Microservice("web")),
                                       OneService(admin, "bursty", Microservice("web"))};
  std::mutex mu;
  std::set<std::pair<std::string, int64_t>> acked;
  std::atomic<bool> stop{false};
  std::thread killer([&] {
    WaitFor(
        [&] {
          std::lock_guard lock(mu);
          return acked.size() >= 300;
        },
        std::chrono::seconds(30));
    t->Kill9();
    stop = true;
  });
  DeployConcurrently(admin, services, 6, 100'000, acked, mu, &stop);
  killer.join();
  ASSERT_GE(acked.size(), 300u);

  t->Start();
  ApiClient admin2 = t->Admin();
  std::set<std::pair<std::string, int64_t>> stored;
  int64_t sent_or_pending = 0;
  for (const auto& sid : services) {
    auto svc = admin2.Get("/api/service/" + sid);
    ASSERT_EQ(svc.status, 200u);
    const int64_t next = svc.json["next_instance_progressive_number"];
    for (auto& i : svc.json["instance_list"]) {
      int64_t n = i.value("instance_number", int64_t{-1});
      EXPECT_TRUE(stored.emplace(sid, n).second);
      EXPECT_LT(n, next) << "a stored number at or above the counter would be handed out again";
      EXPECT_EQ(i.value("status", ""), "CLUSTER_SCHEDULED") << "each deploy is stored already placed: " << i.dump();
      ++sent_or_pending;
    }
  }
  for (const auto& k : acked) EXPECT_TRUE(stored.count(k)) << "acknowledged instance " << k.second << " of " << k.first << " lost";
  // Everything still waiting for its hand-over is sent again after the restart, once each.
  EXPECT_TRUE(WaitFor([&] { return static_cast<int64_t>(fake->Instances().size()) == sent_or_pending; },
                      std::chrono::seconds(20)))
      << fake->Instances().size() << " of " << sent_or_pending;
  // Instances are handed over only once stored: the cluster holds nothing the root lost.
  for (auto& got : fake->Instances())
    EXPECT_TRUE(stored.count({got.job_id, got.number})) << "the cluster runs instance " << got.number << " the root never stored";
  // New numbers continue above every stored one.
  auto next = admin2.Post("/api/service/" + services[0] + "/instance", json::object());
  ASSERT_EQ(next.status, 200u);
  const int64_t fresh = next.json.value("instance_number", int64_t{-1});
  for (const auto& [sid, n] : stored) {
    if (sid == services[0]) {
      EXPECT_GT(fresh, n);
    }
  }
}

TEST(DeployPath, AReplacedServiceIsDeployedWithItsNewDocument) {
  TestRoot t("dp-put");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("putc", 1'000'000, 200, 100'000));
  json a = CreateApp(admin, Sla(json::array({Application("putapp", "test", json::array({Microservice("web")}))})), "putapp");
  const std::string sid = Oid(admin.Get("/api/services/" + Oid(a)).json[0]);
  ASSERT_EQ(admin.Post("/api/service/" + sid + "/instance", json::object()).status, 200u);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 1; }));
  EXPECT_EQ(fake->Instances()[0].body.value("memory", 0), 100);

  json sla = Sla(json::array({Application("putapp", "test", json::array({Microservice("web", "test", {{"memory", 256}})}))}));
  sla["applications"][0]["applicationID"] = Oid(a);
  auto put = Put(admin, "/api/service/" + sid, sla);
  ASSERT_EQ(put.status, 200u) << put.body;
  ASSERT_EQ(admin.Post("/api/service/" + sid + "/instance", json::object()).status, 200u);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 2; }));
  for (auto& got : fake->Instances())
    EXPECT_EQ(got.body.value("memory", 0), got.number == 0 ? 100 : 256) << "instance " << got.number;

  // A deleted service takes no more instances, whatever the root had cached.
  ASSERT_EQ(admin.Delete("/api/service/" + sid).status, 200u);
  EXPECT_EQ(admin.Post("/api/service/" + sid + "/instance", json::object()).status, 404u);
}

json Push(const std::string& sid, int64_t number, const std::string& status) {
  return {{"jobs", json::array({{{"_id", sid},
                                 {"instance_list", json::array({{{"instance_number", number},
                                                                 {"status", status},
                                                                 {"worker_id", "w1"}}})}}})}};
}

TEST(DeployPath, StatusPushesChangeInstancesButNotReservations) {
  TestRoot t("dp-push");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("pushy", 2048));
  const std::string sid = OneService(admin, "pushapp", Microservice("web", "test", {{"memory", 1000}}));
  auto first = admin.Post("/api/service/" + sid + "/instance", json::object());
  ASSERT_EQ(first.status, 200u);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 1; }));

  ApiClient raw = t->Client();
  auto push = [&](const json& body) {
    auto r = raw.Call(verb::verb::post, "/api/information/" + fake->id(), body.dump(), fake->secret());
    EXPECT_EQ(r.status, 200u) << r.body;
  };
  const double updates_before = Metric(t, "oak_instance_status_updates_total");
  push(Push(sid, 0, "RUNNING"));
  EXPECT_EQ(InstanceOf(admin, sid, 0).value("status", ""), "RUNNING") << "applied before the answer";
  EXPECT_EQ(InstanceOf(admin, sid, 0).value("worker_id", ""), "w1");
  push(Push(sid, 0, "RUNNING"));  // unchanged: nothing to write
  push(Push(sid, 0, "RUNNING"));
  EXPECT_EQ(Metric(t, "oak_instance_status_updates_total") - updates_before, 1.0);

  // Three pushes later the reservation for the first instance still stands: the cluster has
  // 2048 MB, so a second instance of 1000 MB fits and a third does not until it reports again.
  ASSERT_EQ(admin.Post("/api/service/" + sid + "/instance", json::object()).status, 200u);
  EXPECT_EQ(WaitInstanceStatus(admin, sid, 1, "CLUSTER_SCHEDULED").value("status", ""), "CLUSTER_SCHEDULED");
  ASSERT_EQ(admin.Post("/api/service/" + sid + "/instance", json::object()).status, 200u);
  EXPECT_EQ(WaitInstanceStatus(admin, sid, 2, "NoActiveClusterWithCapacity").value("status", ""),
            "NoActiveClusterWithCapacity")
      << "status pushes ended the reservations: the cluster was oversubscribed";
  // Pushes carry no aggregates and leave the cluster's as they were.
  auto clusters = admin.Get("/api/clusters/");
  ASSERT_EQ(clusters.json.size(), 1u);
  EXPECT_EQ(clusters.json[0].value("memory_in_mb", 0), 2048);
  EXPECT_TRUE(clusters.json[0].value("active", false));
}

TEST(DeployPath, AReportOfManyInstancesIsOneTransaction) {
  TestRoot t("dp-report");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("reporter", 1'000'000, 200, 100'000));
  const std::string sid = OneService(admin, "reportapp", Microservice("web"));
  std::mutex mu;
  std::set<std::pair<std::string, int64_t>> acked;
  DeployConcurrently(admin, {sid}, 4, 50, acked, mu);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 200; }));
  ASSERT_TRUE(WaitFor([&] { return Metric(t, "oak_dispatch_in_flight") == 0; }));
  const double commits = Metric(t, "oak_store_commits_total");
  const double updates = Metric(t, "oak_instance_status_updates_total");
  ASSERT_EQ(fake->Heartbeat(), 200u);  // reports all 200 RUNNING: one slice, one op
  EXPECT_EQ(Metric(t, "oak_instance_status_updates_total") - updates, 200.0);
  EXPECT_LE(Metric(t, "oak_store_commits_total") - commits, 2.0) << "one commit per reported instance?";
  auto svc = admin.Get("/api/service/" + sid);
  for (auto& i : svc.json["instance_list"]) EXPECT_EQ(i.value("status", ""), "RUNNING");
  // The same report again changes nothing and writes nothing but the cluster's aggregates.
  ASSERT_EQ(fake->Heartbeat(), 200u);
  EXPECT_EQ(Metric(t, "oak_instance_status_updates_total") - updates, 200.0);
}

}  // namespace
}  // namespace oak::it
