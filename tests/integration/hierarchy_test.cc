// Root -> cluster -> node with real processes: `oak root`, `oak cluster` with its mosquitto, and
// `oak node --runtime simulated` (SPEC sections 5-7).
#include <fstream>
#include <set>
#include <sstream>

#include "integration/hierarchy.h"

namespace oak::it {
namespace {

json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, false);
}

TEST(Hierarchy, OakestraExampleRunsThroughRootClusterAndNode) {
  Hierarchy h("hier-example");
  auto& c1 = h.AddCluster("munich");
  h.AddNode(c1, "worker-1");
  std::string cid = h.WaitClusterReady("munich", 1);
  ASSERT_FALSE(cid.empty()) << h.Dump();
  std::string nid = h.NodeId(c1, "worker-1");
  ASSERT_FALSE(nid.empty());

  json sla = ReadJsonFile(oak::testing::CompatDir() + "/example_curl.json");
  if (!sla.is_object()) GTEST_SKIP() << "Oakestra's example_curl.json not found under " << oak::testing::CompatDir();
  json app = CreateApp(h.admin(), sla, "clientserver");
  auto svcs = h.admin().Get("/api/services/" + Oid(app));
  ASSERT_EQ(svcs.json.size(), 2u) << svcs.body;
  std::vector<std::string> sids;
  for (auto& s : svcs.json) sids.push_back(Oid(s));
  for (auto& sid : sids) EXPECT_EQ(DeployInstance(h.admin(), sid), 0);

  for (auto& sid : sids) {
    json inst = WaitInstanceStatus(h.admin(), sid, 0, "RUNNING", std::chrono::seconds(15));
    ASSERT_EQ(inst.value("status", ""), "RUNNING") << inst.dump() << "\n" << h.Dump();
    EXPECT_EQ(inst.value("cluster_id", ""), cid);
    EXPECT_EQ(inst.value("worker_id", ""), nid);
    EXPECT_EQ(inst.value("publicip", ""), "127.0.0.1") << inst.dump();
  }
  // The root lists the node through its cluster.
  auto listed = h.admin().Get("/api/nodes");
  ASSERT_EQ(listed.status, 200u) << listed.body;
  ASSERT_EQ(listed.json.size(), 1u) << listed.body;
  EXPECT_EQ(listed.json[0].value("node_name", ""), "worker-1");
  EXPECT_EQ(listed.json[0].value("cluster_id", ""), cid);
  EXPECT_EQ(listed.json[0].value("cluster_name", ""), "munich");
  EXPECT_EQ(h.root().Client().Get("/api/nodes").status, 401u);
  // The cluster's node list shows what runs where, and the node itself reports both.
  ASSERT_TRUE(WaitFor([&] {
    json nodes = c1.Nodes();
    return nodes.is_array() && nodes.size() == 1 && nodes[0]["instances"].size() == 2 &&
           nodes[0]["reported_instances"].size() == 2;
  })) << c1.Nodes().dump();

  for (auto& sid : sids) {
    auto r = h.admin().Delete("/api/service/" + sid + "/instance/0");
    EXPECT_EQ(r.status, 200u) << r.body;
  }
  for (auto& sid : sids) EXPECT_TRUE(InstanceOf(h.admin(), sid, 0).is_null());
  // The node removed them: its own reports no longer list them.
  EXPECT_TRUE(WaitFor([&] {
    json nodes = c1.Nodes();
    return nodes.is_array() && nodes.size() == 1 && nodes[0]["instances"].empty() &&
           nodes[0]["reported_instances"].empty();
  })) << c1.Nodes().dump() << "\n" << h.Dump();
}

