// State survives a clean restart and a `kill -9` in the middle of a burst of writes.
#include <mutex>
#include <set>

#include "common/sqlite.h"
#include "integration/helpers.h"

namespace oak::it {
namespace {

TEST(Durability, RestartKeepsEverything) {
  TestRoot t("dur-restart");
  ApiClient admin = t->Admin();
  ApiClient alice = MakeUser(t.root(), admin, "alice", "alice-pw");
  ASSERT_EQ(admin.Post("/api/organization/", {{"name", "acme"}}).status, 201u);
  json app = CreateApp(alice, SimpleSla("durable", 2), "durable");
  std::string app_id = Oid(app);
  auto svcs = alice.Get("/api/services/" + app_id);
  ASSERT_EQ(svcs.json.size(), 2u);
  std::string sid = Oid(svcs.json[0]);

  auto fake = StartFake(t.root(), ClusterCfg("durablecluster"));
  ASSERT_EQ(alice.Post("/api/service/" + sid + "/instance", json::object()).status, 200u);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 1; }));
  fake->Heartbeat();
  json inst = WaitInstanceStatus(alice, sid, 0, "RUNNING");
  ASSERT_EQ(inst.value("status", ""), "RUNNING") << inst.dump();
  const std::string old_token = alice.token();

  ASSERT_EQ(t->Stop(), 0) << "SIGTERM should end the root cleanly; log:\n" << t->Log();
  t->Start();
  ApiClient admin2 = t->Admin();

  // Users (and their passwords), organizations.
  ApiClient alice2 = t->Client();
  ASSERT_EQ(alice2.Login("alice", "alice-pw").status, 200u);
  ApiClient old = t->Client();
  old.set_token(old_token);
  EXPECT_EQ(old.Get("/api/applications/").status, 200u) << "tokens stay valid across a restart (jwt.key is kept)";
  EXPECT_EQ(admin2.Get("/api/organization/acme").status, 200u);

  // Applications, services, instances with their placement.
  auto apps = alice2.Get("/api/applications/");
  ASSERT_EQ(apps.json.size(), 1u);
  EXPECT_EQ(Oid(apps.json[0]), app_id);
  auto svcs2 = alice2.Get("/api/services/" + app_id);
  ASSERT_EQ(svcs2.json.size(), 2u);
  json inst2 = InstanceOf(alice2, sid, 0);
  ASSERT_TRUE(inst2.is_object());
  EXPECT_EQ(inst2.value("status", ""), "RUNNING");
  EXPECT_EQ(inst2.value("cluster_id", ""), fake->id());
  auto svc = alice2.Get("/api/service/" + sid);
  EXPECT_EQ(svc.json["next_instance_progressive_number"], 1);

  // Clusters: known, inactive until they speak, and their secret still works.
  auto clusters = admin2.Get("/api/clusters/");
  ASSERT_EQ(clusters.json.size(), 1u);
  EXPECT_EQ(Oid(clusters.json[0]), fake->id());
  // The fake's secret is still accepted by the restarted root (same id). The fake itself still
  // points at the old port, so the heartbeat is sent by hand.
  ApiClient as_cluster = t->Client();
  auto hb = as_cluster.Call(verb::verb::post, "/api/information/" + fake->id(), R"({"memory":4096,"vcpus":4})",
                            fake->secret());
  EXPECT_EQ(hb.status, 200u) << hb.body;
  EXPECT_EQ(admin2.Get("/api/clusters/active").json.size(), 1u);

  // The next instance number continues where it was.
  auto next = alice2.Post("/api/service/" + sid + "/instance", json::object());
  ASSERT_EQ(next.status, 200u);
  EXPECT_EQ(next.json.value("instance_number", -1), 1);
}

TEST(Durability, Kill9DuringCreateBurstLosesNoAcknowledgedWrite) {
  TestRoot t("dur-kill9");
  ApiClient admin = t->Admin();
  std::mutex mu;
  std::set<std::string> acked;  // application names answered with 200
  std::atomic<bool> stop{false};
  std::atomic<int> total{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop && i < 100000; ++i) {
        std::string name = "w" + std::to_string(w) + "n" + std::to_string(i);
        auto r = admin.Post("/api/application/", SimpleSla(name, 2));
        if (r.status == 200) {
          std::lock_guard lock(mu);
          acked.insert(name);
          ++total;
        } else if (r.status == 0) {
          return;  // the root is gone
        } else {
          ADD_FAILURE() << name << ": " << r.status << " " << r.body;
          return;
        }
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return total.load() >= 40; }, std::chrono::seconds(30))) << "writes too slow";
  t->Kill9();
  stop = true;
  for (auto& th : writers) th.join();

  t->Start();
  ApiClient admin2 = t->Admin();
  auto apps = admin2.Get("/api/applications/");
  ASSERT_EQ(apps.status, 200u);
  std::set<std::string> stored;
  for (auto& a : apps.json) {
    stored.insert(a.value("application_name", ""));
    // No partially created application: every stored app has both its services.
    EXPECT_EQ(a["microservices"].size(), 2u) << "partial application " << a.dump();
  }
  for (const auto& name : acked) EXPECT_TRUE(stored.count(name)) << "acknowledged application " << name << " lost";
  EXPECT_GE(stored.size(), acked.size());
  auto svcs = admin2.Get("/api/services/");
  EXPECT_EQ(svcs.json.size(), 2 * stored.size()) << "orphan or missing services";
  auto m = ParseMetrics(t->Client().Get("/metrics").body);
  EXPECT_EQ(m["oak_applications"], static_cast<double>(stored.size()));
}

