// The cluster's link to a stand-in root: reports go one at a time, in the order they were built.
#include "cluster/root_link.h"

#include <gtest/gtest.h>

#include <map>

#include "root/counting_server.h"
#include "support/process.h"

namespace oak::cluster {
namespace {

using nlohmann::json;
using testing::TempDir;

class NullBus : public Bus {
 public:
  Status Publish(std::string_view, std::string_view) override { return Status::Ok(); }
};

TEST(RootLinkTest, ReportsGoOneAtATimeSoTheLastOneReceivedIsTheNewest) {
  TempDir dir("cluster-root-link");
  auto store = OpenSqliteStore(dir / "cluster.db");
  ASSERT_TRUE(store.ok());
  ManualClock clock;
  NullBus bus;
  NodeRegistry nodes(**store, clock, 6000);
  Manager manager(**store, nodes, bus, clock, ManagerOptions{});
  ASSERT_TRUE(manager.Load().ok());
  NodeDescription d;
  d.host = "n";
  d.vcpus = 64;
  d.memory_mb = 64 * 1024;
  d.virtualization = {"container"};
  auto n = nodes.Register(d);
  ASSERT_TRUE(n.ok());
  const std::string node = (*n)->rec.id;
  manager.OnMessage("nodes/" + node + "/information", R"({"memory": 65536})");

  boost::asio::io_context io;
  // A slow root: every answer takes 30 ms, so that pushes and heartbeats overlap if allowed to.
  oak::testing::CountingServer root(io, 0, std::chrono::milliseconds(30));
  std::map<int64_t, std::string> last;  // instance -> status the root received last
  root.handler = [&](const std::string& target, const std::string& body) -> std::pair<unsigned, std::string> {
    if (target == "/api/clusters/register")
      return {200, json{{"id", "c1"}, {"secret", "s1"}, {"heartbeat_interval_s", 1}}.dump()};
    json j = json::parse(body, nullptr, false);
    for (auto& job : j.value("jobs", json::array()))
      for (auto& i : job["instance_list"]) last[i["instance_number"].get<int64_t>()] = i.value("status", "");
    return {200, R"({"message":"ok"})"};
  };
  RootLinkOptions o;
  o.root_url = "http://127.0.0.1:" + std::to_string(root.url().port);
  o.cluster_token = "t";
  o.name = "c";
  o.push_delay = std::chrono::milliseconds(1);
  RootLink link(io, **store, nodes, manager, o);
  manager.OnChange([&](const InstanceKey& k) { link.MarkDirty(k); });
  link.Start();
  ASSERT_TRUE(oak::testing::PumpUntil(io, [&] { return link.registered(); }, std::chrono::seconds(5)));

  json svc{{"job_name", "a.b.c.d"}, {"virtualization", "container"}, {"memory", 1}, {"vcpus", 0}};
  const char* steps[] = {"CREATING", "RUNNING"};
  for (int64_t i = 0; i < 40; ++i) {
    ASSERT_TRUE(manager.Deploy("job", i, svc).ok());
    for (const char* st : steps) {
      // Each change while earlier reports are still on their way.
      oak::testing::PumpUntil(io, [] { return false; }, std::chrono::milliseconds(3));
      manager.OnMessage("nodes/" + node + "/job", json{{"sname", "a.b.c.d"}, {"instance", i}, {"status", st}}.dump());
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

TEST(RootLinkTest, AReportTheRootRefusesWith5xxIsSentAgain) {
  TempDir dir("cluster-root-link-507");
  auto store = OpenSqliteStore(dir / "cluster.db");
  ASSERT_TRUE(store.ok());
  ManualClock clock;
  NullBus bus;
  NodeRegistry nodes(**store, clock, 6000);
  Manager manager(**store, nodes, bus, clock, ManagerOptions{});
  ASSERT_TRUE(manager.Load().ok());
  NodeDescription d;
  d.host = "n";
  d.vcpus = 4;
  d.memory_mb = 4096;
  d.virtualization = {"container"};
  auto n = nodes.Register(d);
  ASSERT_TRUE(n.ok());
  const std::string node = (*n)->rec.id;
  manager.OnMessage("nodes/" + node + "/information", R"({"memory": 4096})");

  boost::asio::io_context io;
  oak::testing::CountingServer root(io, 0, std::chrono::milliseconds(0));
  int refused = 0;
  std::string received;  // status of instance 0 the root accepted last
  root.handler = [&](const std::string& target, const std::string& body) -> std::pair<unsigned, std::string> {
    if (target == "/api/clusters/register")
      return {200, json{{"id", "c1"}, {"secret", "s1"}, {"heartbeat_interval_s", 1}}.dump()};
    if (body.find("RUNNING") != std::string::npos && refused < 1) {
      ++refused;
      return {507, R"({"message":"storage full: cannot write root.db"})"};
    }
    json j = json::parse(body, nullptr, false);
    for (auto& job : j.value("jobs", json::array()))
      for (auto& i : job["instance_list"]) received = i.value("status", "");
    return {200, R"({"message":"ok"})"};
  };
  RootLinkOptions o;
  o.root_url = "http://127.0.0.1:" + std::to_string(root.url().port);
  o.cluster_token = "t";
  o.name = "c";
  o.push_delay = std::chrono::milliseconds(1);
  o.full_sync_every = 1000;  // only the kept change can bring RUNNING to the root again
  RootLink link(io, **store, nodes, manager, o);
  manager.OnChange([&](const InstanceKey& k) { link.MarkDirty(k); });
  link.Start();
  ASSERT_TRUE(oak::testing::PumpUntil(io, [&] { return link.registered(); }, std::chrono::seconds(5)));
  json svc{{"job_name", "a.b.c.d"}, {"virtualization", "container"}, {"memory", 1}, {"vcpus", 0}};
  ASSERT_TRUE(manager.Deploy("job", 0, svc).ok());
  manager.OnMessage("nodes/" + node + "/job", json{{"sname", "a.b.c.d"}, {"instance", 0}, {"status", "RUNNING"}}.dump());
  EXPECT_TRUE(oak::testing::PumpUntil(io, [&] { return received == "RUNNING"; }, std::chrono::seconds(5)))
      << "refused " << refused << " time(s); root last accepted '" << received << "'";
  EXPECT_EQ(refused, 1);
  link.Stop();
}

}  // namespace
}  // namespace oak::cluster
