// The cluster's link to a stand-in root: reports go one at a time, in the order they were built.
#include "cluster/root_link.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "cluster/one_node_cluster.h"
#include "root/counting_server.h"
#include "support/process.h"

namespace oak::cluster {
namespace {

using nlohmann::json;

class NullBus : public Bus {
 public:
  Status Publish(std::string_view, std::string_view) override { return Status::Ok(); }
};

// The stand-in root's answer to a registration.
std::pair<unsigned, std::string> Registered() {
  return {200, json{{"id", "c1"}, {"secret", "s1"}, {"heartbeat_interval_s", 1}}.dump()};
}

// A link to `root` that pushes 1 ms after a change.
RootLinkOptions LinkTo(const oak::testing::CountingServer& root) {
  RootLinkOptions o;
  o.root_url = "http://127.0.0.1:" + std::to_string(root.url().port);
  o.cluster_token = "t";
  o.name = "c";
  o.push_delay = std::chrono::milliseconds(1);
  return o;
}

const json kService{{"job_name", "a.b.c.d"}, {"virtualization", "container"}, {"memory", 1}, {"vcpus", 0}};

TEST(RootLinkTest, ReportsGoOneAtATimeSoTheLastOneReceivedIsTheNewest) {
  NullBus bus;
  OneNodeCluster c("cluster-root-link", bus, 64, 64 * 1024);
  ASSERT_FALSE(c.node().empty());

  boost::asio::io_context io;
  // A slow root: every answer takes 30 ms, so that pushes and heartbeats overlap if allowed to.
  oak::testing::CountingServer root(io, 0, std::chrono::milliseconds(30));
  std::map<int64_t, std::string> last;  // instance -> status the root received last
  root.handler = [&](const std::string& target, const std::string& body) -> std::pair<unsigned, std::string> {
    if (target == "/api/clusters/register") return Registered();
    json j = json::parse(body, nullptr, false);
    for (auto& job : j.value("jobs", json::array()))
      for (auto& i : job["instance_list"]) last[i["instance_number"].get<int64_t>()] = i.value("status", "");
    return {200, R"({"message":"ok"})"};
  };
  RootLink link(io, c.store(), c.nodes(), c.manager(), LinkTo(root));
  c.manager().OnChange([&](const InstanceKey& k) { link.MarkDirty(k); });
  link.Start();
  ASSERT_TRUE(oak::testing::PumpUntil(io, [&] { return link.registered(); }, std::chrono::seconds(5)));

  for (int64_t i = 0; i < 40; ++i) {
    ASSERT_TRUE(c.manager().Deploy("job", i, kService).ok());
    for (const char* st : {"CREATING", "RUNNING"}) {
      // Each change while earlier reports are still on their way.
      oak::testing::PumpUntil(io, [] { return false; }, std::chrono::milliseconds(3));
      c.Event(i, st);
    }
  }
  ASSERT_TRUE(oak::testing::PumpUntil(
      io,
      [&] {
        if (last.size() < 40) return false;
        for (auto& [i, st] : last)
          if (st != "RUNNING") return false;
        return true;
      },
      std::chrono::seconds(10)))
      << "an older status arrived after a newer one";
  EXPECT_EQ(root.max_concurrent, 1) << "two reports were in flight at once";
  EXPECT_LE(root.connections, 2);  // registration, then one kept-alive connection for the reports
  link.Stop();
}

TEST(RootLinkTest, StatusesInPassingReachTheRootOnlyWhenTheyLast) {
  NullBus bus;
  OneNodeCluster c("cluster-root-link-passing", bus, 64, 64 * 1024);
  ASSERT_FALSE(c.node().empty());

  boost::asio::io_context io;
  oak::testing::CountingServer root(io, 0, std::chrono::milliseconds(0));
  int reports = 0;
  std::map<int64_t, std::vector<std::string>> seen;  // instance -> statuses the root received, in order
  std::map<int64_t, std::chrono::steady_clock::time_point> first_seen;
  root.handler = [&](const std::string& target, const std::string& body) -> std::pair<unsigned, std::string> {
    if (target == "/api/clusters/register")  // no heartbeat but the first: only pushes carry the changes
      return {200, json{{"id", "c1"}, {"secret", "s1"}, {"heartbeat_interval_s", 3600}}.dump()};
    ++reports;
    json j = json::parse(body, nullptr, false);
    for (auto& job : j.value("jobs", json::array()))
      for (auto& i : job["instance_list"]) {
        int64_t n = i["instance_number"].get<int64_t>();
        seen[n].push_back(i.value("status", ""));
        first_seen.try_emplace(n, std::chrono::steady_clock::now());
      }
    return {200, R"({"message":"ok"})"};
  };
  RootLinkOptions o = LinkTo(root);
  o.passing_hold = std::chrono::milliseconds(1500);
  RootLink link(io, c.store(), c.nodes(), c.manager(), o);
  c.manager().OnChange([&](const InstanceKey& k) { link.MarkDirty(k); });
  link.Start();
  ASSERT_TRUE(oak::testing::PumpUntil(io, [&] { return reports >= 1; }, std::chrono::seconds(5)));

  // Instance 0 passes NODE_SCHEDULED and CREATING within a few milliseconds: the root hears RUNNING only.
  const auto deployed = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.manager().Deploy("job", 0, kService).ok());
  ASSERT_TRUE(c.manager().Deploy("job", 1, kService).ok());
  oak::testing::PumpUntil(io, [] { return false; }, std::chrono::milliseconds(3));
  c.Event(0, "CREATING");
  c.Event(1, "CREATING");
  oak::testing::PumpUntil(io, [] { return false; }, std::chrono::milliseconds(3));
  c.Event(0, "RUNNING");
  ASSERT_TRUE(oak::testing::PumpUntil(io, [&] { return !seen[0].empty(); }, std::chrono::seconds(5)));
  EXPECT_EQ(seen[0], std::vector<std::string>{"RUNNING"});

