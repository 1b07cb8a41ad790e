// A real `oak node --runtime simulated` process against a real mosquitto and an in-test cluster
// endpoint: registration, reports, the instance life cycle over MQTT, malformed control messages,
// last will, fatal and retried registrations.
#include <signal.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "common/fs.h"
#include "node/test_cluster.h"
#include "support/process.h"

namespace oak::node {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using oak::testing::Process;
using testing::ExitCode;
using testing::TestCluster;

class NodeProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(cluster_.Start()); }

  // `flags` override the defaults below, flag by flag.
  std::unique_ptr<Process> StartNode(const std::string& name, std::map<std::string, std::string> flags = {},
                                     const std::string& binary = OAK_BINARY) {
    std::map<std::string, std::string> f = {{"--data-dir", data_ / name},   {"--cluster", cluster_.url()},
                                            {"--node-token", cluster_.token}, {"--name", name},
                                            {"--runtime", "simulated"},       {"--report-interval", "0.2"},
                                            {"--log-level", "debug"}};
    for (auto& [k, v] : flags) f[k] = v;
    std::vector<std::string> argv = {binary, "node"};
    for (auto& [k, v] : f) {
      argv.push_back(k);
      argv.push_back(v);
    }
    return std::make_unique<Process>(argv, data_ / (name + ".log"));
  }
  // Waits for the node's first information report; answers its id.
  std::string WaitOnline(const std::string& name, Process& p) {
    bool ok = cluster_.Pump([&] {
      std::string id = cluster_.IdOf(name);
      return !id.empty() && !cluster_.On("nodes/" + id + "/information").empty();
    });
    EXPECT_TRUE(ok) << p.Log();
    return cluster_.IdOf(name);
  }
  std::string Deploy(const std::string& id, const std::string& job, int n, json extra = json::object()) {
    json doc = {{"job_name", job}, {"instance_number", n}, {"virtualization", "container"},
                {"image", "docker.io/library/nginx:latest"}, {"memory", 128}, {"vcpus", 1}};
    doc.update(extra);
    cluster_.Publish("nodes/" + id + "/control/deploy", doc.dump());
    return job;
  }
  void Delete(const std::string& id, const std::string& job, int n) {
    cluster_.Publish("nodes/" + id + "/control/delete",
                     json{{"job_name", job}, {"virtualization", "container"}, {"instance_number", n}}.dump());
  }
  bool WaitJob(const std::string& id, const std::string& job, int n, std::vector<std::string> want) {
    return cluster_.Pump([&] { return cluster_.JobStatuses(id, job, n) == want; });
  }

  TestCluster cluster_{"node-proc"};
  oak::testing::TempDir data_{"node-data"};
};

