// A full or read-only data directory at each tier, with real processes: each tier's data
// directory is on a small file system the test mounts itself (root only; skipped elsewhere). The
// API answers 507 with a message naming the problem and the directory, reads go on, the process
// stays up, and once space is back the next write succeeds without a restart.
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/fs.h"
#include "common/http_client.h"
#include "integration/hierarchy.h"
#include "node/netns_harness.h"
#include "support/registry.h"
#include "support/small_fs.h"

namespace oak::it {
namespace {

using oak::testing::Ext4Fs;
using oak::testing::Registry;
using oak::testing::SmallFs;

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

#define EXPECT_STORAGE_ERROR(response, kind, dir)                                              \
  do {                                                                                         \
    const auto& r_ = (response);                                                               \
    EXPECT_EQ(r_.status, 507u) << r_.body << r_.error;                                         \
    EXPECT_TRUE(Has(r_.message(), kind)) << r_.body;                                           \
    EXPECT_TRUE(Has(r_.message(), "(data dir " + std::string(dir) + ")")) << r_.body;          \
  } while (0)

std::vector<std::string> AppNames(const ApiClient& admin) {
  std::vector<std::string> names;
  auto r = admin.Get("/api/applications");
  EXPECT_EQ(r.status, 200u) << r.body;
  if (r.json.is_array())
    for (auto& a : r.json) names.push_back(a.value("application_name", ""));
  std::sort(names.begin(), names.end());  // listed by id, whose order within a second is random
  return names;
}

std::string FirstServiceId(const ApiClient& admin, const json& app) {
  auto svcs = admin.Get("/api/services/" + Oid(app));
  if (svcs.status != 200 || !svcs.json.is_array() || svcs.json.empty()) return "";
  return Oid(svcs.json[0]);
}

// --- root ---------------------------------------------------------------------------------------

TEST(StorageFailure, RootOnAFullDiskAnswers507KeepsReadingAndRecovers) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  SmallFs fs("disk-root", 8);
  if (!fs.ok()) GTEST_SKIP() << fs.error();
  const std::string data = fs / "root";
  // The root's log (data + ".log.1") is on the same file system: logging to a full disk must not
  // hurt either.
  RootProcess root(data);
  ApiClient admin = root.Admin();
  json keep = CreateApp(admin, SimpleSla("keep"), "keep");
  const std::string sid = FirstServiceId(admin, keep);
  ASSERT_FALSE(sid.empty());
  const pid_t pid = root.pid();

  ASSERT_GT(fs.Fill(), 0);
  EXPECT_STORAGE_ERROR(admin.Post("/api/application/", SimpleSla("full")), "storage full: ", data);
  EXPECT_STORAGE_ERROR(admin.Post("/api/service/" + sid + "/instance", json::object()), "storage full: ", data);
  EXPECT_STORAGE_ERROR(admin.Post("/api/application/", SimpleSla("full")), "storage full: ", data);  // and again
  // Reads go on with the old state: nothing of the failed writes is there.
  EXPECT_EQ(AppNames(admin), std::vector<std::string>{"keep"});
  auto svc = admin.Get("/api/service/" + sid);
  ASSERT_EQ(svc.status, 200u) << svc.body;
  EXPECT_TRUE(svc.json["instance_list"].empty()) << svc.body;
  EXPECT_TRUE(Healthy(root));
  EXPECT_TRUE(root.Running());

  fs.Unfill();
  json full = CreateApp(admin, SimpleSla("full"), "full");
  EXPECT_FALSE(Oid(full).empty());
  auto deploy = admin.Post("/api/service/" + sid + "/instance", json::object());
  EXPECT_EQ(deploy.status, 200u) << deploy.body;
  EXPECT_EQ(deploy.json.value("instance_number", -1), 0) << deploy.body;  // the failed one took no number
  EXPECT_EQ(root.pid(), pid);  // the same process all along
  EXPECT_TRUE(root.Running());

