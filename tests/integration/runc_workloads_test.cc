// Real workloads end to end: `oak root`, `oak cluster` (with its mosquitto) and `oak node --runtime
// runc`, pulling from a real docker-registry, all inside a network namespace the test creates (so
// the node's bridge, nft table and loopback are the test's own). Every container is removed with
// `oak node --reset` at the end, also when a test fails.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "common/fs.h"
#include "common/subprocess.h"
#include "integration/hierarchy.h"
#include "node/netns_harness.h"
#include "support/registry.h"

namespace oak::it {
namespace {

namespace fs = std::filesystem;
using oak::node::net::testing::HostNamespace;
using oak::node::net::testing::HttpGet;
using oak::node::net::testing::Netns;
using oak::testing::BusyboxImageOptions;
using oak::testing::PushBusyboxImage;
using oak::testing::Registry;

bool CanRun() { return ::geteuid() == 0 && FindExecutable("runc") && FindExecutable("docker-registry"); }

std::string Tag() {
  static int n = 0;
  return "w" + std::to_string(::getpid() % 100000) + std::to_string(n++);
}

class RuncWorkloads : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CanRun()) GTEST_SKIP() << "needs root, runc and docker-registry";
    ns_ = std::make_unique<HostNamespace>(Tag());
    ASSERT_TRUE(ns_->ready());
    ASSERT_TRUE(registry_.Start().ok()) << registry_.Log();
    h_ = std::make_unique<Hierarchy>("runc-" + Tag());
    cluster_ = &h_->AddCluster("edge");
  }
  void TearDown() override {
    // Containers keep running under their shims, their root file systems mounted in the node
    // directories: they go before the hierarchy's directory does.
    if (h_) h_->StopNodesAndClusters();
    for (const auto& dir : node_dirs_) {
      CommandOptions within;
      within.timeout = std::chrono::seconds(60);
      auto r = RunCommand({OAK_BINARY, "node", "--reset", "--data-dir", dir, "--log-level", "warn"}, within);
      EXPECT_TRUE(r.ok() && r->ok()) << dir << ": " << (r.ok() ? r->err : r.status().message());
      auto left = RunCommand({"runc", "--root", dir + "/runc", "list", "-q"});
      EXPECT_TRUE(left.ok() && left->out.empty()) << "containers left in " << dir;
    }
    h_.reset();
    ns_.reset();
  }
  NodeProcess& AddRuncNode(const std::string& name, std::vector<std::string> extra = {}) {
    auto& n = h_->AddNode(*cluster_, name, std::move(extra), "runc");
    node_dirs_.push_back(n.data_dir());
    return n;
  }
  std::string Push(const std::string& name_tag, BusyboxImageOptions o = {}) {
    auto digest = PushBusyboxImage(registry_, name_tag, o);
    EXPECT_TRUE(digest.ok()) << digest.status().message();
    return registry_.host() + "/" + name_tag;
  }
  std::string EngineTag(const NodeProcess& n) {
    auto t = ReadFile(n.data_dir() + "/engine.tag");
    std::string tag = t.ok() ? *t : "";
    while (!tag.empty() && std::isspace(static_cast<unsigned char>(tag.back()))) tag.pop_back();
    return tag;
  }
  std::vector<std::string> Containers(const NodeProcess& n) {
    auto r = RunCommand({"runc", "--root", n.data_dir() + "/runc", "list", "-q"});
    std::vector<std::string> out;
    std::istringstream in(r.ok() ? r->out : "");
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  std::unique_ptr<HostNamespace> ns_;
  Registry registry_;
  std::unique_ptr<Hierarchy> h_;
  ClusterProcess* cluster_ = nullptr;
  std::vector<std::string> node_dirs_;
};

