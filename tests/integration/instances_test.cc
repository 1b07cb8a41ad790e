// Instances end to end with fake clusters: hand-over, status reports, undeploy, scheduling
// outcomes, retries and resumption.
#include <mutex>
#include <set>

#include "integration/helpers.h"

namespace oak::it {
namespace {

// One app with one service built from `ms`; answers the service id.
std::string OneService(const ApiClient& c, const std::string& app, json ms) {
  json a = CreateApp(c, Sla(json::array({Application(app, "test", json::array({std::move(ms)}))})), app);
  auto svcs = c.Get("/api/services/" + Oid(a));
  EXPECT_EQ(svcs.status, 200u);
  return svcs.json.is_array() && svcs.json.size() == 1 ? Oid(svcs.json[0]) : std::string();
}

int64_t Deploy(const ApiClient& c, const std::string& sid) {
  auto r = c.Post("/api/service/" + sid + "/instance", json::object());
  EXPECT_EQ(r.status, 200u) << r.body;
  return r.json.is_object() ? r.json.value("instance_number", int64_t{-1}) : -1;
}

TEST(Instances, DeployReachesClusterAndRuns) {
  TestRoot t("in-flow");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("flow"));
  std::string sid = OneService(admin, "flowapp", Microservice("web"));
  ASSERT_TRUE(IsHex24(sid));

  auto r = admin.Post("/api/service/" + sid + "/instance", json::object());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json.value("instance_number", -1), 0);
  EXPECT_EQ(r.json.value("status", ""), "REQUESTED") << "deploy answers at once, before placement";

  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 1; })) << "the cluster never got the instance";
  auto got = fake->Instances()[0];
  EXPECT_EQ(got.job_id, sid) << "deployed on POST /api/service/<job_id>/<n>";
  EXPECT_EQ(got.number, 0);
  EXPECT_EQ(got.body.value("job_name", ""), "flowapp.test.web.test");
  EXPECT_EQ(got.body.value("image", ""), Microservice("web")["code"]);
  EXPECT_EQ(fake->unauthorized_calls(), 0u) << "the root must call the cluster with that cluster's secret";

  json inst = WaitInstanceStatus(admin, sid, 0, "CLUSTER_SCHEDULED");
  EXPECT_EQ(inst.value("status", ""), "CLUSTER_SCHEDULED") << inst.dump();
  EXPECT_EQ(inst.value("cluster_id", ""), fake->id());
  for (const char* f : {"instance_number", "cluster_id", "cluster_location", "worker_id", "status", "status_detail",
                        "publicip", "host_ip", "host_port", "cpu_percent", "memory_percent", "disk",
                        "last_modified_timestamp"})
    EXPECT_TRUE(inst.contains(f)) << "instance lacks Oakestra's field " << f << ": " << inst.dump();

  ASSERT_EQ(fake->Heartbeat(), 200u);
  inst = WaitInstanceStatus(admin, sid, 0, "RUNNING");
  EXPECT_EQ(inst.value("status", ""), "RUNNING") << inst.dump();
  EXPECT_EQ(inst.value("worker_id", ""), "flow-worker");
  EXPECT_EQ(inst.value("publicip", ""), "127.0.0.1");
  auto svc = admin.Get("/api/service/" + sid);
  EXPECT_EQ(svc.json.value("status", ""), "RUNNING");
  EXPECT_EQ(svc.json["next_instance_progressive_number"], 1);

  // A later report moves it on (and a detail travels with it).
  fake->SetStatus(sid, 0, "FAILED");
  ASSERT_EQ(fake->Heartbeat(), 200u);
  EXPECT_EQ(WaitInstanceStatus(admin, sid, 0, "FAILED").value("status", ""), "FAILED");
}

