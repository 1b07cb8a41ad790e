// The cluster core against a recording bus, a manual clock and a real SQLite store.
#include "cluster/manager.h"

#include <gtest/gtest.h>

#include <set>

#include "cluster/one_node_cluster.h"
#include "support/process.h"

namespace oak::cluster {
namespace {

using nlohmann::json;
using testing::TempDir;

class RecordingBus : public Bus {
 public:
  Status Publish(std::string_view topic, std::string_view payload) override {
    sent.emplace_back(std::string(topic), json::parse(payload));
    return Status::Ok();
  }
  std::vector<std::pair<std::string, json>> sent;
  std::vector<json> To(const std::string& node_id, const std::string& what) const {
    std::vector<json> out;
    for (auto& [t, p] : sent)
      if (t == "nodes/" + node_id + "/control/" + what) out.push_back(p);
    return out;
  }
};

json Service(const std::string& name, int memory = 100) {
  return {{"job_name", name}, {"microservice_name", "svc"}, {"virtualization", "container"}, {"memory", memory},
          {"vcpus", 1}, {"code", "docker.io/library/nginx:latest"}};
}

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenSqliteStore(dir_ / "cluster.db");
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    Restart();
  }
  // A fresh registry and manager over the same store, as after a process restart.
  void Restart() {
    manager_.reset();
    nodes_ = std::make_unique<NodeRegistry>(*store_, clock_, 6000);
    ASSERT_TRUE(nodes_->Load().ok());
    manager_ = std::make_unique<Manager>(*store_, *nodes_, bus_, clock_, ManagerOptions{});
    ASSERT_TRUE(manager_->Load().ok());
    manager_->OnChange([this](const InstanceKey& k) { changes_.push_back(k); });
  }
  std::string AddNode(const std::string& name, int vcpus = 4, int memory = 4096, const std::string& arch = "amd64") {
    NodeDescription d;
    d.host = name;
    d.ip = "10.0.0." + std::to_string(nodes_->Nodes().size() + 1);
    d.vcpus = vcpus;
    d.memory_mb = memory;
    d.disk_mb = 10000;
    d.arch = arch;
    d.virtualization = {"container"};
    auto n = nodes_->Register(d);
    EXPECT_TRUE(n.ok());
    Report((*n)->rec.id, memory);
    return (*n)->rec.id;
  }
  void Report(const std::string& id, int free_mb, const std::string& instances = "") {
    std::string body = R"({"cpu_percent": 5, "memory_percent": 10, "memory": )" + std::to_string(free_mb);
    if (!instances.empty()) body += R"(, "instances": )" + instances;
    manager_->OnMessage("nodes/" + id + "/information", body + "}");
  }
  void Event(const std::string& id, const std::string& name, int n, const std::string& status) {
    manager_->OnMessage("nodes/" + id + "/job",
                        json{{"sname", name}, {"instance", n}, {"status", status}, {"publicip", "10.9.9.9"}}.dump());
  }
  void Ended(const std::string& id, const std::string& name, int n, const std::string& status,
             const std::string& detail) {
    manager_->OnMessage("nodes/" + id + "/job",
                        json{{"sname", name}, {"instance", n}, {"status", status}, {"status_detail", detail}}.dump());
  }
  // Lets `ms` pass in steps of at most a second, the `live` nodes reporting and the manager ticking
  // at every step, as the cluster's loop does.
  void Pass(int64_t ms, const std::vector<std::string>& live) {
    while (ms > 0) {
      int64_t step = std::min<int64_t>(ms, 1000);
      clock_.Advance(step);
      ms -= step;
      for (const auto& id : live) Report(id, 4096);
      manager_->Tick();
    }
  }
  const Instance& Inst(const std::string& job, int n) {
    const Instance* i = manager_->Find({job, n});
    EXPECT_NE(i, nullptr);
    static Instance none;
    return i ? *i : none;
  }

  TempDir dir_{"cluster-manager"};
  ManualClock clock_;
  RecordingBus bus_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<NodeRegistry> nodes_;
  std::unique_ptr<Manager> manager_;
  std::vector<InstanceKey> changes_;
};