TEST_F(NodeProcessTest, RegistersAndReportsEveryInterval) {
  auto node = StartNode("edge-1");
  std::string id = WaitOnline("edge-1", *node);
  ASSERT_FALSE(id.empty());
  const json& body = cluster_.registered["edge-1"];
  EXPECT_EQ(body["host"], "edge-1");
  EXPECT_EQ(body["ip"], "127.0.0.1");
  EXPECT_GT(body["vcpus"].get<int>(), 0);
  EXPECT_GT(body["memory"].get<int64_t>(), 0);
  EXPECT_GT(body["disk"].get<int64_t>(), 0);
  EXPECT_EQ(body["virtualization"], json::array({"container"}));

  auto stored = ReadFile(data_ / "edge-1/node.json");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(json::parse(*stored)["id"], id);

  const std::string topic = "nodes/" + id + "/information";
  ASSERT_TRUE(cluster_.Pump([&] { return cluster_.On(topic).size() >= 6; })) << node->Log();
  auto info = cluster_.On(topic);
  auto span = std::chrono::duration<double>(info.back().at - info[1].at).count() / double(info.size() - 2);
  EXPECT_GT(span, 0.1);
  EXPECT_LT(span, 0.5) << "reports every 0.2 s";
  const json& last = info.back().json;
  for (const char* f : {"cpu_percent", "memory_percent", "memory", "disk", "vcpus"}) {
    EXPECT_TRUE(last.contains(f) && last[f].is_number()) << f << " in " << last;
  }
  EXPECT_GE(last["cpu_percent"].get<double>(), 0);
  EXPECT_LE(last["cpu_percent"].get<double>(), 100);
  // The instance list (empty here) goes with the first report and with every fifth after it; the
  // reports between carry the node's resources only.
  for (size_t i = 0; i < info.size(); ++i)
    EXPECT_EQ(info[i].json.contains("instances"), i % 5 == 0) << "report " << i << ": " << info[i].json;
  EXPECT_TRUE(info[0].json["instances"].is_array());

  // A restart keeps the identity (the cluster keys it by host name) and the stored id.
  EXPECT_EQ(ExitCode(node->Stop(SIGTERM)), 0) << node->Log();
  node = StartNode("edge-1");
  ASSERT_TRUE(cluster_.Pump([&] { return cluster_.registrations["edge-1"] >= 2; })) << node->Log();
  EXPECT_EQ(cluster_.IdOf("edge-1"), id);
}

std::string ExeOf(pid_t pid) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).filename().string();
}

// `oak node` hands over (same PID) to the node-only `oak-node` beside it, which maps none of the
// root's and cluster's libraries: most of an idle engine's memory is such mapped code.
TEST_F(NodeProcessTest, RunsFromTheNodeOnlyBinaryWithoutTheServerLibraries) {
  auto node = StartNode("edge-lean");
  ASSERT_FALSE(WaitOnline("edge-lean", *node).empty());
  EXPECT_EQ(ExeOf(node->pid()), "oak-node");
  // The allocator setting (common/malloc_tuning.h) came along with the hand-over.
  EXPECT_NE(oak::testing::EnvironOf(node->pid(), "GLIBC_TUNABLES").find("glibc.malloc.tcache_count=256"),
            std::string::npos);
  auto maps = ReadFile("/proc/" + std::to_string(node->pid()) + "/maps");
  ASSERT_TRUE(maps.ok());
  for (const char* lib : {"libsodium", "libjwt", "libpq", "libsqlite3"})
    EXPECT_EQ(maps->find(lib), std::string::npos) << lib << " is mapped";
}

// Without `oak-node` beside it, `oak node` runs the role itself.
TEST_F(NodeProcessTest, RunsInTheFullBinaryWhenTheNodeOnlyOneIsMissing) {
  oak::testing::TempDir bin{"node-bin"};
  std::filesystem::copy_file(OAK_BINARY, bin / "oak");
  auto node = StartNode("edge-full", {}, bin / "oak");
  ASSERT_FALSE(WaitOnline("edge-full", *node).empty());
  EXPECT_EQ(ExeOf(node->pid()), "oak");
}