TEST(Instances, UndeployOneAndAll) {
  TestRoot t("in-undeploy");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("undep"));
  std::string sid = OneService(admin, "undepapp", Microservice("web", "test", {{"memory", 10}}));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Deploy(admin, sid), i);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 3; }));

  auto one = admin.Delete("/api/service/" + sid + "/instance/1");
  ASSERT_EQ(one.status, 200u) << one.body;
  ASSERT_TRUE(WaitFor([&] {
    for (auto& [job, n] : fake->Undeploys())
      if (job == sid && n == 1) return true;
    return false;
  })) << "DELETE /api/service/<job>/1 never reached the cluster";
  EXPECT_EQ(fake->Instances().size(), 2u);
  auto svc = admin.Get("/api/service/" + sid);
  ASSERT_EQ(svc.json["instance_list"].size(), 2u);
  EXPECT_EQ(admin.Delete("/api/service/" + sid + "/instance/1").status, 404u);
  EXPECT_EQ(admin.Delete("/api/service/" + sid + "/instance/x").status, 400u);

  ASSERT_EQ(admin.Delete("/api/service/" + sid + "/instance/-1").status, 200u);
  EXPECT_TRUE(WaitFor([&] { return fake->Instances().empty(); })) << "undeploy -1 left instances at the cluster";
  EXPECT_EQ(admin.Get("/api/service/" + sid).json["instance_list"].size(), 0u);
  // Numbers are never reused.
  EXPECT_EQ(Deploy(admin, sid), 3);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 1; }));

  // Deleting the service undeploys what it still has.
  ASSERT_EQ(admin.Delete("/api/service/" + sid).status, 200u);
  EXPECT_TRUE(WaitFor([&] { return fake->Instances().empty(); })) << "service delete left its instance running";
}

TEST(Instances, UnknownReportedInstanceIsUndeployed) {
  TestRoot t("in-unknown");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("stray"));
  const std::string ghost = "0123456789abcdef01234567";
  json body = {{"memory", 4096},
               {"vcpus", 4},
               {"jobs", json::array({{{"_id", ghost},
                                      {"job_name", "gone.test.gone.test"},
                                      {"instance_list", json::array({{{"instance_number", 3}, {"status", "RUNNING"}}})}}})}};
  ASSERT_EQ(fake->HeartbeatWith(body), 200u);
  EXPECT_TRUE(WaitFor([&] {
    for (auto& [job, n] : fake->Undeploys())
      if (job == ghost && n == 3) return true;
    return false;
  })) << "the root did not ask the cluster to drop an instance it does not know";

  // The same for an instance of a deleted application.
  std::string sid = OneService(admin, "doomed", Microservice("web"));
  Deploy(admin, sid);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 1; }));
  ASSERT_EQ(fake->Heartbeat(), 200u);
  WaitInstanceStatus(admin, sid, 0, "RUNNING");
  auto apps = admin.Get("/api/applications/");
  ASSERT_EQ(admin.Delete("/api/application/" + Oid(apps.json[0])).status, 200u);
  EXPECT_TRUE(WaitFor([&] { return fake->Instances().empty(); }, std::chrono::seconds(3)))
      << "BUG: DELETE /api/application/<id> sent no undeploy to the cluster. RootApi::DeleteApp "
         "(src/root/api_apps.cc) calls UndeployAll after store.DeleteApplication, and UndeployAll "
         "re-reads the instances, which the ON DELETE CASCADE has already removed";
  // The safety net: the cluster's next report of the now unknown instance gets it removed.
  ASSERT_EQ(fake->Heartbeat(), 200u);
  EXPECT_TRUE(WaitFor([&] { return fake->Instances().empty(); })) << "a reported orphan instance was not undeployed";
}

TEST(Instances, ConcurrentDeploysGetDistinctNumbers) {
  TestRoot t("in-concurrent");
  ApiClient admin = t->Admin();
  std::string sid = OneService(admin, "many", Microservice("web"));
  std::mutex mu;
  std::set<int64_t> numbers;
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        int64_t n = Deploy(admin, sid);
        std::lock_guard lock(mu);
        EXPECT_TRUE(numbers.insert(n).second) << "instance number " << n << " handed out twice";
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(numbers.size(), 20u);
  EXPECT_EQ(*numbers.begin(), 0);
  EXPECT_EQ(*numbers.rbegin(), 19);
  auto svc = admin.Get("/api/service/" + sid);
  EXPECT_EQ(svc.json["instance_list"].size(), 20u);
  EXPECT_EQ(svc.json["next_instance_progressive_number"], 20);
}