TEST_F(ManagerTest, PlacesOnANodeAndFollowsItsEvents) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job1", 0, Service("app.ns.web.ns")).ok());
  EXPECT_EQ(Inst("job1", 0).status, "NODE_SCHEDULED");
  EXPECT_EQ(Inst("job1", 0).node_id, a);
  auto deploys = bus_.To(a, "deploy");
  ASSERT_EQ(deploys.size(), 1u);
  EXPECT_EQ(deploys[0]["instance_number"], 0);
  EXPECT_EQ(deploys[0]["job_name"], "app.ns.web.ns");

  Event(a, "app.ns.web.ns", 0, "CREATING");
  Event(a, "app.ns.web.ns", 0, "RUNNING");
  EXPECT_EQ(Inst("job1", 0).status, "RUNNING");
  EXPECT_EQ(Inst("job1", 0).publicip, "10.9.9.9");
  EXPECT_GE(changes_.size(), 3u);

  // The root re-sending the same deploy changes nothing.
  ASSERT_TRUE(manager_->Deploy("job1", 0, Service("app.ns.web.ns")).ok());
  EXPECT_EQ(bus_.To(a, "deploy").size(), 1u);
  EXPECT_EQ(Inst("job1", 0).status, "RUNNING");

  ASSERT_TRUE(manager_->Undeploy("job1", -1).ok());
  EXPECT_EQ(manager_->Find({"job1", 0}), nullptr);
  auto deletes = bus_.To(a, "delete");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(deletes[0], (json{{"job_name", "app.ns.web.ns"}, {"virtualization", "container"}, {"instance_number", 0}}));
  EXPECT_EQ(manager_->Undeploy("job1", -1).code(), Code::kNotFound);
}

TEST_F(ManagerTest, ReservationsStopABurstFromOversubscribingANode) {
  std::string a = AddNode("small", 2, 1000);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(manager_->Deploy("job", i, Service("a.b.c.d", 400)).ok());
  int placed = 0;
  for (int i = 0; i < 4; ++i) placed += Inst("job", i).status == "NODE_SCHEDULED";
  EXPECT_EQ(placed, 2);  // 2 vcpus, 1000 MB: the third 400 MB/1 vcpu instance does not fit
  EXPECT_EQ(Inst("job", 2).status, "NO_WORKER_CAPACITY");
  EXPECT_NE(Inst("job", 2).detail, "");
  // A report taken before the deploys arrived does not free what was just promised.
  Report(a, 1000);
  ASSERT_TRUE(manager_->Deploy("job", 2, Service("a.b.c.d", 400)).ok());
  EXPECT_EQ(Inst("job", 2).status, "NO_WORKER_CAPACITY");
  // Ending an instance frees its share, once a report after the burst confirms the memory.
  Event(a, "a.b.c.d", 0, "DEAD");
  Report(a, 600);
  ASSERT_TRUE(manager_->Deploy("job", 2, Service("a.b.c.d", 400)).ok());
  EXPECT_EQ(Inst("job", 2).status, "NODE_SCHEDULED");
}

TEST_F(ManagerTest, ConstraintsFailWithTheRightStatus) {
  AddNode("x86", 4, 4096, "amd64");
  json arm = Service("a.b.arm.d");
  arm["arch"] = {"arm64"};
  ASSERT_TRUE(manager_->Deploy("j1", 0, arm).ok());
  EXPECT_EQ(Inst("j1", 0).status, "NO_QUALIFIED_WORKER_FOUND");
  EXPECT_NE(Inst("j1", 0).detail.find("arch"), std::string::npos) << Inst("j1", 0).detail;
  ASSERT_TRUE(manager_->Deploy("j2", 0, Service("a.b.big.d", 1 << 20)).ok());
  EXPECT_EQ(Inst("j2", 0).status, "NO_WORKER_CAPACITY");
  json direct = Service("a.b.direct.d");
  direct["constraints"] = {{{"type", "direct"}, {"node", "x86"}}};
  ASSERT_TRUE(manager_->Deploy("j3", 0, direct).ok());
  EXPECT_EQ(Inst("j3", 0).status, "NODE_SCHEDULED");
  direct["job_name"] = "a.b.direct2.d";
  direct["constraints"] = {{{"type", "direct"}, {"node", "elsewhere"}}};
  ASSERT_TRUE(manager_->Deploy("j4", 0, direct).ok());
  EXPECT_TRUE(Inst("j4", 0).status == "NO_QUALIFIED_WORKER_FOUND" || Inst("j4", 0).status == "NO_NODE_FOUND")
      << Inst("j4", 0).status;
}