TEST_F(NodeProcessTest, InstanceLifecycleOverMqtt) {
  auto node = StartNode("edge-2");
  std::string id = WaitOnline("edge-2", *node);
  ASSERT_FALSE(id.empty());

  Deploy(id, "app.ns.web.ns", 0);
  // A start within --status-hold (100 ms; the simulated one takes 5) is reported by its outcome alone.
  ASSERT_TRUE(WaitJob(id, "app.ns.web.ns", 0, {"RUNNING"})) << node->Log();
  auto job = cluster_.On("nodes/" + id + "/job").back().json;
  EXPECT_EQ(job["publicip"], "127.0.0.1");
  EXPECT_EQ(job["status_detail"], "");

  // The next reports list the instance, and its usage within the SLA.
  const auto reports_before = cluster_.On("nodes/" + id + "/jobs/resources").size();
  ASSERT_TRUE(cluster_.Pump([&] { return cluster_.On("nodes/" + id + "/jobs/resources").size() > reports_before; }));
  json res = cluster_.On("nodes/" + id + "/jobs/resources").back().json;
  ASSERT_EQ(res["services"].size(), 1u) << res;
  EXPECT_EQ(res["services"][0]["job_name"], "app.ns.web.ns");
  EXPECT_LE(res["services"][0]["memory"].get<double>(), 128);
  EXPECT_LE(res["services"][0]["cpu_percent"].get<double>(), 100);
  json info = cluster_.On("nodes/" + id + "/information").back().json;
  EXPECT_EQ(info["instances"], json::parse(R"([{"sname":"app.ns.web.ns","instance":0,"status":"RUNNING"}])"));

  // With nothing changing, the list and the usage go with every fifth report only.
  const auto info_before = cluster_.On("nodes/" + id + "/information").size();
  const auto usage_before = cluster_.On("nodes/" + id + "/jobs/resources").size();
  ASSERT_TRUE(cluster_.Pump([&] { return cluster_.On("nodes/" + id + "/information").size() >= info_before + 10; }));
  auto later = cluster_.On("nodes/" + id + "/information");
  size_t listed = 0;
  for (size_t i = info_before; i < info_before + 10; ++i) listed += later[i].json.contains("instances");
  EXPECT_EQ(listed, 2u);
  const auto usage_reports = cluster_.On("nodes/" + id + "/jobs/resources").size() - usage_before;
  EXPECT_GE(usage_reports, 1u);
  EXPECT_LE(usage_reports, 3u);

  // Deploying it again reports where it stands and changes nothing.
  Deploy(id, "app.ns.web.ns", 0);
  ASSERT_TRUE(WaitJob(id, "app.ns.web.ns", 0, {"RUNNING", "RUNNING"})) << node->Log();

  Deploy(id, "app.ns.batch.ns", 0, {{"one_shot", true}});
  ASSERT_TRUE(WaitJob(id, "app.ns.batch.ns", 0, {"RUNNING", "COMPLETED"})) << node->Log();

  Delete(id, "app.ns.web.ns", 0);
  ASSERT_TRUE(WaitJob(id, "app.ns.web.ns", 0, {"RUNNING", "RUNNING", "UNDEPLOYED"})) << node->Log();
  Delete(id, "app.ns.never.ns", 9);  // not on the node: UNDEPLOYED all the same
  ASSERT_TRUE(WaitJob(id, "app.ns.never.ns", 9, {"UNDEPLOYED"})) << node->Log();

  // A virtualization the runtime lacks fails with a reason instead of vanishing.
  Deploy(id, "app.ns.uni.ns", 0, {{"virtualization", "unikernel"}});
  ASSERT_TRUE(WaitJob(id, "app.ns.uni.ns", 0, {"FAILED"})) << node->Log();
  EXPECT_NE(cluster_.On("nodes/" + id + "/job").back().json["status_detail"].get<std::string>().find("unikernel"),
            std::string::npos);

  // None of those changes brought the list forward: it went with every fifth report since the
  // connect, the changes with their own events.
  auto all = cluster_.On("nodes/" + id + "/information");
  for (size_t i = 0; i < all.size(); ++i)
    EXPECT_EQ(all[i].json.contains("instances"), i % 5 == 0) << "report " << i << ": " << all[i].json;
}