  // What was written after the recovery is durable.
  root.Kill9();
  root.Start();
  ApiClient again = root.Admin();
  EXPECT_EQ(AppNames(again), (std::vector<std::string>{"full", "keep"}));
  EXPECT_EQ(InstanceOf(again, sid, 0).is_object(), true);
}

TEST(StorageFailure, RootOnAReadOnlyDataDirectoryAnswers507AndKeepsReading) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a file system needs root";
  Ext4Fs fs("disk-root-ro");
  if (!fs.ok()) GTEST_SKIP() << fs.error();
  const std::string data = fs / "root";
  {
    RootProcess root(data);
    ApiClient admin = root.Admin();
    CreateApp(admin, SimpleSla("keep"), "keep");

    ASSERT_TRUE(fs.TriggerError()) << fs.error();
    EXPECT_STORAGE_ERROR(admin.Post("/api/application/", SimpleSla("late")), "data directory is read-only: ", data);
    EXPECT_EQ(AppNames(admin), std::vector<std::string>{"keep"});
    EXPECT_TRUE(Healthy(root));
    EXPECT_TRUE(root.Running());
  }
}

// --- cluster ------------------------------------------------------------------------------------

json NodeBody(const std::string& host) {
  return {{"host", host}, {"ip", "127.0.0.1"}, {"vcpus", 2}, {"memory", 1024}, {"architecture", "amd64"}};
}

ApiResponse RegisterNode(const ClusterProcess& c, const std::string& host) {
  ApiClient client(c.url());
  return client.Call(verb::verb::post, "/api/node/register", NodeBody(host).dump(), c.config().node_token);
}

TEST(StorageFailure, ClusterOnAFullDiskRefusesDeploysUntilSpaceReturns) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  Hierarchy h("disk-cluster");
  SmallFs fs("disk-cluster", 8);
  if (!fs.ok()) GTEST_SKIP() << fs.error();
  ClusterConfig cfg;
  cfg.name = "c1";
  // The data directory is the mount itself: its log (beside it) stays readable.
  ClusterProcess cluster(fs.path(), h.root().url(), h.root().config().cluster_token, cfg);
  h.AddNode(cluster, "n1");
  ASSERT_FALSE(h.WaitClusterReady("c1", 1).empty()) << h.Dump();
  auto sids = CreateServices(h.admin(), "app", json::array({Microservice("web")}));
  ASSERT_EQ(sids.size(), 1u);

  ASSERT_GT(fs.Fill(), 0);
  // A node registering now cannot be stored.
  EXPECT_STORAGE_ERROR(RegisterNode(cluster, "late"), "storage full: ", fs.path());
  // A deploy from the root: the cluster answers 507 without placing it, and the root retries.
  ASSERT_EQ(DeployInstance(h.admin(), sids[0]), 0);
  ASSERT_TRUE(WaitFor([&] {
    std::string log = h.root().Log();
    return Has(log, "deploy attempt failed") && Has(log, "storage full: ");
  })) << h.Dump();
  EXPECT_EQ(InstanceOf(h.admin(), sids[0], 0).value("status", ""), "CLUSTER_SCHEDULED");
  json nodes = cluster.Nodes();  // a read: answered while the disk is full
  ASSERT_TRUE(nodes.is_array() && nodes.size() == 1u) << nodes.dump();
  EXPECT_TRUE(nodes[0]["instances"].empty()) << nodes.dump();  // the node was not told
  auto health = ApiClient(cluster.url()).Get("/healthz");
  EXPECT_EQ(health.status, 200u) << health.body;

  fs.Unfill();
  json inst = WaitInstanceStatus(h.admin(), sids[0], 0, "RUNNING", std::chrono::seconds(20));
  EXPECT_EQ(inst.value("status", ""), "RUNNING") << inst.dump() << "\n" << h.Dump();
  auto late = RegisterNode(cluster, "late");
  EXPECT_EQ(late.status, 200u) << late.body;
  EXPECT_FALSE(late.json.value("mqtt_password", "").empty()) << late.body;
}

// --- node ---------------------------------------------------------------------------------------