TEST_F(ManagerTest, AHostPortIsPublishedOncePerNode) {
  std::string a = AddNode("a"), b = AddNode("b");
  json web = Service("a.b.web.d");
  web["port"] = "8080:80;9000:9000/udp";
  ASSERT_TRUE(manager_->Deploy("web", 0, web).ok());
  ASSERT_TRUE(manager_->Deploy("web", 1, web).ok());
  EXPECT_EQ(Inst("web", 0).status, "NODE_SCHEDULED");
  EXPECT_EQ(Inst("web", 1).status, "NODE_SCHEDULED");
  EXPECT_NE(Inst("web", 0).node_id, Inst("web", 1).node_id) << "the second instance avoids the taken port";
  ASSERT_TRUE(manager_->Deploy("web", 2, web).ok());
  EXPECT_EQ(Inst("web", 2).status, "NO_QUALIFIED_WORKER_FOUND");
  EXPECT_NE(Inst("web", 2).detail.find("host port 8080/tcp or 9000/udp already published"), std::string::npos)
      << Inst("web", 2).detail;
  // Another protocol or port is free; an undeployed instance frees its ports.
  json other = Service("a.b.other.d");
  other["port"] = "8080:80/udp";
  ASSERT_TRUE(manager_->Deploy("other", 0, other).ok());
  EXPECT_EQ(Inst("other", 0).status, "NODE_SCHEDULED");
  const std::string first = Inst("web", 0).node_id;
  ASSERT_TRUE(manager_->Undeploy("web", 0).ok());
  Event(first, "a.b.web.d", 0, "UNDEPLOYED");
  ASSERT_TRUE(manager_->Deploy("web", 3, web).ok());
  EXPECT_EQ(Inst("web", 3).status, "NODE_SCHEDULED") << Inst("web", 3).detail;
  EXPECT_EQ(Inst("web", 3).node_id, first);
  EXPECT_TRUE(first == a || first == b);
}

TEST_F(ManagerTest, InvalidDeploysNameTheField) {
  AddNode("a");
  EXPECT_EQ(manager_->Deploy("j", 0, json::array()).code(), Code::kInvalid);
  Status s = manager_->Deploy("j", 0, json{{"memory", 1}});
  EXPECT_EQ(s.message().rfind("job_name:", 0), 0u) << s.message();
  json bad = Service("a.b.c.d");
  bad["memory"] = "lots";
  s = manager_->Deploy("j", 0, bad);
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_NE(s.message().find("memory"), std::string::npos);
  EXPECT_TRUE(manager_->instances().empty());
}

TEST_F(ManagerTest, LostNodeFailsAndReschedulesAndTheReturningNodeIsCleanedUp) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  Event(a, "a.b.c.d", 0, "RUNNING");
  std::string b = AddNode("b");
  manager_->OnMessage("nodes/" + a + "/will", R"({"id": "x", "reason": "connection lost"})");
  EXPECT_EQ(Inst("job", 0).node_id, b);
  EXPECT_EQ(Inst("job", 0).status, "NODE_SCHEDULED");
  ASSERT_EQ(bus_.To(b, "deploy").size(), 1u);
  // A comes back still running the old copy: it is told to delete it, so it never runs twice.
  Report(a, 4096, R"([{"sname": "a.b.c.d", "instance": 0, "status": "RUNNING"}])");
  ASSERT_EQ(bus_.To(a, "delete").size(), 1u);
  EXPECT_EQ(Inst("job", 0).node_id, b);
}

TEST_F(ManagerTest, AnInstanceANodeNoLongerListsIsDeployedAgain) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  Event(a, "a.b.c.d", 0, "RUNNING");
  ASSERT_EQ(bus_.To(a, "deploy").size(), 1u);
  Report(a, 4096, R"([{"sname": "a.b.c.d", "instance": 0, "status": "RUNNING"}])");
  Report(a, 4096, "[]");  // one report may predate the deploy: not yet
  EXPECT_EQ(Inst("job", 0).status, "RUNNING");
  EXPECT_EQ(bus_.To(a, "deploy").size(), 1u);
  Report(a, 4096, "[]");  // the node restarted from scratch and lost it
  EXPECT_EQ(Inst("job", 0).status, "NODE_SCHEDULED");
  EXPECT_EQ(Inst("job", 0).node_id, a) << "the node is fine: the instance goes back there";
  EXPECT_EQ(bus_.To(a, "deploy").size(), 2u);
  EXPECT_NE(Inst("job", 0).detail.find("moved from node a (it no longer runs the instance)"), std::string::npos)
      << Inst("job", 0).detail;
  // Just placed, it is not missing yet: the deploy may still be on its way.
  Report(a, 4096, "[]");
  Report(a, 4096, "[]");
  EXPECT_EQ(bus_.To(a, "deploy").size(), 2u);
}

