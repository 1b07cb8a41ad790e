// Failures at every tier, with real processes: `oak root`, `oak cluster` with its mosquitto and
// `oak node --runtime simulated`. Each test breaks one part (kill -9, SIGSTOP) and checks that the
// instances the user asked for run again, once each, and that the root's view matches.
#include <signal.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "integration/hierarchy.h"

namespace oak::it {
namespace {

using Clock = std::chrono::steady_clock;

json SmallService(const std::string& name) { return Microservice(name, "test", {{"vcpus", 0}, {"memory", 10}}); }

// Instance number -> instance document, for instances 0..n-1 of the service.
std::map<int64_t, json> Instances(const ApiClient& c, const std::string& sid) {
  std::map<int64_t, json> out;
  auto r = c.Get("/api/service/" + sid);
  if (r.status != 200 || !r.json.contains("instance_list")) return out;
  for (auto& i : r.json["instance_list"]) out[i.value("instance_number", int64_t{-1})] = i;
  return out;
}

// Whether all `n` instances are RUNNING and `pred` holds for each.
bool AllRunning(const ApiClient& c, const std::string& sid, size_t n, const std::function<bool(const json&)>& pred) {
  auto all = Instances(c, sid);
  if (all.size() != n) return false;
  for (auto& [num, i] : all)
    if (i.value("status", "") != "RUNNING" || !pred(i)) return false;
  return true;
}

// Live instances the nodes of a cluster say they run, by node name: what really runs.
std::map<std::string, int> ReportedLive(const ClusterProcess& c) {
  std::map<std::string, int> out;
  json nodes = c.Nodes();
  if (!nodes.is_array()) return out;
  for (auto& n : nodes) {
    int live = 0;
    for (auto& r : n["reported_instances"]) {
      std::string s = r.value("status", "");
      if (s == "RUNNING" || s == "CREATING" || s == "CREATED" || s == "NODE_SCHEDULED") ++live;
    }
    out[n.value("node_name", "")] = live;
  }
  return out;
}

int Sum(const std::map<std::string, int>& m) {
  int n = 0;
  for (auto& [k, v] : m) n += v;
  return n;
}

// One cluster with workers w1 and w2 running `n` instances of one service, RUNNING at the root and
// in the nodes' own reports. The victim is a worker that runs some of them (the scheduler balances
// on measured free memory, so either may), the survivor the other one.
class TwoWorkers {
 public:
  explicit TwoWorkers(const std::string& name) : h_(name), c_(h_.AddCluster("workers")) {
    proc_["w1"] = &h_.AddNode(c_, "w1");
    proc_["w2"] = &h_.AddNode(c_, "w2");
  }
  ::testing::AssertionResult Start(int n) {
    if (h_.WaitClusterReady(c_.config().name, 2).empty()) return ::testing::AssertionFailure() << h_.Dump();
    auto sids = CreateServices(h_.admin(), "app", json::array({SmallService("web")}));
    if (sids.size() != 1) return ::testing::AssertionFailure() << "service not created";
    sid = sids[0];
    for (int i = 0; i < n; ++i) DeployInstance(h_.admin(), sid);
    if (!WaitFor([&] {
          return AllRunning(h_.admin(), sid, n, [](const json&) { return true; }) && Sum(ReportedLive(c_)) == n;
        }, std::chrono::seconds(15)))
      return ::testing::AssertionFailure() << c_.Nodes().dump() << "\n" << h_.Dump();
    const std::string id1 = h_.NodeId(c_, "w1"), id2 = h_.NodeId(c_, "w2");
    for (auto& [num, i] : Instances(h_.admin(), sid)) {
      std::string w = i.value("worker_id", "");
      if (w != id1 && w != id2) continue;
      victim = w == id1 ? "w1" : "w2";
      victim_id = w;
      survivor = w == id1 ? "w2" : "w1";
      survivor_id = w == id1 ? id2 : id1;
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "no instance on w1 or w2";
  }
  Hierarchy& h() { return h_; }
  ClusterProcess& cluster() { return c_; }
  NodeProcess& victim_process() { return *proc_[victim]; }
  // Whether every instance is RUNNING on the survivor, by the root's view.
  bool AllOnSurvivor(size_t n) {
    return AllRunning(h_.admin(), sid, n, [&](const json& i) { return i.value("worker_id", "") == survivor_id; });
  }

  std::string sid, victim, victim_id, survivor, survivor_id;

 private:
  Hierarchy h_;
  ClusterProcess& c_;
  std::map<std::string, NodeProcess*> proc_;
};

TEST(Failover, AKilledWorkersInstancesRunAgainOnAnotherNode) {
  TwoWorkers w("fo-kill");
  ASSERT_TRUE(w.Start(4));
  std::set<int64_t> on_victim;
  for (auto& [n, i] : Instances(w.h().admin(), w.sid))
    if (i.value("worker_id", "") == w.victim_id) on_victim.insert(n);

  w.victim_process().Kill9();  // the broker publishes its last will at once
  ASSERT_TRUE(WaitFor([&] { return w.AllOnSurvivor(4); }, std::chrono::seconds(10)))
      << w.h().admin().Get("/api/service/" + w.sid).body << "\n" << w.h().Dump();
  for (auto& [n, i] : Instances(w.h().admin(), w.sid)) {
    if (!on_victim.count(n)) continue;
    EXPECT_NE(i.value("status_detail", "").find("moved from node " + w.victim + " (connection lost)"),
              std::string::npos)
        << i.dump();
  }
  EXPECT_TRUE(WaitFor([&] { return ReportedLive(w.cluster())[w.survivor] == 4; })) << w.cluster().Nodes().dump();
  json nodes = w.cluster().Nodes();
  for (auto& n : nodes)
    if (n.value("node_name", "") == w.victim) {
      EXPECT_FALSE(n.value("active", true)) << n.dump();
    }
}

TEST(Failover, AFrozenWorkerIsReplacedAndItsCopiesGoWhenItThaws) {
  TwoWorkers w("fo-freeze");
  ASSERT_TRUE(w.Start(4));

  // No will: only its silence tells (the harness runs clusters with --node-timeout 3).
  w.victim_process().Signal(SIGSTOP);
  ASSERT_TRUE(WaitFor([&] { return w.AllOnSurvivor(4); }, std::chrono::seconds(15)))
      << w.h().admin().Get("/api/service/" + w.sid).body << "\n" << w.h().Dump();
  int moved = 0;
  for (auto& [n, i] : Instances(w.h().admin(), w.sid))
    if (i.value("status_detail", "").find("moved from node " + w.victim) != std::string::npos) ++moved;
  EXPECT_GT(moved, 0);

  // Thawed, the node still runs its old copies: the cluster has it remove every one, so that each
  // instance runs once.
  w.victim_process().Signal(SIGCONT);
  ASSERT_TRUE(WaitFor([&] {
    auto live = ReportedLive(w.cluster());
    return live[w.victim] == 0 && live[w.survivor] == 4;
  }, std::chrono::seconds(15)))
      << w.cluster().Nodes().dump() << "\n" << w.h().Dump();
  EXPECT_TRUE(w.AllOnSurvivor(4));
}

TEST(Failover, ALostClustersInstancesMoveAndTheReturningClusterDropsItsCopies) {
  Hierarchy h("fo-cluster");  // the root counts a cluster lost after 3 s of silence
  auto& a = h.AddCluster("alpha");
  h.AddNode(a, "a1");
  const std::string aid = h.WaitClusterReady("alpha", 1);
  ASSERT_FALSE(aid.empty()) << h.Dump();
  auto sids = CreateServices(h.admin(), "lost", json::array({SmallService("web")}));
  for (int i = 0; i < 3; ++i) DeployInstance(h.admin(), sids[0]);
  ASSERT_TRUE(WaitFor([&] { return AllRunning(h.admin(), sids[0], 3, [&](const json& i) {
                          return i.value("cluster_id", "") == aid;
                        }); },
                      std::chrono::seconds(15)))
      << h.Dump();
  auto& b = h.AddCluster("beta", "48.2,11.6,50");
  h.AddNode(b, "b1");
  const std::string bid = h.WaitClusterReady("beta", 1);
  ASSERT_FALSE(bid.empty()) << h.Dump();

  a.Kill9();  // its broker goes with it; node a1 keeps its instances and keeps trying to reconnect
  ASSERT_TRUE(WaitFor([&] { return AllRunning(h.admin(), sids[0], 3, [&](const json& i) {
                          return i.value("cluster_id", "") == bid && !i.value("worker_id", "").empty();
                        }); },
                      std::chrono::seconds(20)))
      << h.admin().Get("/api/service/" + sids[0]).body << "\n" << h.Dump();
  EXPECT_TRUE(WaitFor([&] { return ReportedLive(b)["b1"] == 3; })) << b.Nodes().dump();

  // alpha comes back with its state and its node, which still runs the three old copies. The root
  // names them in the answer to its report, and alpha removes them.
  a.Start();
  ASSERT_FALSE(h.WaitClusterReady("alpha", 1).empty()) << h.Dump();
  EXPECT_TRUE(WaitFor([&] {
    auto live = ReportedLive(a);
    return live.count("a1") && live["a1"] == 0;
  }, std::chrono::seconds(15)))
      << a.Nodes().dump() << "\n" << h.Dump();
  EXPECT_TRUE(WaitFor([&] { json n = a.Nodes(); return n.is_array() && n.size() == 1 && n[0]["instances"].empty(); }))
      << a.Nodes().dump();
  EXPECT_TRUE(AllRunning(h.admin(), sids[0], 3, [&](const json& i) { return i.value("cluster_id", "") == bid; }))
      << h.admin().Get("/api/service/" + sids[0]).body;
  EXPECT_EQ(ReportedLive(b)["b1"], 3) << b.Nodes().dump();
}

TEST(Failover, InstancesNoOtherClusterCanTakeWaitForTheirClusterAndReturnWithIt) {
  Hierarchy h("fo-strand");
  auto& a = h.AddCluster("solo");
  h.AddNode(a, "s1");
  const std::string aid = h.WaitClusterReady("solo", 1);
  ASSERT_FALSE(aid.empty()) << h.Dump();
  auto sids = CreateServices(h.admin(), "strand", json::array({SmallService("web")}));
  for (int i = 0; i < 2; ++i) DeployInstance(h.admin(), sids[0]);
  ASSERT_TRUE(WaitFor([&] { return AllRunning(h.admin(), sids[0], 2, [](const json&) { return true; }); },
                      std::chrono::seconds(15)))
      << h.Dump();

  a.Signal(SIGSTOP);  // a partition, as the root sees it: silence, while the instances go on
  ASSERT_TRUE(WaitFor([&] {
    auto all = Instances(h.admin(), sids[0]);
    for (auto& [n, i] : all)
      if (i.value("status", "") != "FAILED") return false;
    return all.size() == 2;
  }, std::chrono::seconds(15)))
      << h.admin().Get("/api/service/" + sids[0]).body;
  for (auto& [n, i] : Instances(h.admin(), sids[0])) {
    const std::string detail = i.value("status_detail", "");
    EXPECT_NE(detail.find("cluster solo lost (no report for 3 s); not placed elsewhere"), std::string::npos) << detail;
    EXPECT_EQ(i.value("cluster_id", ""), aid);
  }
  // Thawed, the cluster's next report lists everything it holds (the root asks for it), well
  // before its periodic full list, and the instances are RUNNING again where they were.
  a.Signal(SIGCONT);
  EXPECT_TRUE(WaitFor([&] { return AllRunning(h.admin(), sids[0], 2, [&](const json& i) {
                          return i.value("cluster_id", "") == aid;
                        }); },
                      std::chrono::seconds(6)))
      << h.admin().Get("/api/service/" + sids[0]).body << "\n" << h.Dump();
}

TEST(Failover, WhileTheRootIsDownClustersHealAndTheRootCatchesUpOnReturn) {
  TwoWorkers w("fo-rootdown");
  ASSERT_TRUE(w.Start(4));

  w.h().root().Kill9();
  // A client gets a clear failure, not a hang.
  auto down = w.h().admin().Get("/api/service/" + w.sid);
  EXPECT_EQ(down.status, 0u);
  EXPECT_FALSE(down.error.empty());
  // The cluster heals on its own: the victim's instances move to the survivor.
  w.victim_process().Kill9();
  ASSERT_TRUE(WaitFor([&] { return ReportedLive(w.cluster())[w.survivor] == 4; }, std::chrono::seconds(10))) << w.cluster().Nodes().dump();

  w.h().root().Restart();
  // The root's view matches within about one heartbeat (1 s here) of the cluster reaching it.
  EXPECT_TRUE(WaitFor([&] { return w.AllOnSurvivor(4); }, std::chrono::seconds(8)))
      << w.h().admin().Get("/api/service/" + w.sid).body << "\n" << w.h().Dump();
}

TEST(Failover, ARootKilledDuringADeployBurstRunsEveryAcknowledgedInstanceOnce) {
  Hierarchy h("fo-burst");
  auto& c = h.AddCluster("bc");
  h.AddNode(c, "w1");
  h.AddNode(c, "w2");
  ASSERT_FALSE(h.WaitClusterReady("bc", 2).empty()) << h.Dump();
  auto sids = CreateServices(h.admin(), "burst", json::array({SmallService("web"), SmallService("api")}));
  ASSERT_EQ(sids.size(), 2u);

  // 1,000 deploys from 8 threads; the root is killed once 300 are acknowledged.
  constexpr int kThreads = 8, kPerThread = 125;
  std::mutex mu;
  std::set<std::pair<std::string, int64_t>> acked;
  std::atomic<bool> killed{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      ApiClient api = h.admin();
      for (int i = 0; i < kPerThread && !killed; ++i) {
        const std::string& sid = sids[static_cast<size_t>(t + i) % sids.size()];
        auto r = api.Post("/api/service/" + sid + "/instance", json::object());
        if (r.status != 200) return;  // the root is gone (or going)
        std::lock_guard lock(mu);
        acked.emplace(sid, r.json.value("instance_number", int64_t{-1}));
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return acked.size() >= 300;
  }, std::chrono::seconds(30)));
  h.root().Kill9();
  killed = true;
  for (auto& th : clients) th.join();
  const size_t acknowledged = acked.size();
  ASSERT_LT(acknowledged, static_cast<size_t>(kThreads * kPerThread)) << "the kill came too late to test anything";