// `oak node --runtime runc` with its data directory (image store and bundles) on a small tmpfs,
// inside a network namespace of the test's own, pulling from a real registry.
class NodeStorage : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !FindExecutable("runc") || !FindExecutable("docker-registry"))
      GTEST_SKIP() << "needs root, runc and docker-registry";
    fs_ = std::make_unique<SmallFs>("disk-node", 48);
    if (!fs_->ok()) GTEST_SKIP() << fs_->error();
    ns_ = std::make_unique<oak::node::net::testing::HostNamespace>("d" + std::to_string(::getpid() % 100000));
    ASSERT_TRUE(ns_->ready());
    ASSERT_TRUE(registry_.Start().ok()) << registry_.Log();
    h_ = std::make_unique<Hierarchy>("disk-node");
    cluster_ = &h_->AddCluster("edge");
  }
  void TearDown() override {
    node_.reset();
    h_.reset();
    if (fs_ && fs_->ok() && started_) {
      fs_->Unfill();
      fs_->RemountReadWrite();
      CommandOptions within;
      within.timeout = std::chrono::seconds(60);
      auto r = RunCommand({OAK_BINARY, "node", "--reset", "--data-dir", fs_->path(), "--log-level", "warn"}, within);
      EXPECT_TRUE(r.ok() && r->ok()) << (r.ok() ? r->err : r.status().message());
    }
    ns_.reset();
    fs_.reset();
  }
  void StartNode() {
    NodeConfig cfg;
    cfg.name = "w1";
    cfg.runtime = "runc";
    node_ = std::make_unique<NodeProcess>(fs_->path(), cluster_->url(), cluster_->config().node_token, cfg);
    started_ = true;
  }

  std::unique_ptr<SmallFs> fs_;
  std::unique_ptr<oak::node::net::testing::HostNamespace> ns_;
  Registry registry_;
  std::unique_ptr<Hierarchy> h_;
  ClusterProcess* cluster_ = nullptr;
  std::unique_ptr<NodeProcess> node_;
  bool started_ = false;
};

TEST_F(NodeStorage, DeployOnAFullOrReadOnlyDiskFailsWithAClearStatusAndTheNextOneRuns) {
  auto digest = oak::testing::PushBusyboxImage(registry_, "oak/sleeper:1");
  ASSERT_TRUE(digest.ok()) << digest.status().message();
  StartNode();
  ASSERT_FALSE(h_->WaitClusterReady("edge", 1).empty()) << h_->Dump();
  auto sids = CreateServices(h_->admin(), "disk",
                             json::array({Microservice("sleep", "test",
                                                       {{"code", registry_.host() + "/oak/sleeper:1"},
                                                        {"vcpus", 0},
                                                        {"memory", 16},
                                                        {"cmd", {"sleep", "600"}}})}));
  ASSERT_EQ(sids.size(), 1u);
  const std::string data = fs_->path();

  // Full: the pull (or the bundle) cannot be written.
  ASSERT_GT(fs_->Fill(), 0);
  ASSERT_EQ(DeployInstance(h_->admin(), sids[0]), 0);
  json full = WaitInstanceStatus(h_->admin(), sids[0], 0, "FAILED", std::chrono::seconds(60));
  ASSERT_EQ(full.value("status", ""), "FAILED") << full.dump() << "\n" << h_->Dump();
  const std::string full_detail = full.value("status_detail", "");
  EXPECT_TRUE(Has(full_detail, "storage full: ")) << full_detail;
  EXPECT_TRUE(Has(full_detail, "(data dir " + data + ")")) << full_detail;
  EXPECT_TRUE(node_->Running()) << node_->Log();
  fs_->Unfill();

  // Read-only: possible while no container runs (nothing holds a file open for writing).
  ASSERT_TRUE(fs_->RemountReadOnly()) << fs_->error();
  ASSERT_EQ(DeployInstance(h_->admin(), sids[0]), 1);
  json ro = WaitInstanceStatus(h_->admin(), sids[0], 1, "FAILED", std::chrono::seconds(60));
  ASSERT_EQ(ro.value("status", ""), "FAILED") << ro.dump() << "\n" << h_->Dump();
  EXPECT_TRUE(Has(ro.value("status_detail", ""), "data directory is read-only: ")) << ro.dump();
  EXPECT_TRUE(Has(ro.value("status_detail", ""), "(data dir " + data + ")")) << ro.dump();
  EXPECT_TRUE(node_->Running()) << node_->Log();

  // Writable again: the next deploy runs, in the same node process.
  ASSERT_TRUE(fs_->RemountReadWrite()) << fs_->error();
  ASSERT_EQ(DeployInstance(h_->admin(), sids[0]), 2);
  json ok = WaitInstanceStatus(h_->admin(), sids[0], 2, "RUNNING", std::chrono::seconds(60));
  EXPECT_EQ(ok.value("status", ""), "RUNNING") << ok.dump() << "\n" << h_->Dump() << node_->Log();
  EXPECT_TRUE(node_->Running());
}

}  // namespace
}  // namespace oak::it