TEST(Hierarchy, RestartedClusterRecoversItsNodesAndInstances) {
  Hierarchy h("hier-restart");
  auto& c = h.AddCluster("phoenix");
  h.AddNode(c, "w1");
  std::string cid = h.WaitClusterReady("phoenix", 1);
  ASSERT_FALSE(cid.empty()) << h.Dump();
  auto sids = CreateServices(h.admin(), "keep", json::array({Microservice("web", "test", {{"vcpus", 0}})}));
  ASSERT_EQ(sids.size(), 1u);
  DeployInstance(h.admin(), sids[0]);
  json before = WaitInstanceStatus(h.admin(), sids[0], 0, "RUNNING", std::chrono::seconds(15));
  ASSERT_EQ(before.value("status", ""), "RUNNING") << before.dump() << h.Dump();

  c.Start();  // SIGTERM and start again, on a new API port, with the same data dir and broker port
  EXPECT_EQ(h.WaitClusterReady("phoenix", 1), cid) << "the cluster keeps its id at the root";
  json nodes;
  ASSERT_TRUE(WaitFor([&] {
    nodes = c.Nodes();
    return nodes.is_array() && nodes.size() == 1 && nodes[0].value("active", false) &&
           nodes[0]["instances"].size() == 1;
  }, std::chrono::seconds(15))) << nodes.dump() << h.Dump();
  EXPECT_EQ(nodes[0]["instances"][0].value("status", ""), "RUNNING");
  // The root hears of the node at once (not a whole heartbeat later), at the cluster's new address.
  ASSERT_TRUE(WaitFor([&] {
    auto r = h.admin().Get("/api/clusters");
    for (auto& x : r.json)
      if (x.value("cluster_id", "") == cid)
        return x.value("manager_url", "") == c.url() && x.value("active_nodes", 0) == 1 &&
               x["virtualization"].size() == 1;
    return false;
  }, std::chrono::seconds(5))) << h.admin().Get("/api/clusters").body;
  json after = InstanceOf(h.admin(), sids[0], 0);
  EXPECT_EQ(after.value("status", ""), "RUNNING") << after.dump();
  EXPECT_EQ(after.value("worker_id", ""), before.value("worker_id", ""));
  // The root reaches the cluster at its new address.
  DeployInstance(h.admin(), sids[0]);
  json second = WaitInstanceStatus(h.admin(), sids[0], 1, "RUNNING", std::chrono::seconds(15));
  EXPECT_EQ(second.value("status", ""), "RUNNING") << second.dump() << h.Dump();
}

TEST(Hierarchy, ConstraintsPlaceOrFailClearly) {
  Hierarchy h("hier-constraints");
  auto& munich = h.AddCluster("munich", "48.13,11.58,30");
  auto& paris = h.AddCluster("paris", "48.85,2.35,30");
  h.AddNode(munich, "m-1");
  h.AddNode(munich, "m-2");
  h.AddNode(paris, "p-1");
  std::string mid = h.WaitClusterReady("munich", 2);
  std::string pid = h.WaitClusterReady("paris", 1);
  ASSERT_FALSE(mid.empty() || pid.empty()) << h.Dump();
  std::string m2 = h.NodeId(munich, "m-2");

  json direct_node = Microservice("dnode", "test",
                                  {{"constraints", {{{"type", "direct"}, {"node", "m-2"}, {"cluster", "munich"}}}}});
  json direct_cluster = Microservice("dcluster", "test", {{"constraints", {{{"type", "direct"}, {"cluster", "paris"}}}}});
  json allow = Microservice("allow", "test", {{"constraints", {{{"type", "clusters"}, {"allowed", {"paris"}}}}}});
  json geo = Microservice("geo", "test",
                          {{"constraints", {{{"type", "geo"}, {"location", "48.86,2.34"}, {"threshold", 100}}}}});
  json huge = Microservice("huge", "test", {{"memory", 10'000'000}});
  // The nodes report this machine's cores; the placements here should not run out of them.
  for (json* ms : {&direct_node, &direct_cluster, &allow, &geo}) (*ms)["vcpus"] = 0;
  json missing_node = Microservice("nonode", "test",
                                   {{"constraints", {{{"type", "direct"}, {"node", "nowhere"}, {"cluster", "munich"}}}}});
  auto sids = CreateServices(h.admin(), "cons",
                             json::array({direct_node, direct_cluster, allow, geo, huge, missing_node}));
  ASSERT_EQ(sids.size(), 6u);
  for (auto& sid : sids) DeployInstance(h.admin(), sid);

  json a = WaitInstanceStatus(h.admin(), sids[0], 0, "RUNNING", std::chrono::seconds(15));
  EXPECT_EQ(a.value("worker_id", ""), m2) << a.dump() << h.Dump();
  EXPECT_EQ(a.value("cluster_id", ""), mid);
  for (int i : {1, 2, 3}) {
    json b = WaitInstanceStatus(h.admin(), sids[i], 0, "RUNNING", std::chrono::seconds(15));
    EXPECT_EQ(b.value("cluster_id", ""), pid) << i << ": " << b.dump();
  }
  json too_big = WaitInstanceStatus(h.admin(), sids[4], 0, "NoActiveClusterWithCapacity");
  EXPECT_EQ(too_big.value("status", ""), "NoActiveClusterWithCapacity") << too_big.dump();
  EXPECT_NE(too_big.value("status_detail", ""), "");
  // The root cannot see node names: the cluster finds none and says so.
  json nonode;
  WaitFor([&] {
    nonode = InstanceOf(h.admin(), sids[5], 0);
    std::string s = nonode.value("status", "");
    return s == "NO_QUALIFIED_WORKER_FOUND" || s == "NO_NODE_FOUND";
  });
  EXPECT_TRUE(nonode.value("status", "") == "NO_QUALIFIED_WORKER_FOUND" || nonode.value("status", "") == "NO_NODE_FOUND")
      << nonode.dump();
  EXPECT_NE(nonode.value("status_detail", "").find("nowhere"), std::string::npos) << nonode.dump();
}