TEST(Instances, SchedulingFailuresAreNamed) {
  TestRoot t("in-fail");
  ApiClient admin = t->Admin();
  std::string sid = OneService(admin, "lonely", Microservice("web"));
  Deploy(admin, sid);
  json inst = WaitInstanceStatus(admin, sid, 0, "NoActiveClusterWithCapacity");
  EXPECT_EQ(inst.value("status", ""), "NoActiveClusterWithCapacity") << inst.dump();
  EXPECT_FALSE(inst.value("status_detail", "").empty()) << "failures carry a status_detail";
  EXPECT_EQ(admin.Get("/api/service/" + sid).json.value("status", ""), "NoActiveClusterWithCapacity");

  auto fake = StartFake(t.root(), ClusterCfg("only", 4096));
  std::string direct = OneService(
      admin, "pinned", Microservice("web", "test", {{"constraints", json::array({{{"type", "direct"}, {"cluster", "nowhere"}}})}}));
  Deploy(admin, direct);
  inst = WaitInstanceStatus(admin, direct, 0, "TargetClusterNotFound");
  EXPECT_EQ(inst.value("status", ""), "TargetClusterNotFound") << inst.dump();
  EXPECT_NE(inst.value("status_detail", "").find("nowhere"), std::string::npos) << inst.dump();

  std::string huge = OneService(admin, "huge", Microservice("web", "test", {{"memory", 100000}}));
  Deploy(admin, huge);
  inst = WaitInstanceStatus(admin, huge, 0, "NoActiveClusterWithCapacity");
  EXPECT_EQ(inst.value("status", ""), "NoActiveClusterWithCapacity") << inst.dump();
  EXPECT_NE(inst.value("status_detail", "").find("memory"), std::string::npos) << inst.dump();

  std::string uni = OneService(admin, "uni", Microservice("web", "test", {{"virtualization", "unikernel"}}));
  Deploy(admin, uni);
  inst = WaitInstanceStatus(admin, uni, 0, "NoActiveClusterWithCapacity");
  EXPECT_NE(inst.value("status_detail", "").find("unikernel"), std::string::npos) << inst.dump();
  EXPECT_TRUE(fake->Instances().empty()) << "nothing fit, nothing may reach the cluster";
}

TEST(Instances, SpreadAndAllowedClusters) {
  TestRoot t("in-spread");
  ApiClient admin = t->Admin();
  // The smaller cluster registers first: a tie would go to it.
  auto small = StartFake(t.root(), ClusterCfg("small", 2048));
  auto big = StartFake(t.root(), ClusterCfg("big", 8192));
  std::string sid = OneService(admin, "spread", Microservice("web", "test", {{"memory", 1000}}));
  Deploy(admin, sid);
  json inst = WaitInstanceStatus(admin, sid, 0, "CLUSTER_SCHEDULED");
  EXPECT_EQ(inst.value("cluster_id", ""), big->id()) << "spread must pick the cluster with more free memory";
  EXPECT_TRUE(WaitFor([&] { return big->Instances().size() == 1; }));

  std::string pinned = OneService(
      admin, "allowed", Microservice("web", "test", {{"memory", 1000}, {"constraints", json::array({{{"type", "clusters"}, {"allowed", {"small"}}}})}}));
  Deploy(admin, pinned);
  inst = WaitInstanceStatus(admin, pinned, 0, "CLUSTER_SCHEDULED");
  EXPECT_EQ(inst.value("cluster_id", ""), small->id()) << "clusters.allowed must restrict placement";
  EXPECT_TRUE(WaitFor([&] { return small->Instances().size() == 1; }));

  std::string direct = OneService(
      admin, "direct", Microservice("web", "test", {{"memory", 1000}, {"constraints", json::array({{{"type", "direct"}, {"cluster", "small"}}})}}));
  Deploy(admin, direct);
  EXPECT_EQ(WaitInstanceStatus(admin, direct, 0, "CLUSTER_SCHEDULED").value("cluster_id", ""), small->id());

  // The optimistic reservation: `small` (2048 MB) has 2000 MB reserved until it reports again.
  std::string more = OneService(
      admin, "more", Microservice("web", "test", {{"memory", 1000}, {"constraints", json::array({{{"type", "clusters"}, {"allowed", {"small"}}}})}}));
  Deploy(admin, more);
  inst = WaitInstanceStatus(admin, more, 0, "NoActiveClusterWithCapacity");
  EXPECT_EQ(inst.value("status", ""), "NoActiveClusterWithCapacity") << "a burst oversubscribed a cluster: " << inst.dump();
}