TEST_F(ManagerTest, ANodeThatNeverReportsAfterARestartLosesItsInstances) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  Event(a, "a.b.c.d", 0, "RUNNING");
  std::string b = AddNode("b");
  Restart();  // nodes come back inactive until they report; a died meanwhile, b reports
  Report(b, 4096, "[]");
  manager_->Tick();
  EXPECT_EQ(Inst("job", 0).status, "RUNNING") << "within the start-up grace, a may still report";
  clock_.Advance(ManagerOptions{}.placement_grace_ms);
  Report(b, 4096, "[]");
  manager_->Tick();
  EXPECT_EQ(Inst("job", 0).node_id, b);
  EXPECT_EQ(Inst("job", 0).status, "NODE_SCHEDULED");
  EXPECT_NE(Inst("job", 0).detail.find("moved from node a (no report since the cluster started)"), std::string::npos)
      << Inst("job", 0).detail;
}

TEST_F(ManagerTest, SilentNodesBecomeInactive) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  clock_.Advance(11000);  // past the start-up grace too: a lost instance fails instead of waiting
  manager_->Tick();
  EXPECT_FALSE(nodes_->Find(a)->active);
  EXPECT_NE(Inst("job", 0).detail.find("node a lost"), std::string::npos) << Inst("job", 0).detail;
  EXPECT_EQ(Inst("job", 0).status, "NO_QUALIFIED_WORKER_FOUND");
}

TEST_F(ManagerTest, MalformedAndStrayMessagesAreDropped) {
  std::string a = AddNode("a");
  uint64_t before = manager_->counters().dropped_messages;
  manager_->OnMessage("nodes/" + a + "/job", "not json");
  manager_->OnMessage("nodes/" + a + "/job", R"({"sname": 5})");
  manager_->OnMessage("nodes/" + a + "/information", R"({"cpu_percent": "x"})");
  manager_->OnMessage("nodes/unknown/information", R"({"cpu_percent": 1})");
  manager_->OnMessage("garbage", "{}");
  EXPECT_EQ(manager_->counters().dropped_messages, before + 5);
  // An instance this cluster does not know, reported running: dropped, and the node told to stop it.
  Event(a, "x.y.z.w", 3, "RUNNING");
  EXPECT_EQ(bus_.To(a, "delete").size(), 1u);
  EXPECT_TRUE(manager_->instances().empty());
  // Still works afterwards.
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  EXPECT_EQ(Inst("job", 0).status, "NODE_SCHEDULED");
}

TEST_F(ManagerTest, StateSurvivesARestart) {
  std::string a = AddNode("a", 2, 1000);
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d", 600)).ok());
  Event(a, "a.b.c.d", 0, "RUNNING");
  Restart();
  EXPECT_EQ(Inst("job", 0).status, "RUNNING");
  EXPECT_EQ(Inst("job", 0).node_id, a);
  Report(a, 1000);
  // The allocation was recounted: a second 600 MB instance does not fit next to the first.
  ASSERT_TRUE(manager_->Deploy("job", 1, Service("a.b.c.d", 600)).ok());
  EXPECT_EQ(Inst("job", 1).status, "NO_WORKER_CAPACITY");
}

TEST_F(ManagerTest, EveryInstanceSurvivesARestartThoughEachDeployRewritesTheService) {
  // The root's deploy body carries the instance number, so every deploy stores the service again;
  // that must not drop the instances already stored under it.
  std::string a = AddNode("a", 4, 4000);
  for (int n = 0; n < 3; ++n) {
    json doc = Service("a.b.c.d");
    doc["instance_number"] = n;
    ASSERT_TRUE(manager_->Deploy("job", n, doc).ok());
  }
  Event(a, "a.b.c.d", 0, "RUNNING");
  Restart();
  for (int n = 0; n < 3; ++n) {
    ASSERT_NE(manager_->Find({"job", n}), nullptr) << "instance " << n << " forgotten by the restart";
    EXPECT_EQ(Inst("job", n).node_id, a);
  }
  EXPECT_EQ(Inst("job", 0).status, "RUNNING");
}