TEST(Hierarchy, TwoClustersShareTheLoadAndASilentOneIsLeftOut) {
  Hierarchy h("hier-two");
  auto& a = h.AddCluster("alpha");
  auto& b = h.AddCluster("beta");
  h.AddNode(a, "a-1");
  h.AddNode(b, "b-1");
  std::string aid = h.WaitClusterReady("alpha", 1);
  std::string bid = h.WaitClusterReady("beta", 1);
  ASSERT_FALSE(aid.empty() || bid.empty()) << h.Dump();
  auto sids = CreateServices(h.admin(), "load", json::array({Microservice("web", "test", {{"vcpus", 0}, {"memory", 10}})}));
  ASSERT_EQ(sids.size(), 1u);
  for (int i = 0; i < 6; ++i) DeployInstance(h.admin(), sids[0]);
  std::map<std::string, int> per_cluster;
  for (int i = 0; i < 6; ++i) {
    json inst = WaitInstanceStatus(h.admin(), sids[0], i, "RUNNING", std::chrono::seconds(15));
    ASSERT_EQ(inst.value("status", ""), "RUNNING") << inst.dump() << h.Dump();
    per_cluster[inst.value("cluster_id", "")]++;
  }
  EXPECT_GE(per_cluster[aid], 2) << "spread should use both clusters";
  EXPECT_GE(per_cluster[bid], 2) << "spread should use both clusters";

  b.Signal(SIGSTOP);  // beta stops heartbeating (its processes stay)
  ASSERT_TRUE(WaitFor([&] {
    auto r = h.admin().Get("/api/clusters/active");
    if (!r.json.is_array()) return false;
    for (auto& c : r.json)
      if (c.value("cluster_name", "") == "beta") return false;
    return true;
  }, std::chrono::seconds(10)));
  for (int i = 6; i < 10; ++i) DeployInstance(h.admin(), sids[0]);
  for (int i = 6; i < 10; ++i) {
    json inst = WaitInstanceStatus(h.admin(), sids[0], i, "RUNNING", std::chrono::seconds(15));
    EXPECT_EQ(inst.value("cluster_id", ""), aid) << inst.dump();
  }
  b.Signal(SIGCONT);
}

}  // namespace
}  // namespace oak::it