TEST(Durability, Kill9WithInstancesInFlight) {
  TestRoot t("dur-kill9inst");
  ApiClient admin = t->Admin();
  json app = CreateApp(admin, SimpleSla("inflight", 1), "inflight");
  std::string sid = Oid(admin.Get("/api/services/" + Oid(app)).json[0]);
  auto fake = StartFake(t.root(), ClusterCfg("inflight"));
  std::set<int64_t> acked;
  for (int i = 0; i < 10; ++i) {
    auto r = admin.Post("/api/service/" + sid + "/instance", json::object());
    ASSERT_EQ(r.status, 200u) << r.body;
    acked.insert(r.json.value("instance_number", int64_t{-1}));
  }
  t->Kill9();
  const size_t at_fake_before = fake->Instances().size();
  t->Start();
  ApiClient admin2 = t->Admin();
  auto svc = admin2.Get("/api/service/" + sid);
  ASSERT_EQ(svc.status, 200u);
  std::set<int64_t> stored;
  for (auto& i : svc.json["instance_list"]) stored.insert(i.value("instance_number", int64_t{-1}));
  EXPECT_EQ(stored, acked) << "every acknowledged instance survives kill -9";
  EXPECT_EQ(svc.json["next_instance_progressive_number"], 10);
  // Instances that were handed to the cluster are (re)sent to it, never duplicated.
  EXPECT_TRUE(WaitFor([&] {
    size_t scheduled = 0;
    for (auto& i : admin2.Get("/api/service/" + sid).json["instance_list"])
      scheduled += i.value("status", "") == "CLUSTER_SCHEDULED" ? 1 : 0;
    return fake->Instances().size() >= std::max(scheduled, at_fake_before);
  }));
  EXPECT_LE(fake->Instances().size(), acked.size());
}

// An instance acknowledged (REQUESTED) but not yet placed when the root went down must still be
// placed once a cluster reports in after the restart.
TEST(Durability, RequestedInstanceIsPlacedAfterRestart) {
  // A short heartbeat interval keeps any post-restart grace period short.
  TestRoot t("dur-requested", {.extra_args = {"--heartbeat-interval", "1"}});
  ApiClient admin = t->Admin();
  json app = CreateApp(admin, SimpleSla("pending", 1), "pending");
  std::string sid = Oid(admin.Get("/api/services/" + Oid(app)).json[0]);
  auto fake = StartFake(t.root(), ClusterCfg("pendingc"));
  ASSERT_EQ(admin.Post("/api/service/" + sid + "/instance", json::object()).status, 200u);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 1; }));
  ASSERT_EQ(t->Stop(), 0);
  {
    // Roll the instance back to the state right after the API acknowledged it.
    auto db = Db::Open(t.data_dir() + "/root.db");
    ASSERT_TRUE(db.ok()) << db.status().message();
    ASSERT_TRUE((*db)->Exec("UPDATE instances SET status='REQUESTED', cluster_id='', doc='{}'").ok());
  }
  t->Start();
  // The cluster reports in shortly after the restart (it still points at the old port: by hand).
  ApiClient as_cluster = t->Client();
  auto hb = as_cluster.Call(verb::verb::post, "/api/information/" + fake->id(),
                            R"({"memory":8192,"vcpus":8,"virtualization":["container"],"active_nodes":1})",
                            fake->secret());
  ASSERT_EQ(hb.status, 200u) << hb.body;
  ApiClient admin2 = t->Admin();
  json inst = WaitInstanceStatus(admin2, sid, 0, "CLUSTER_SCHEDULED", std::chrono::seconds(8));
  EXPECT_EQ(inst.value("status", ""), "CLUSTER_SCHEDULED")
      << "BUG: a REQUESTED instance resumed at start is scheduled before any cluster could heartbeat "
         "(ClusterRegistry::Load marks every cluster inactive, Dispatcher::Resume schedules at once), "
         "so it fails for good: "
      << inst.dump();
}

}  // namespace
}  // namespace oak::it