TEST_F(ManagerTest, DeploysWaitForNodesAfterAStart) {
  // No node has reported yet (just restarted): the instance is held, then placed on the first report.
  NodeDescription d;
  d.host = "late";
  d.vcpus = 4;
  d.memory_mb = 4096;
  d.virtualization = {"container"};
  auto n = nodes_->Register(d);
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  EXPECT_EQ(Inst("job", 0).status, "CLUSTER_SCHEDULED");
  Report((*n)->rec.id, 4096);
  EXPECT_EQ(Inst("job", 0).status, "NODE_SCHEDULED");
}

// --- Restart policy ---

json OneShot(const std::string& name) {
  json doc = Service(name);
  doc["one_shot"] = true;
  return doc;
}

TEST_F(ManagerTest, ACrashIsRestartedAfterABackOffThatDoublesUpToTheCap) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  Event(a, "a.b.c.d", 0, "RUNNING");
  size_t changes = changes_.size();
  Ended(a, "a.b.c.d", 0, "DEAD", "exited with code 3");
  EXPECT_EQ(Inst("job", 0).status, "DEAD");
  EXPECT_EQ(Inst("job", 0).detail, "exited with code 3; restart 1 in 1 s");
  EXPECT_GT(changes_.size(), changes) << "the root is told";
  // The root re-sending its deploy during the back-off does not cut it short.
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  Pass(999, {a});
  EXPECT_EQ(bus_.To(a, "deploy").size(), 1u) << "no deploy before the back-off";
  Pass(1, {a});
  ASSERT_EQ(bus_.To(a, "deploy").size(), 2u) << "one deploy after it";
  EXPECT_EQ(bus_.To(a, "deploy")[1]["instance_number"], 0);
  EXPECT_EQ(Inst("job", 0).status, "NODE_SCHEDULED");
  EXPECT_EQ(Inst("job", 0).node_id, a);
  EXPECT_EQ(Inst("job", 0).detail, "restarted 1 time; last: exited with code 3");
  Event(a, "a.b.c.d", 0, "RUNNING");
  EXPECT_EQ(Inst("job", 0).detail, "restarted 1 time; last: exited with code 3");

  const int64_t expected_s[] = {2, 4, 8, 16, 32, 60, 60};
  size_t deploys = 2;
  int restart = 2;
  for (int64_t wait_s : expected_s) {
    Ended(a, "a.b.c.d", 0, "DEAD", "killed by signal 9 (SIGKILL)");
    EXPECT_EQ(Inst("job", 0).detail,
              "killed by signal 9 (SIGKILL); restart " + std::to_string(restart) + " in " + std::to_string(wait_s) + " s");
    Pass(wait_s * 1000 - 1, {a});
    EXPECT_EQ(bus_.To(a, "deploy").size(), deploys) << "restart " << restart;
    Pass(1, {a});
    EXPECT_EQ(bus_.To(a, "deploy").size(), ++deploys) << "restart " << restart;
    EXPECT_EQ(Inst("job", 0).detail, "restarted " + std::to_string(restart) + " times; last: killed by signal 9 (SIGKILL)");
    Event(a, "a.b.c.d", 0, "CREATING");
    Event(a, "a.b.c.d", 0, "RUNNING");
    ++restart;
  }
  // A repeated DEAD of one end is not a second crash.
  Ended(a, "a.b.c.d", 0, "DEAD", "exited with code 1");
  std::string detail = Inst("job", 0).detail;
  Ended(a, "a.b.c.d", 0, "DEAD", "exited with code 1");
  EXPECT_EQ(Inst("job", 0).detail, detail);
}

TEST_F(ManagerTest, RunningForTheResetPeriodForgetsTheCrashes) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  for (int i = 0; i < 2; ++i) {
    Event(a, "a.b.c.d", 0, "RUNNING");
    Ended(a, "a.b.c.d", 0, "DEAD", "exited with code 3");
    Pass(2000, {a});
  }
  Event(a, "a.b.c.d", 0, "RUNNING");
  EXPECT_EQ(Inst("job", 0).restarts, 2);
  Pass(5 * 60'000 - 1000, {a});
  EXPECT_EQ(Inst("job", 0).detail, "restarted 2 times; last: exited with code 3");
  Pass(1000, {a});
  EXPECT_EQ(Inst("job", 0).restarts, 0);
  EXPECT_EQ(Inst("job", 0).status, "RUNNING");
  EXPECT_EQ(Inst("job", 0).detail, "");
  Ended(a, "a.b.c.d", 0, "DEAD", "exited with code 3");
  EXPECT_EQ(Inst("job", 0).detail, "exited with code 3; restart 1 in 1 s");
}

