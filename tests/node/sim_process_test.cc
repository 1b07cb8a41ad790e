// `oak sim --nodes 50`: fifty distinct simulated nodes in one process register, report with varied
// machines, run instances, and leave cleanly.
#include <signal.h>

#include <gtest/gtest.h>

#include <set>

#include "node/test_cluster.h"
#include "support/process.h"

namespace oak::node {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using oak::testing::Process;
using testing::ExitCode;
using testing::TestCluster;

TEST(SimProcessTest, FiftyNodesRegisterReportAndStopCleanly) {
  TestCluster cluster("sim");
  ASSERT_NO_FATAL_FAILURE(cluster.Start());
  oak::testing::TempDir logs("sim-logs");
  constexpr int kNodes = 50;
  Process sim({OAK_BINARY, "sim", "--cluster", cluster.url(), "--node-token", cluster.token, "--nodes",
               std::to_string(kNodes), "--name-prefix", "edge", "--report-interval", "0.5", "--seed", "7",
               "--concurrency", "8"},
              logs / "sim.log");

  auto reporting = [&] {
    std::set<std::string> ids;
    for (const auto& [host, id] : cluster.ids) {
      if (!cluster.On("nodes/" + id + "/information").empty()) ids.insert(id);
    }
    return ids;
  };
  ASSERT_TRUE(cluster.Pump([&] { return reporting().size() == kNodes; }, 60s)) << sim.Log();
  EXPECT_EQ(cluster.ids.size(), size_t{kNodes});
  // Once each, or a few times: mosquitto 2.0 applies a SIGHUP reload only when its loop next wakes
  // up, so a node connecting right after the last registration of a burst can be refused until
  // some other traffic arrives, and then registers again.
  for (int i = 0; i < kNodes; ++i) {
    EXPECT_GE(cluster.registrations["edge-" + std::to_string(i)], 1) << i;
    EXPECT_LE(cluster.registrations["edge-" + std::to_string(i)], 3) << i;
  }

  std::set<int> vcpus;
  std::set<std::string> arch, locations;
  for (const auto& [host, body] : cluster.registered) {
    vcpus.insert(body["vcpus"].get<int>());
    arch.insert(body["architecture"].get<std::string>());
    locations.insert(body["location"].get<std::string>());
    EXPECT_GE(body["memory"].get<int64_t>(), 2048);
    EXPECT_LE(body["memory"].get<int64_t>(), 32768);
  }
  EXPECT_GE(vcpus.size(), 3u);
  EXPECT_EQ(arch, (std::set<std::string>{"amd64", "arm64"}));
  EXPECT_EQ(locations.size(), size_t{kNodes});

  // Every node runs what it is given.
  for (const auto& [host, id] : cluster.ids) {
    cluster.Publish("nodes/" + id + "/control/deploy",
                    json{{"job_name", "app.ns.svc.ns"}, {"instance_number", 0}, {"memory", 64}}.dump());
  }
  ASSERT_TRUE(cluster.Pump([&] {
    for (const auto& [host, id] : cluster.ids) {
      if (cluster.JobStatuses(id, "app.ns.svc.ns", 0) != std::vector<std::string>{"RUNNING"}) return false;
    }
    return true;
  }, 30s)) << sim.Log();

  EXPECT_EQ(ExitCode(sim.Stop(SIGTERM)), 0) << sim.Log();
  ASSERT_TRUE(cluster.Flush());
  for (const auto& m : cluster.seen) {
    EXPECT_EQ(m.topic.find("/will"), std::string::npos) << "a clean stop fired " << m.topic;
  }
}

}  // namespace
}  // namespace oak::node