  // Instance 1 stays CREATING: the root hears it once it has lasted the hold, counted from its
  // first status in passing (NODE_SCHEDULED), not from its latest.
  ASSERT_TRUE(oak::testing::PumpUntil(io, [&] { return !seen[1].empty(); }, std::chrono::seconds(5)));
  EXPECT_EQ(seen[1], std::vector<std::string>{"CREATING"});
  EXPECT_GE(first_seen[1] - deployed, o.passing_hold);
  EXPECT_LT(first_seen[1] - deployed, o.passing_hold + std::chrono::seconds(3));

  // The node is lost and both move to a second one: their NODE_SCHEDULED there goes at once, or
  // the root would show instance 0 RUNNING on the lost node all the while.
  NodeDescription d;
  d.host = "second";
  d.vcpus = 64;
  d.memory_mb = 64 * 1024;
  d.virtualization = {"container"};
  auto second = c.nodes().Register(d);
  ASSERT_TRUE(second.ok());
  c.manager().OnMessage("nodes/" + (*second)->rec.id + "/information", json{{"memory", 64 * 1024}}.dump());
  seen.clear();
  const auto lost = std::chrono::steady_clock::now();
  c.manager().OnMessage("nodes/" + c.node() + "/will", "");
  ASSERT_TRUE(oak::testing::PumpUntil(io, [&] { return !seen[0].empty() && !seen[1].empty(); }, std::chrono::seconds(5)));
  EXPECT_EQ(seen[0], std::vector<std::string>{"NODE_SCHEDULED"});
  EXPECT_EQ(seen[1], std::vector<std::string>{"NODE_SCHEDULED"});
  EXPECT_LT(std::chrono::steady_clock::now() - lost, o.passing_hold);
  link.Stop();
}

TEST(RootLinkTest, AReportTheRootRefusesWith5xxIsSentAgain) {
  NullBus bus;
  OneNodeCluster c("cluster-root-link-507", bus, 4, 4096);
  ASSERT_FALSE(c.node().empty());

  boost::asio::io_context io;
  oak::testing::CountingServer root(io, 0, std::chrono::milliseconds(0));
  int refused = 0;
  std::string received;  // status of instance 0 the root accepted last
  root.handler = [&](const std::string& target, const std::string& body) -> std::pair<unsigned, std::string> {
    if (target == "/api/clusters/register") return Registered();
    if (body.find("RUNNING") != std::string::npos && refused < 1) {
      ++refused;
      return {507, R"({"message":"storage full: cannot write root.db"})"};
    }
    json j = json::parse(body, nullptr, false);
    for (auto& job : j.value("jobs", json::array()))
      for (auto& i : job["instance_list"]) received = i.value("status", "");
    return {200, R"({"message":"ok"})"};
  };
  RootLinkOptions o = LinkTo(root);
  o.full_sync_every = 1000;  // only the kept change can bring RUNNING to the root again
  RootLink link(io, c.store(), c.nodes(), c.manager(), o);
  c.manager().OnChange([&](const InstanceKey& k) { link.MarkDirty(k); });
  link.Start();
  ASSERT_TRUE(oak::testing::PumpUntil(io, [&] { return link.registered(); }, std::chrono::seconds(5)));
  ASSERT_TRUE(c.manager().Deploy("job", 0, kService).ok());
  c.Event(0, "RUNNING");
  EXPECT_TRUE(oak::testing::PumpUntil(io, [&] { return received == "RUNNING"; }, std::chrono::seconds(5)))
      << "refused " << refused << " time(s); root last accepted '" << received << "'";
  EXPECT_EQ(refused, 1);
  link.Stop();
}

}  // namespace
}  // namespace oak::cluster