TEST_F(ManagerTest, AOneShotThatCompletedStaysAndOneThatFailedIsRetriedUpToTheLimit) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("done", 0, OneShot("a.b.done.d")).ok());
  Event(a, "a.b.done.d", 0, "RUNNING");
  Ended(a, "a.b.done.d", 0, "COMPLETED", "");
  ASSERT_TRUE(manager_->Deploy("fails", 0, OneShot("a.b.fails.d")).ok());
  auto deploys_of = [&](const std::string& job_name) {
    size_t n = 0;
    for (const json& d : bus_.To(a, "deploy")) n += d["job_name"] == job_name;
    return n;
  };
  for (int attempt = 1; attempt <= 6; ++attempt) {
    EXPECT_EQ(deploys_of("a.b.fails.d"), size_t(attempt));
    Event(a, "a.b.fails.d", 0, "RUNNING");
    Ended(a, "a.b.fails.d", 0, "DEAD", "exited with code 1");
    Pass(120'000, {a});
  }
  EXPECT_EQ(deploys_of("a.b.fails.d"), 6u);
  EXPECT_EQ(Inst("fails", 0).status, "DEAD");
  EXPECT_EQ(Inst("fails", 0).detail, "exited with code 1; gave up after 6 attempts");
  EXPECT_EQ(deploys_of("a.b.done.d"), 1u);
  EXPECT_EQ(Inst("done", 0).status, "COMPLETED");
  // Deployed again by the root, it starts afresh.
  ASSERT_TRUE(manager_->Deploy("fails", 0, OneShot("a.b.fails.d")).ok());
  EXPECT_EQ(deploys_of("a.b.fails.d"), 7u);
  EXPECT_EQ(Inst("fails", 0).detail, "");
}

TEST_F(ManagerTest, AFailedStartIsNotRestarted) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  Ended(a, "a.b.c.d", 0, "FAILED", "pull docker.io/library/nope: manifest unknown");
  Pass(120'000, {a});
  EXPECT_EQ(bus_.To(a, "deploy").size(), 1u);
  EXPECT_EQ(Inst("job", 0).status, "FAILED");
  EXPECT_EQ(Inst("job", 0).detail, "pull docker.io/library/nope: manifest unknown");
}

TEST_F(ManagerTest, AnUndeployDuringTheBackOffCancelsTheRestart) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  Event(a, "a.b.c.d", 0, "RUNNING");
  Ended(a, "a.b.c.d", 0, "DEAD", "exited with code 3");
  ASSERT_TRUE(manager_->Undeploy("job", 0).ok());
  EXPECT_EQ(bus_.To(a, "delete").size(), 1u) << "the ended container is removed from its node";
  Pass(10'000, {a});
  EXPECT_EQ(bus_.To(a, "deploy").size(), 1u);
  EXPECT_EQ(manager_->Find({"job", 0}), nullptr);
}

TEST_F(ManagerTest, ARestartGoesElsewhereWhenItsNodeIsGoneOrFull) {
  std::string a = AddNode("a", 2, 1000);
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d", 600)).ok());
  ASSERT_EQ(Inst("job", 0).node_id, a);
  std::string b = AddNode("b", 2, 1000);
  Event(a, "a.b.c.d", 0, "RUNNING");
  Ended(a, "a.b.c.d", 0, "DEAD", "out of memory: killed by the kernel's OOM killer (limit 600 MB)");
  manager_->OnMessage("nodes/" + a + "/will", R"({"id": "x", "reason": "connection lost"})");
  EXPECT_EQ(Inst("job", 0).status, "DEAD") << "an ended instance is not lost with its node";
  Pass(1000, {b});
  EXPECT_EQ(Inst("job", 0).node_id, b);
  EXPECT_EQ(Inst("job", 0).status, "NODE_SCHEDULED");
  EXPECT_EQ(bus_.To(b, "deploy").size(), 1u);
  EXPECT_EQ(bus_.To(a, "deploy").size(), 1u);

  // Node a is back but its memory went to another instance while this one waited: it no longer
  // qualifies, so the restart goes to the scheduler's choice (b, where it was).
  Report(a, 1000);
  Event(b, "a.b.c.d", 0, "RUNNING");
  Ended(b, "a.b.c.d", 0, "DEAD", "exited with code 2");
  ASSERT_TRUE(manager_->Deploy("big", 0, Service("a.b.big.d", 800)).ok());
  std::string big_node = Inst("big", 0).node_id;
  ASSERT_FALSE(big_node.empty());
  Pass(2000, {a, b});
  EXPECT_NE(Inst("job", 0).node_id, big_node);
  EXPECT_EQ(Inst("job", 0).status, "NODE_SCHEDULED");
  EXPECT_EQ(Inst("job", 0).detail, "restarted 2 times; last: exited with code 2");
}