TEST_F(RuncWorkloads, WebServerAnswersOnItsMappedPortAndUndeployRemovesEverything) {
  auto& node = AddRuncNode("w1");
  std::string image = Push("oak/web:1", {.httpd_port = 8080, .page = "hello from a real container"});
  ASSERT_FALSE(h_->WaitClusterReady("edge", 1).empty()) << h_->Dump();
  uint16_t host_port = oak::testing::FreePort();
  auto sids = CreateServices(h_->admin(), "web",
                             json::array({Microservice("httpd", "test",
                                                       {{"code", image},
                                                        {"cmd", json::array()},  // the image's httpd
                                                        {"port", std::to_string(host_port) + ":8080"},
                                                        {"memory", 64},
                                                        {"vcpus", 1}})}));
  ASSERT_EQ(sids.size(), 1u);
  ASSERT_EQ(DeployInstance(h_->admin(), sids[0]), 0);
  json inst = WaitInstanceStatus(h_->admin(), sids[0], 0, "RUNNING", std::chrono::seconds(60));
  ASSERT_EQ(inst.value("status", ""), "RUNNING") << inst.dump() << "\n" << h_->Dump();

  std::string page;
  ASSERT_TRUE(WaitFor([&] { return (page = HttpGet("127.0.0.1", host_port)).find("hello from a real container") != std::string::npos; },
                      std::chrono::seconds(10)))
      << page;
  const std::string job = Containers(node).empty() ? "" : Containers(node)[0];
  EXPECT_EQ(job, "web.test.httpd.test.instance.0");
  // httpd -v logs each answer on stderr: it reaches the instance's log.
  std::string log_path = node.data_dir() + "/containers/" + job + "/log";
  EXPECT_TRUE(WaitFor([&] {
    auto l = ReadFile(log_path);
    return l.ok() && l->find("response:200") != std::string::npos;
  })) << ReadFile(log_path).status().message() << " exit: "
       << ReadFile(node.data_dir() + "/containers/" + job + "/exit.json").status().message() << "\n"
       << InstanceOf(h_->admin(), sids[0], 0).dump();
  // ... and the user reads it through root, cluster and node.
  auto logs = h_->admin().Get("/api/service/" + sids[0] + "/instance/0/logs");
  ASSERT_EQ(logs.status, 200u) << logs.body;
  EXPECT_NE(logs.json.value("logs", "").find("response:200"), std::string::npos) << logs.body;
  const std::string tag = EngineTag(node);
  ASSERT_FALSE(tag.empty());
  EXPECT_EQ(Netns("oak-" + tag + "-").size(), 1u) << RunCommand({"ls", "/var/run/netns"})->out;
  auto table = RunCommand({"nft", "list", "table", "inet", "oak_" + tag});
  ASSERT_TRUE(table.ok() && table->ok());
  EXPECT_NE(table->out.find(std::to_string(host_port)), std::string::npos) << table->out;

  auto r = h_->admin().Delete("/api/service/" + sids[0] + "/instance/0");
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_TRUE(WaitFor([&] { return Containers(node).empty() && !fs::exists(node.data_dir() + "/containers/" + job); },
                      std::chrono::seconds(20)))
      << h_->Dump();
  EXPECT_TRUE(WaitFor([&] { return Netns("oak-" + tag + "-").empty(); }));
  table = RunCommand({"nft", "list", "table", "inet", "oak_" + tag});
  ASSERT_TRUE(table.ok() && table->ok());
  EXPECT_EQ(table->out.find(std::to_string(host_port)), std::string::npos) << table->out;
  EXPECT_EQ(HttpGet("127.0.0.1", host_port), "");
}

TEST_F(RuncWorkloads, EndingsReachTheRootWithTheirReason) {
  AddRuncNode("w1");
  std::string image = Push("oak/tools:1");
  ASSERT_FALSE(h_->WaitClusterReady("edge", 1).empty()) << h_->Dump();
  auto sids = CreateServices(
      h_->admin(), "ends",
      json::array({Microservice("job", "test", {{"code", image}, {"vcpus", 0}, {"one_shot", true}, {"cmd", {"sh", "-c", "echo done"}}}),
                   Microservice("hog", "test",
                                {{"code", image}, {"vcpus", 0}, {"memory", 16}, {"cmd", {"dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"}}}),
                   Microservice("ghost", "test", {{"code", registry_.host() + "/oak/nope:1"}, {"vcpus", 0}})}));
  ASSERT_EQ(sids.size(), 3u);
  for (auto& sid : sids) ASSERT_EQ(DeployInstance(h_->admin(), sid), 0);

  json done = WaitInstanceStatus(h_->admin(), sids[0], 0, "COMPLETED", std::chrono::seconds(60));
  EXPECT_EQ(done.value("status", ""), "COMPLETED") << done.dump() << "\n" << h_->Dump();
  json hog = WaitInstanceStatus(h_->admin(), sids[1], 0, "DEAD", std::chrono::seconds(60));
  EXPECT_EQ(hog.value("status", ""), "DEAD") << hog.dump();
  EXPECT_NE(hog.value("status_detail", "").find("out of memory"), std::string::npos) << hog.dump();
  json ghost = WaitInstanceStatus(h_->admin(), sids[2], 0, "FAILED", std::chrono::seconds(60));
  EXPECT_EQ(ghost.value("status", ""), "FAILED") << ghost.dump();
  EXPECT_NE(ghost.value("status_detail", "").find("manifest unknown"), std::string::npos) << ghost.dump();
}