  h.root().Restart();
  // Every acknowledged instance runs; instances the root stored but never acknowledged are at
  // most the requests in flight at the kill (one per client thread); each runs exactly once.
  std::set<std::pair<std::string, int64_t>> stored;
  ASSERT_TRUE(WaitFor([&] {
    stored.clear();
    for (const auto& sid : sids)
      for (auto& [n, i] : Instances(h.admin(), sid)) {
        if (i.value("status", "") != "RUNNING") return false;
        stored.emplace(sid, n);
      }
    return true;
  }, std::chrono::seconds(60)))
      << h.Dump();
  for (const auto& k : acked) EXPECT_TRUE(stored.count(k)) << "acknowledged instance " << k.second << " lost";
  EXPECT_LE(stored.size(), acknowledged + kThreads);
  EXPECT_TRUE(WaitFor([&] { return Sum(ReportedLive(c)) == static_cast<int>(stored.size()); },
                      std::chrono::seconds(15)))
      << Sum(ReportedLive(c)) << " running on the nodes, " << stored.size() << " stored";
}

TEST(Failover, ABrokerCrashLosesAndMovesNothing) {
  TwoWorkers w("fo-broker");
  ASSERT_TRUE(w.Start(6));
  Hierarchy& h = w.h();
  ClusterProcess& c = w.cluster();
  const std::vector<std::string> sids = {w.sid};
  std::map<int64_t, std::string> where;
  for (auto& [n, i] : Instances(h.admin(), sids[0])) where[n] = i.value("worker_id", "");

  // The broker crashes, and crashes again each time it is restarted, for longer than the nodes'
  // timeout (3 s): their silence is the broker's fault, not theirs, and must not move anything.
  pid_t broker = c.BrokerPid();
  ASSERT_GT(broker, 0) << c.Log();
  // What the user sees meanwhile: every instance stays RUNNING (sampled at the root).
  std::atomic<bool> sampling{true};
  std::mutex seen_mu;
  std::set<std::string> seen;  // statuses other than RUNNING
  std::thread sampler([&] {
    while (sampling) {
      for (auto& [n, i] : Instances(h.admin(), sids[0]))
        if (i.value("status", "") != "RUNNING") {
          std::lock_guard lock(seen_mu);
          seen.insert(i.value("status", "") + ": " + i.value("status_detail", ""));
        }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  struct StopSampler {
    std::atomic<bool>& on;
    std::thread& th;
    ~StopSampler() {
      on = false;
      th.join();
    }
  } stop_sampler{sampling, sampler};
  const auto crash_until = Clock::now() + std::chrono::seconds(4);
  int kills = 0;
  while (Clock::now() < crash_until) {
    ASSERT_EQ(::kill(broker, SIGKILL), 0);
    ++kills;
    const pid_t old = broker;
    ASSERT_TRUE(WaitFor([&] { return (broker = c.BrokerPid()) > 0 && broker != old; }, std::chrono::seconds(15)))
        << c.Log();
  }
  ASSERT_GE(kills, 3);
  // The cluster's own client is back on the last broker within about a second: it retries its
  // own broker every second instead of backing off (to 4-8 s after this many failed attempts).
  const auto last_up = Clock::now();
  EXPECT_TRUE(WaitFor([&] {
    const std::string log = c.Log();
    const size_t up = log.rfind("mqtt broker up"), conn = log.rfind("connected to the broker");
    return up != std::string::npos && conn != std::string::npos && conn > up;
  }, std::chrono::milliseconds(2'500)))
      << "not reconnected " << std::chrono::duration<double>(Clock::now() - last_up).count() << " s after the broker came back\n"
      << c.Log();
  // The cluster starts a last mosquitto; both nodes log in again with their credentials.
  auto connects = [&] {
    const std::string log = c.Log();
    size_t n = 0;
    for (size_t at = log.find("connected to the broker"); at != std::string::npos;
         at = log.find("connected to the broker", at + 1))
      ++n;
    return n;
  };
  // The cluster reconnects too (with its own back-off, so maybe not to every short-lived broker).
  ASSERT_TRUE(WaitFor([&] { return connects() >= 2; }, std::chrono::seconds(20))) << c.Log();
  std::map<std::string, int64_t> reported_at;
  for (auto& n : c.Nodes()) reported_at[n.value("node_name", "")] = n.value("last_report_ms", int64_t{0});
  // Each node reports again through the new broker.
  ASSERT_TRUE(WaitFor([&] {
    json nodes = c.Nodes();
    if (!nodes.is_array() || nodes.size() != 2) return false;
    for (auto& n : nodes)
      if (!n.value("active", false) || n.value("last_report_ms", int64_t{0}) <= reported_at[n.value("node_name", "")])
        return false;
    return Sum(ReportedLive(c)) == 6;
  }, std::chrono::seconds(20)))
      << c.Nodes().dump() << "\n" << h.Dump();
  // Nothing moved, nothing lost, nothing doubled.
  for (auto& [n, i] : Instances(h.admin(), sids[0])) {
    EXPECT_EQ(i.value("status", ""), "RUNNING") << i.dump();
    EXPECT_EQ(i.value("worker_id", ""), where[n]) << i.dump();
  }
  json nodes = c.Nodes();
  for (auto& n : nodes) EXPECT_TRUE(n.value("active", false)) << n.dump();
  EXPECT_EQ(Sum(ReportedLive(c)), 6);
  std::lock_guard lock(seen_mu);
  EXPECT_TRUE(seen.empty()) << "the outage showed at the root: " << *seen.begin();
}

}  // namespace
}  // namespace oak::it