TEST_F(ManagerTest, TheCrashCountSurvivesARestartOfTheCluster) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  Event(a, "a.b.c.d", 0, "RUNNING");
  Ended(a, "a.b.c.d", 0, "DEAD", "exited with code 3");
  Pass(1000, {a});
  Event(a, "a.b.c.d", 0, "RUNNING");
  Restart();
  EXPECT_EQ(Inst("job", 0).detail, "restarted 1 time; last: exited with code 3");
  Report(a, 4096);
  Ended(a, "a.b.c.d", 0, "DEAD", "exited with code 3");
  EXPECT_EQ(Inst("job", 0).detail, "exited with code 3; restart 2 in 2 s");
  // Restarted while the restart was pending: it still comes, on time.
  Restart();
  EXPECT_EQ(Inst("job", 0).status, "DEAD");
  Report(a, 4096);
  Pass(1000, {a});
  EXPECT_EQ(bus_.To(a, "deploy").size(), 2u);
  Pass(1000, {a});
  EXPECT_EQ(bus_.To(a, "deploy").size(), 3u);
  EXPECT_EQ(Inst("job", 0).detail, "restarted 2 times; last: exited with code 3");
}

}  // namespace
}  // namespace oak::cluster

namespace oak::cluster {
namespace {

TEST(ManagerDeferred, StatusChangesOfOneTurnAreWrittenTogether) {
  RecordingBus bus;
  std::vector<std::function<void()>> later;
  OneNodeCluster c("cluster-deferred", bus, 4, 4096,
                   ManagerOptions{.defer = [&](std::function<void()> fn) { later.push_back(std::move(fn)); }});
  ASSERT_FALSE(c.node().empty());
  Manager& m = c.manager();
  ASSERT_TRUE(m.Deploy("job", 0, Service("a.b.c.d")).ok());
  // A deploy is on disk before the root gets its answer.
  auto rows = c.store().ListInstances();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].status, "NODE_SCHEDULED");
  later.clear();
  for (const char* st : {"CREATING", "RUNNING"}) c.Event(0, st);
  EXPECT_EQ((*c.store().ListInstances())[0].status, "NODE_SCHEDULED") << "written at the end of the turn";
  ASSERT_EQ(later.size(), 1u) << "one flush per turn, however many changes";
  later[0]();
  EXPECT_EQ((*c.store().ListInstances())[0].status, "RUNNING");
}

TEST(ManagerDeferred, ABatchIsOnDiskBeforeDeployBatchReturnsAndBadDocumentsFailOnlyTheirJob) {
  RecordingBus bus;
  std::vector<std::function<void()>> later;  // never run: DeployBatch must not rely on them
  OneNodeCluster c("cluster-batch", bus, 64, 64 * 1024,
                   ManagerOptions{.defer = [&](std::function<void()> fn) { later.push_back(std::move(fn)); }});
  ASSERT_FALSE(c.node().empty());
  Manager& m = c.manager();

  json web = Service("a.b.web.d"), db = Service("a.b.db.d"), bad = Service("a.b.bad.d");
  bad["memory"] = "lots";
  std::vector<Manager::DeployJob> jobs{{"web", &web, {0, 1, 2}}, {"bad", &bad, {0}}, {"db", &db, {7, -1}}};
  auto out = m.DeployBatch(jobs);
  ASSERT_EQ(out.size(), 3u);
  for (const Status& s : out[0]) EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(out[1][0].code(), Code::kInvalid);
  EXPECT_TRUE(out[2][0].ok());
  EXPECT_EQ(out[2][1].code(), Code::kInvalid);

  auto rows = c.store().ListInstances();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 4u) << "every accepted instance is stored before the answer";
  for (auto& r : *rows) EXPECT_EQ(r.status, "NODE_SCHEDULED");
  // The stored document carries no instance number; each deploy message carries its own.
  auto stored = c.store().GetService("web");
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_FALSE(json::parse((*stored)->doc_text).contains("instance_number"));
  std::set<int64_t> numbers;
  for (auto& [topic, payload] : bus.sent) {
    if (payload.value("job_name", "") != "a.b.web.d") continue;
    numbers.insert(payload["instance_number"].get<int64_t>());
    json expect = web;
    expect["instance_number"] = payload["instance_number"];
    EXPECT_EQ(payload, expect);
  }
  EXPECT_EQ(numbers, (std::set<int64_t>{0, 1, 2}));
}