// Restarts done so far, as the root shows them: "restarted N times; ..." while it runs again,
// "...; restart N in S s" (N-1 done) while it waits; -1 when the detail says neither.
int64_t RestartsShown(const std::string& detail) {
  std::smatch m;
  if (std::regex_search(detail, m, std::regex(R"(restarted (\d+) times?)"))) return std::stoll(m[1]);
  if (std::regex_search(detail, m, std::regex(R"(restart (\d+) in )"))) return std::stoll(m[1]) - 1;
  return -1;
}

TEST_F(RuncWorkloads, ACrashingServiceIsRestartedWithBackOff) {
  AddRuncNode("w1");
  std::string image = Push("oak/tools:1");
  ASSERT_FALSE(h_->WaitClusterReady("edge", 1).empty()) << h_->Dump();
  auto sids = CreateServices(h_->admin(), "crash",
                             json::array({Microservice("loop", "test", {{"code", image}, {"vcpus", 0},
                                                                        {"cmd", {"sh", "-c", "echo started; exit 3"}}})}));
  ASSERT_EQ(sids.size(), 1u);
  ASSERT_EQ(DeployInstance(h_->admin(), sids[0]), 0);
  // First run: pulled and started, then DEAD with the back-off in its detail.
  json dead = WaitInstanceStatus(h_->admin(), sids[0], 0, "DEAD", std::chrono::seconds(60));
  ASSERT_EQ(dead.value("status", ""), "DEAD") << dead.dump() << "\n" << h_->Dump();
  EXPECT_NE(dead.value("status_detail", "").find("exited with code 3; restart "), std::string::npos) << dead.dump();

  // 1 s, then 2 s of back-off: the second restart is due about 3 s (plus two runs) after that.
  json last;
  std::vector<std::string> details;
  EXPECT_TRUE(WaitFor(
      [&] {
        last = InstanceOf(h_->admin(), sids[0], 0);
        std::string d = last.is_object() ? last.value("status_detail", "") : "";
        if (details.empty() || details.back() != d) details.push_back(d);
        return RestartsShown(d) >= 2;
      },
      std::chrono::seconds(12)))
      << last.dump() << "\n" << h_->Dump();
  std::string seen;
  for (const auto& d : details) seen += "\n  " + d;
  EXPECT_NE(seen.find("restart 2 in 2 s"), std::string::npos) << seen;
  EXPECT_NE(last.value("status_detail", "").find("exited with code 3"), std::string::npos) << last.dump();

  std::string logs;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = h_->admin().Get("/api/service/" + sids[0] + "/instance/0/logs");
        logs = r.status == 200 ? r.json.value("logs", "") : r.body;
        return logs.find("started") != std::string::npos;
      },
      std::chrono::seconds(10)))
      << logs;
}

TEST_F(RuncWorkloads, ContainersSurviveANodeRestartAndNodesKeepToTheirOwn) {
  auto& a = AddRuncNode("a");
  auto& b = AddRuncNode("b");
  std::string image = Push("oak/sleeper:1");
  ASSERT_FALSE(h_->WaitClusterReady("edge", 2).empty()) << h_->Dump();
  auto sids = CreateServices(
      h_->admin(), "keep",
      json::array({Microservice("sa", "test", {{"code", image}, {"cmd", {"sleep", "3600"}},
                                               {"constraints", {{{"type", "direct"}, {"node", "a"}}}}}),
                   Microservice("sb", "test", {{"code", image}, {"cmd", {"sleep", "3600"}},
                                               {"constraints", {{{"type", "direct"}, {"node", "b"}}}}})}));
  ASSERT_EQ(sids.size(), 2u);
  for (auto& sid : sids) ASSERT_EQ(DeployInstance(h_->admin(), sid), 0);
  for (auto& sid : sids) {
    json i = WaitInstanceStatus(h_->admin(), sid, 0, "RUNNING", std::chrono::seconds(60));
    ASSERT_EQ(i.value("status", ""), "RUNNING") << i.dump() << "\n" << h_->Dump();
  }
  EXPECT_EQ(Containers(a), std::vector<std::string>{"keep.test.sa.test.instance.0"});
  EXPECT_EQ(Containers(b), std::vector<std::string>{"keep.test.sb.test.instance.0"});
  EXPECT_NE(EngineTag(a), EngineTag(b));

  auto pid = ReadFile(a.data_dir() + "/containers/keep.test.sa.test.instance.0/container.pid");
  ASSERT_TRUE(pid.ok());
  a.Stop();
  EXPECT_TRUE(fs::exists("/proc/" + *pid)) << "the container outlives its node engine";
  a.Start();
  // Back and still RUNNING, the same process, and still removable.
  EXPECT_TRUE(WaitFor([&] { return a.Log().find("adopted instance") != std::string::npos; }, std::chrono::seconds(20)))
      << a.Log();
  json i = InstanceOf(h_->admin(), sids[0], 0);
  EXPECT_EQ(i.value("status", ""), "RUNNING") << i.dump();
  EXPECT_EQ(*ReadFile(a.data_dir() + "/containers/keep.test.sa.test.instance.0/container.pid"), *pid);
  auto r = h_->admin().Delete("/api/service/" + sids[0] + "/instance/0");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(WaitFor([&] { return Containers(a).empty(); }, std::chrono::seconds(20))) << a.Log();
  EXPECT_EQ(Containers(b).size(), 1u);
}