TEST_F(NodeProcessTest, AStartSlowerThanTheStatusHoldReportsCreatingFirst) {
  auto node = StartNode("edge-slow", {{"--sim-start-delay", "600"}, {"--status-hold", "100"}});
  std::string id = WaitOnline("edge-slow", *node);
  ASSERT_FALSE(id.empty());
  Deploy(id, "app.ns.slow.ns", 0);
  ASSERT_TRUE(cluster_.Pump([&] { return !cluster_.JobStatuses(id, "app.ns.slow.ns", 0).empty(); })) << node->Log();
  EXPECT_EQ(cluster_.JobStatuses(id, "app.ns.slow.ns", 0), std::vector<std::string>{"CREATING"})
      << "CREATING lasts 600 ms, longer than the hold";
  ASSERT_TRUE(WaitJob(id, "app.ns.slow.ns", 0, {"CREATING", "RUNNING"})) << node->Log();

  // With no hold, every status goes at once.
  auto eager = StartNode("edge-eager", {{"--status-hold", "0"}});
  std::string eager_id = WaitOnline("edge-eager", *eager);
  ASSERT_FALSE(eager_id.empty());
  Deploy(eager_id, "app.ns.eager.ns", 0);
  ASSERT_TRUE(WaitJob(eager_id, "app.ns.eager.ns", 0, {"CREATING", "RUNNING"})) << eager->Log();
}

TEST_F(NodeProcessTest, MalformedControlMessagesAreDroppedAndTheNodeKeepsWorking) {
  auto node = StartNode("edge-3");
  std::string id = WaitOnline("edge-3", *node);
  ASSERT_FALSE(id.empty());
  const std::string deploy = "nodes/" + id + "/control/deploy", del = "nodes/" + id + "/control/delete";
  const std::vector<std::string> bad = {"not json", "", "[1,2,3]", "null", "{\"job_name\": 5, \"instance_number\": 0}",
                                       "{\"job_name\": \"a.b.c.d\", \"instance_number\": \"0\"}",
                                       "{\"job_name\": \"a.b.c.d\"}", "\xff\xfe\xfd", std::string(100000, '{')};
  const std::string logs = "nodes/" + id + "/control/logs";
  for (const auto& p : bad) {
    cluster_.Publish(deploy, p);
    cluster_.Publish(del, p);
    cluster_.Publish(logs, p);
  }
  cluster_.Publish(logs, R"({"job_name": "a.b.c.d", "instance_number": 0})");
  cluster_.Publish(logs, R"({"request_id": "r0", "job_name": "a.b.c.d", "instance_number": 0, "max_bytes": -5})");
  cluster_.Publish(deploy, R"({"job_name": "a.b.c.d", "instance_number": 0, "memory": "x"})");
  cluster_.Publish(deploy, R"({"job_name": "a.b.c.d", "instance_number": 0, "one_shot": 1})");
  cluster_.Publish("nodes/" + id + "/control/reboot", "{}");
  Deploy(id, "app.ns.ok.ns", 1);
  ASSERT_TRUE(WaitJob(id, "app.ns.ok.ns", 1, {"RUNNING"})) << node->Log();
  EXPECT_TRUE(node->Running());
  for (const auto& m : cluster_.On("nodes/" + id + "/job")) {
    EXPECT_EQ(m.json["sname"], "app.ns.ok.ns") << "a malformed message produced a status: " << m.payload;
  }
  EXPECT_NE(node->Log().find("dropped control message"), std::string::npos);
  EXPECT_NE(node->Log().find("control/logs error=\"request_id: required"), std::string::npos) << node->Log();
  EXPECT_NE(node->Log().find("control/logs error=\"max_bytes: must be"), std::string::npos) << node->Log();
  // Malformed requests get no answer; a good one does, for a present and an absent instance.
  cluster_.Publish(logs, R"({"request_id": "r1", "job_name": "app.ns.ok.ns", "instance_number": 1})");
  cluster_.Publish(logs, R"({"request_id": "r2", "job_name": "app.ns.ok.ns", "instance_number": 2})");
  ASSERT_TRUE(cluster_.Pump([&] { return cluster_.On("nodes/" + id + "/logs").size() >= 2; })) << node->Log();
  auto answers = cluster_.On("nodes/" + id + "/logs");
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].json["request_id"], "r1");
  EXPECT_EQ(answers[0].json["logs"], "simulated: CREATING\nsimulated: RUNNING\n") << answers[0].payload;
  EXPECT_EQ(answers[1].json["request_id"], "r2");
  EXPECT_EQ(answers[1].json["error"]["code"], "not_found") << answers[1].payload;
}

