// Instance logs from the node up to the user: the root asks the instance's cluster, the cluster
// asks the node over MQTT (docs/api.md "Instance logs", docs/mqtt.md). Real processes: `oak root`,
// `oak cluster` with its mosquitto, `oak node --runtime simulated`.
#include <csignal>

#include "integration/hierarchy.h"

namespace oak::it {
namespace {

using namespace std::chrono_literals;

std::string LogsPath(const std::string& sid, int64_t n, const std::string& query = "") {
  return "/api/service/" + sid + "/instance/" + std::to_string(n) + "/logs" + query;
}

TEST(InstanceLogs, ReachTheUserThroughRootClusterAndNode) {
  Hierarchy h("hier-logs");
  auto& c = h.AddCluster("logs", "48.13,11.58,50", {"--logs-timeout-ms", "1500"});
  auto& node = h.AddNode(c, "w1");
  std::string cid = h.WaitClusterReady("logs", 1);
  ASSERT_FALSE(cid.empty()) << h.Dump();
  std::string nid = h.NodeId(c, "w1");
  auto sids = CreateServices(h.admin(), "logs",
                             json::array({Microservice("web", "test", {{"vcpus", 0}}),
                                          Microservice("huge", "test", {{"memory", 10'000'000}})}));
  ASSERT_EQ(sids.size(), 2u);
  DeployInstance(h.admin(), sids[0]);
  json inst = WaitInstanceStatus(h.admin(), sids[0], 0, "RUNNING", 15s);
  ASSERT_EQ(inst.value("status", ""), "RUNNING") << inst.dump() << h.Dump();

  auto r = h.admin().Get(LogsPath(sids[0], 0));
  ASSERT_EQ(r.status, 200u) << r.body << h.Dump();
  EXPECT_EQ(r.json.value("logs", ""), "simulated: CREATING\nsimulated: RUNNING\n") << r.body;
  EXPECT_EQ(r.json.value("cluster_id", ""), cid);
  EXPECT_EQ(r.json.value("worker_id", ""), nid);
  auto tail = h.admin().Get(LogsPath(sids[0], 0, "?max_bytes=8"));
  ASSERT_EQ(tail.status, 200u) << tail.body;
  EXPECT_EQ(tail.json.value("logs", ""), "RUNNING\n") << "the last max_bytes bytes";

  // What is unknown, or not allowed, is named and answered without asking anyone.
  auto unknown = h.admin().Get(LogsPath(sids[0], 7));
  EXPECT_EQ(unknown.status, 404u) << unknown.body;
  EXPECT_NE(unknown.message().find("instance"), std::string::npos) << unknown.body;
  EXPECT_EQ(h.admin().Get(LogsPath("0123456789abcdef01234567", 0)).status, 404u);
  auto bad = h.admin().Get(LogsPath(sids[0], 0, "?max_bytes=lots"));
  EXPECT_EQ(bad.status, 400u) << bad.body;
  EXPECT_NE(bad.message().find("max_bytes"), std::string::npos) << bad.body;
  EXPECT_EQ(h.root().Client().Get(LogsPath(sids[0], 0)).status, 401u);
  ApiClient alice = MakeUser(h.root(), h.admin(), "alice", "alice-password-1");
  auto foreign = alice.Get(LogsPath(sids[0], 0));
  EXPECT_EQ(foreign.status, 404u) << "another user's service answers like a missing one: " << foreign.body;
  EXPECT_EQ(oak::testing::ApiClient(c.url()).Get("/api/service/" + sids[0] + "/0/logs").status, 401u)
      << "the cluster's route takes the root's cluster secret only";

  // An instance that never reached a cluster has no logs anywhere yet.
  DeployInstance(h.admin(), sids[1]);
  json huge = WaitInstanceStatus(h.admin(), sids[1], 0, "NoActiveClusterWithCapacity");
  ASSERT_EQ(huge.value("status", ""), "NoActiveClusterWithCapacity") << huge.dump();
  auto unplaced = h.admin().Get(LogsPath(sids[1], 0));
  EXPECT_EQ(unplaced.status, 409u) << unplaced.body;
  EXPECT_NE(unplaced.message().find("NoActiveClusterWithCapacity"), std::string::npos) << unplaced.body;

  // A frozen node keeps its connection but answers nothing: the cluster gives up after its
  // timeout and names the node.
  node.Signal(SIGSTOP);
  auto started = std::chrono::steady_clock::now();
  auto silent = h.admin().Get(LogsPath(sids[0], 0));
  auto took = std::chrono::steady_clock::now() - started;
  node.Signal(SIGCONT);
  EXPECT_EQ(silent.status, 504u) << silent.body;
  EXPECT_NE(silent.message().find("w1"), std::string::npos) << silent.body;
  EXPECT_GE(took, 1500ms);
  EXPECT_LT(took, 4s);
  // Once it runs again it answers again.
  auto back = h.admin().Get(LogsPath(sids[0], 0));
  EXPECT_EQ(back.status, 200u) << back.body;

  // A node that is gone: the cluster notices (last will) and takes its instance off it, so the
  // answer comes at once: the instance has no node now.
  node.Kill9();
  ASSERT_TRUE(WaitFor([&] {
    json nodes = c.Nodes();
    return nodes.is_array() && nodes.size() == 1 && !nodes[0].value("active", true);
  }, 10s)) << c.Nodes().dump();
  auto gone = h.admin().Get(LogsPath(sids[0], 0));
  EXPECT_EQ(gone.status, 409u) << gone.body;
  EXPECT_NE(gone.message().find("no node"), std::string::npos) << gone.body;

  // A cluster that is gone: the root says which one it cannot reach.
  c.Kill9();
  auto unreachable = h.admin().Get(LogsPath(sids[0], 0));
  EXPECT_EQ(unreachable.status, 502u) << unreachable.body;
  EXPECT_NE(unreachable.message().find("cluster logs is unreachable"), std::string::npos) << unreachable.body;
}

}  // namespace
}  // namespace oak::it