TEST_F(RuncWorkloads, AContainerUndeployedWhileItsNodeWasDownIsRemovedWhenItReturns) {
  auto& a = AddRuncNode("a");
  std::string image = Push("oak/sleeper:1");
  ASSERT_FALSE(h_->WaitClusterReady("edge", 1).empty()) << h_->Dump();
  auto sids = CreateServices(h_->admin(), "gone",
                             json::array({Microservice("s", "test", {{"code", image}, {"vcpus", 0}, {"cmd", {"sleep", "3600"}}})}));
  ASSERT_EQ(sids.size(), 1u);
  ASSERT_EQ(DeployInstance(h_->admin(), sids[0]), 0);
  json i = WaitInstanceStatus(h_->admin(), sids[0], 0, "RUNNING", std::chrono::seconds(60));
  ASSERT_EQ(i.value("status", ""), "RUNNING") << i.dump() << "\n" << h_->Dump();
  a.Stop();
  auto r = h_->admin().Delete("/api/service/" + sids[0] + "/instance/0");
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(Containers(a).size(), 1u) << "the engine is down: nothing removed it yet";
  a.Start();
  EXPECT_TRUE(WaitFor([&] { return Containers(a).empty(); }, std::chrono::seconds(30))) << a.Log();
}

TEST_F(RuncWorkloads, ASubnetTakenOnTheHostIsRefusedClearly) {
  auto& a = AddRuncNode("a");
  std::string image = Push("oak/sleeper:1");
  ASSERT_FALSE(h_->WaitClusterReady("edge", 1).empty()) << h_->Dump();
  auto on = [&](const std::string& svc, const std::string& node) {
    return Microservice(svc, "test", {{"code", image}, {"vcpus", 0}, {"cmd", {"sleep", "3600"}},
                                      {"constraints", {{{"type", "direct"}, {"node", node}}}}});
  };
  auto sids = CreateServices(h_->admin(), "nets", json::array({on("first", "a"), on("second", "b")}));
  ASSERT_EQ(sids.size(), 2u);
  ASSERT_EQ(DeployInstance(h_->admin(), sids[0]), 0);
  json first = WaitInstanceStatus(h_->admin(), sids[0], 0, "RUNNING", std::chrono::seconds(60));
  ASSERT_EQ(first.value("status", ""), "RUNNING") << first.dump() << "\n" << h_->Dump();
  auto taken = ReadFile(a.data_dir() + "/net/subnet");
  ASSERT_TRUE(taken.ok());
  AddRuncNode("b", {"--subnet", *taken});
  ASSERT_FALSE(h_->WaitClusterReady("edge", 2).empty()) << h_->Dump();
  ASSERT_EQ(DeployInstance(h_->admin(), sids[1]), 0);
  json second = WaitInstanceStatus(h_->admin(), sids[1], 0, "FAILED", std::chrono::seconds(60));
  EXPECT_EQ(second.value("status", ""), "FAILED") << second.dump();
  EXPECT_NE(second.value("status_detail", "").find("subnet " + *taken + " is already in use on this host"),
            std::string::npos)
      << second.dump();
}

}  // namespace
}  // namespace oak::it