TEST_F(ManagerTest, NodesAreBehindWhenManyDeploysWaitNotForOneStraggler) {
  std::string a = AddNode("a", 1000, 100000), b = AddNode("b", 1000, 100000);
  const std::string name = "app.ns.web.ns";
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(manager_->Deploy("job", i, Service(name, 10)).ok());
  EXPECT_FALSE(manager_->NodesBehind()) << "deploys just sent are not late";
  clock_.Advance(Manager::kBehindAfterMs + 1);
  EXPECT_TRUE(manager_->NodesBehind()) << "40 deploys unanswered for over a second";

  // The nodes answer all but one: a single straggler does not hold the intake.
  for (int i = 1; i < 40; ++i) Event(Inst("job", i).node_id, name, i, "CREATING");
  EXPECT_FALSE(manager_->NodesBehind());

  // Many fresh deploys beside a few late ones: under one in eight are late.
  for (int i = 0; i < 15; ++i) ASSERT_TRUE(manager_->Deploy("late", i, Service("app.ns.late.ns", 10)).ok());
  clock_.Advance(Manager::kBehindAfterMs + 1);
  EXPECT_TRUE(manager_->NodesBehind()) << "16 late deploys";
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(manager_->Deploy("fresh", i, Service("app.ns.fresh.ns", 10)).ok());
  EXPECT_FALSE(manager_->NodesBehind()) << "16 late of 216 in flight";
  (void)a;
  (void)b;
}

TEST_F(ManagerTest, ANodeReportAheadOfTheClusterMovesTheInstanceOnButNeverBack) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  ASSERT_TRUE(manager_->Deploy("job", 1, Service("a.b.c.d")).ok());
  Event(a, "a.b.c.d", 1, "RUNNING");
  // Restarted before the node's events for instance 0 were written (or they were lost).
  Restart();
  EXPECT_EQ(Inst("job", 0).status, "NODE_SCHEDULED");
  Report(a, 4096,
         R"([{"sname": "a.b.c.d", "instance": 0, "status": "RUNNING"},
             {"sname": "a.b.c.d", "instance": 1, "status": "CREATING"}])");
  EXPECT_EQ(Inst("job", 0).status, "RUNNING");
  EXPECT_EQ(Inst("job", 0).node_id, a);
  EXPECT_EQ(Inst("job", 1).status, "RUNNING") << "a report older than the last event does not move it back";

  // An instance that ended stays ended, though a report taken before the end lists it live.
  ASSERT_TRUE(manager_->Deploy("done", 0, Service("a.b.done.d")).ok());
  Ended(a, "a.b.done.d", 0, "FAILED", "exit 1");
  Report(a, 4096, R"([{"sname": "a.b.done.d", "instance": 0, "status": "RUNNING"}])");
  EXPECT_EQ(Inst("done", 0).status, "FAILED");
}

TEST_F(ManagerTest, TheInstanceAsTextIsTheInstanceAsJson) {
  std::string a = AddNode("a");
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  Ended(a, "a.b.c.d", 0, "FAILED", "exit \"1\"\n\u00e9 and \\ more");  // needs escapes
  ASSERT_TRUE(manager_->Deploy("job", 1, Service("a.b.c.d")).ok());
  Event(a, "a.b.c.d", 1, "RUNNING");
  manager_->OnMessage("nodes/" + a + "/jobs/resources",
                      R"({"services": [{"job_name": "a.b.c.d", "instance": 1, "cpu_percent": 12.5,
                                        "memory_percent": 3, "disk": 7}]})");
  ASSERT_TRUE(manager_->Deploy("big", 0, Service("a.b.big.d", 1'000'000)).ok());  // placed nowhere
  for (const auto& [key, inst] : manager_->instances()) {
    std::string text;
    manager_->AppendInstanceJson(text, inst);
    json parsed = json::parse(text);
    EXPECT_EQ(parsed, manager_->InstanceJson(inst)) << text;
    EXPECT_TRUE(parsed["cpu_percent"].is_number_float()) << text;
  }
  EXPECT_EQ(Inst("job", 1).cpu_percent, 12.5) << "the usage report reached the instance";
}

}  // namespace
}  // namespace oak::cluster