TEST(Instances, DeployRetriesOn503AndFailsOn400) {
  TestRoot t("in-retry");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("flaky", 8192, 503));
  std::string sid = OneService(admin, "retry", Microservice("web"));
  Deploy(admin, sid);
  ASSERT_TRUE(WaitFor([&] { return t->Log().find("deploy attempt failed") != std::string::npos; }))
      << "no failed attempt logged";
  EXPECT_EQ(InstanceOf(admin, sid, 0).value("status", ""), "CLUSTER_SCHEDULED") << "a 503 is not final";
  fake->set_deploy_answer(200);
  EXPECT_TRUE(WaitFor([&] { return fake->Instances().size() == 1; }, std::chrono::seconds(8)))
      << "the root gave up after a 503";

  fake->set_deploy_answer(400);
  Deploy(admin, sid);
  json inst = WaitInstanceStatus(admin, sid, 1, "FAILED");
  EXPECT_EQ(inst.value("status", ""), "FAILED") << inst.dump();
  EXPECT_NE(inst.value("status_detail", "").find("fake refusal"), std::string::npos)
      << "the cluster's message belongs in status_detail: " << inst.dump();
  EXPECT_EQ(fake->Instances().size(), 1u);
}

TEST(Instances, RestartResendsClusterScheduled) {
  TestRoot t("in-resend");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("resend", 8192, 503));
  std::string sid = OneService(admin, "resend", Microservice("web"));
  Deploy(admin, sid);
  // Stuck in CLUSTER_SCHEDULED: the cluster answered 503; the root goes down before it retries for good.
  ASSERT_TRUE(WaitFor([&] { return t->Log().find("deploy attempt failed") != std::string::npos; }));
  ASSERT_EQ(t->Stop(), 0);
  fake->set_deploy_answer(200);
  t->Start();
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 1; })) << "the restarted root did not re-send";
  ApiClient admin2 = t->Admin();
  EXPECT_EQ(InstanceOf(admin2, sid, 0).value("cluster_id", ""), fake->id());

  // A second restart re-sends what is still CLUSTER_SCHEDULED; the cluster keeps one copy.
  ASSERT_EQ(t->Stop(), 0);
  t->Start();
  ASSERT_TRUE(WaitFor([&] { return t->Log().find("instance sent") != std::string::npos; }))
      << "no re-send after the second restart";
  EXPECT_EQ(fake->Instances().size(), 1u);
  ApiClient admin3 = t->Admin();
  // Its report (sent by hand: the fake still knows the old port) makes it RUNNING.
  json jobs = json::array({{{"_id", sid}, {"instance_list", json::array({{{"instance_number", 0}, {"status", "RUNNING"}}})}}});
  auto hb = admin3.Call(verb::verb::post, "/api/information/" + fake->id(),
                        json{{"memory", 8192}, {"vcpus", 8}, {"jobs", jobs}}.dump(), fake->secret());
  ASSERT_EQ(hb.status, 200u) << hb.body;
  EXPECT_EQ(WaitInstanceStatus(admin3, sid, 0, "RUNNING").value("status", ""), "RUNNING");
}

}  // namespace
}  // namespace oak::it