TEST_F(NodeProcessTest, SigtermDisconnectsCleanlyButSigkillFiresTheWill) {
  auto a = StartNode("edge-4");
  auto b = StartNode("edge-5");
  std::string ida = WaitOnline("edge-4", *a), idb = WaitOnline("edge-5", *b);
  ASSERT_FALSE(ida.empty());
  ASSERT_FALSE(idb.empty());

  EXPECT_EQ(ExitCode(a->Stop(SIGTERM)), 0) << a->Log();
  b->Stop(SIGKILL);
  ASSERT_TRUE(cluster_.Pump([&] { return !cluster_.On("nodes/" + idb + "/will").empty(); })) << "no will after SIGKILL";
  json will = cluster_.On("nodes/" + idb + "/will").back().json;
  EXPECT_EQ(will["id"], idb);
  EXPECT_EQ(will["reason"], "connection lost");
  // edge-4 left before edge-5 was killed, so its will (if any) would have been delivered by now.
  ASSERT_TRUE(cluster_.Flush());
  EXPECT_TRUE(cluster_.On("nodes/" + ida + "/will").empty()) << "a clean stop must not fire the will";
}

TEST_F(NodeProcessTest, ReRegistersWhenTheBrokerRefusesItsCredentials) {
  auto node = StartNode("edge-6");
  std::string id = WaitOnline("edge-6", *node);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster_.broker->RemoveClient(id).ok());  // the broker drops the session and refuses it
  ASSERT_TRUE(cluster_.Pump([&] { return cluster_.registrations["edge-6"] >= 2; }, 20s)) << node->Log();
  size_t before = cluster_.On("nodes/" + id + "/information").size();
  ASSERT_TRUE(cluster_.Pump([&] { return cluster_.On("nodes/" + id + "/information").size() > before + 2; }, 20s))
      << node->Log();
  EXPECT_EQ(cluster_.IdOf("edge-6"), id);
  EXPECT_TRUE(node->Running());
}

TEST_F(NodeProcessTest, WaitsForAClusterThatIsNotUpYet) {
  TestCluster late("node-late");
  uint16_t port = oak::testing::FreePort();
  auto node = StartNode("edge-7", {{"--cluster", "http://127.0.0.1:" + std::to_string(port)}});
  ASSERT_TRUE(oak::testing::WaitFor([&] { return node->Log().find("registration failed, retrying") != std::string::npos; }))
      << node->Log();
  ASSERT_NO_FATAL_FAILURE(late.Start(port));
  ASSERT_TRUE(late.Pump([&] {
    std::string id = late.IdOf("edge-7");
    return !id.empty() && !late.On("nodes/" + id + "/information").empty();
  }, 40s)) << node->Log();
}

TEST_F(NodeProcessTest, WrongTokenIsFatal) {
  auto node = StartNode("edge-8", {{"--node-token", "wrong"}});
  ASSERT_TRUE(cluster_.Pump([&] { return !node->Running(); })) << node->Log();
  EXPECT_EQ(ExitCode(node->Stop(0)), 1);
  EXPECT_NE(node->Log().find("refused the node token"), std::string::npos) << node->Log();
  EXPECT_EQ(cluster_.registrations.count("edge-8"), 0u);
}

TEST_F(NodeProcessTest, MissingClusterOrTokenIsAnOptionError) {
  auto node = StartNode("edge-9", {{"--cluster", ""}});
  ASSERT_TRUE(cluster_.Pump([&] { return !node->Running(); })) << node->Log();
  EXPECT_EQ(ExitCode(node->Stop(0)), 2);
  EXPECT_NE(node->Log().find("--cluster is required"), std::string::npos) << node->Log();
}

}  // namespace
}  // namespace oak::node
