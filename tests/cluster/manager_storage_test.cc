// The cluster core when its store cannot write (a full or read-only disk): a deploy is answered
// with the error and leaves nothing behind, status changes are kept and written once it can.
#include <gtest/gtest.h>

#include "cluster/manager.h"
#include "support/process.h"

namespace oak::cluster {
namespace {

using nlohmann::json;
using testing::TempDir;

// A real SQLite store whose writes fail with a storage error while `full` is set.
class FillableStore : public Store {
 public:
  explicit FillableStore(std::unique_ptr<Store> s) : s_(std::move(s)) {}
  bool full = false;
  int service_writes = 0;

  Result<std::optional<std::string>> GetMeta(const std::string& k) override { return s_->GetMeta(k); }
  Status SetMeta(const std::string& k, const std::string& v) override { return full ? Full() : s_->SetMeta(k, v); }
  Status PutNode(const NodeRecord& n) override { return full ? Full() : s_->PutNode(n); }
  Result<std::vector<NodeRecord>> ListNodes() override { return s_->ListNodes(); }
  Status PutService(const ServiceDoc& d) override {
    ++service_writes;
    return full ? Full() : s_->PutService(d);
  }
  Result<std::optional<ServiceDoc>> GetService(const std::string& id) override { return s_->GetService(id); }
  Result<std::vector<ServiceDoc>> ListServices() override { return s_->ListServices(); }
  Status PutInstances(const std::vector<InstanceRow>& rows) override {
    if (full) return Full();
    instance_rows += rows.size();
    return s_->PutInstances(rows);
  }
  size_t instance_rows = 0;  // written
  Status DeleteInstances(const std::string& id, const std::vector<int64_t>& n) override {
    return full ? Full() : s_->DeleteInstances(id, n);
  }
  Result<std::vector<InstanceRow>> ListInstances() override { return s_->ListInstances(); }

 private:
  static Status Full() { return Status::Storage("storage full: cannot write cluster.db (data dir /d)"); }
  std::unique_ptr<Store> s_;
};

class CountingBus : public Bus {
 public:
  Status Publish(std::string_view topic, std::string_view) override {
    topics.emplace_back(topic);
    return Status::Ok();
  }
  size_t Deploys() const {
    size_t n = 0;
    for (auto& t : topics) n += t.ends_with("/control/deploy");
    return n;
  }
  std::vector<std::string> topics;
};

json Service(const std::string& name, int memory = 400) {
  return {{"job_name", name}, {"microservice_name", "svc"}, {"virtualization", "container"}, {"memory", memory},
          {"vcpus", 1}, {"code", "docker.io/library/nginx:latest"}};
}

class ManagerStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenSqliteStore(dir_ / "cluster.db");
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::make_unique<FillableStore>(std::move(*s));
    nodes_ = std::make_unique<NodeRegistry>(*store_, clock_, 6000);
    manager_ = std::make_unique<Manager>(*store_, *nodes_, bus_, clock_, ManagerOptions{});
    ASSERT_TRUE(manager_->Load().ok());
    NodeDescription d;
    d.host = "small";
    d.ip = "10.0.0.1";
    d.vcpus = 2;
    d.memory_mb = 1000;
    d.disk_mb = 10000;
    d.arch = "amd64";
    d.virtualization = {"container"};
    auto n = nodes_->Register(d);
    ASSERT_TRUE(n.ok());
    node_ = (*n)->rec.id;
    Report();
  }
  void Report() {
    manager_->OnMessage("nodes/" + node_ + "/information", R"({"cpu_percent": 5, "memory_percent": 10, "memory": 1000})");
  }
  std::string StoredStatus(const std::string& job, int64_t n) {
    auto rows = store_->ListInstances();
    if (!rows.ok()) return "?";
    for (auto& r : *rows)
      if (r.job_id == job && r.number == n) return r.status;
    return "";
  }
  void Event(int n, const std::string& status) {
    manager_->OnMessage("nodes/" + node_ + "/job",
                        json{{"sname", "a.b.c.d"}, {"instance", n}, {"status", status}}.dump());
  }

  TempDir dir_{"cluster-manager-storage"};
  ManualClock clock_;
  CountingBus bus_;
  std::unique_ptr<FillableStore> store_;
  std::unique_ptr<NodeRegistry> nodes_;
  std::unique_ptr<Manager> manager_;
  std::string node_;
};

TEST_F(ManagerStorageTest, ADeployThatCannotBeStoredIsRefusedAndLeavesNothing) {
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());  // the service is stored already
  store_->full = true;
  for (int i = 1; i <= 5; ++i) {
    Status s = manager_->Deploy("job", i, Service("a.b.c.d"));
    EXPECT_EQ(s.code(), Code::kStorage) << s.ToString();
    EXPECT_EQ(s.message(), "storage full: cannot write cluster.db (data dir /d)");
    EXPECT_EQ(manager_->Find({"job", i}), nullptr);
  }
  EXPECT_EQ(bus_.Deploys(), 1u);  // the node heard of none of them
  store_->full = false;
  // Nothing stays allocated by the refused ones (the registry's reservations for what was just
  // sent end with the node's next reports): 2 vcpus, 1000 MB take one more 400 MB instance.
  Report();
  Report();
  ASSERT_TRUE(manager_->Deploy("job", 1, Service("a.b.c.d")).ok());
  EXPECT_EQ(manager_->Find({"job", 1})->status, "NODE_SCHEDULED");
  EXPECT_EQ(StoredStatus("job", 1), "NODE_SCHEDULED");
  EXPECT_EQ(bus_.Deploys(), 2u);
  ASSERT_TRUE(manager_->Deploy("job", 2, Service("a.b.c.d")).ok());
  EXPECT_EQ(manager_->Find({"job", 2})->status, "NO_WORKER_CAPACITY");
}

TEST_F(ManagerStorageTest, AServiceDocumentSentAgainIsWrittenOnceAndAChangedOneAgain) {
  json doc = Service("a.b.c.d", 100);
  ASSERT_TRUE(manager_->DeployBatch({{"job", &doc, {0}}})[0][0].ok());
  ASSERT_TRUE(manager_->DeployBatch({{"job", &doc, {1}}})[0][0].ok());
  EXPECT_EQ(store_->service_writes, 1);

  json bigger = Service("a.b.c.d", 300);
  ASSERT_TRUE(manager_->DeployBatch({{"job", &bigger, {2}}})[0][0].ok());
  EXPECT_EQ(store_->service_writes, 2);
  auto stored = store_->GetService("job");
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_EQ(json::parse((*stored)->doc_text)["memory"], 300);
  // Back to the first document: known by its tree once, yet it is the stored one no longer.
  ASSERT_TRUE(manager_->DeployBatch({{"job", &doc, {3}}})[0][0].ok());
  EXPECT_EQ(store_->service_writes, 3);
  stored = store_->GetService("job");
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_EQ(json::parse((*stored)->doc_text)["memory"], 100);
  // A document under another service's job name is refused, however often it is sent.
  for (int i = 0; i < 2; ++i) EXPECT_EQ(manager_->DeployBatch({{"other", &doc, {0}}})[0][0].code(), Code::kConflict);
}

TEST_F(ManagerStorageTest, ARefusedRedeployKeepsTheEndedInstance) {
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  Event(0, "FAILED");
  ASSERT_EQ(manager_->Find({"job", 0})->status, "FAILED");
  store_->full = true;
  EXPECT_EQ(manager_->Deploy("job", 0, Service("a.b.c.d")).code(), Code::kStorage);
  ASSERT_NE(manager_->Find({"job", 0}), nullptr);
  EXPECT_EQ(manager_->Find({"job", 0})->status, "FAILED");
  EXPECT_EQ(bus_.Deploys(), 1u);
}

TEST_F(ManagerStorageTest, ABatchThatCannotBeStoredIsRefusedWholeAndLeavesNothing) {
  json small = Service("a.b.c.d", 100), other = Service("a.b.x.d", 100);
  small["vcpus"] = 0;  // the node's 2 vcpus take them all
  other["vcpus"] = 0;
  ASSERT_TRUE(manager_->Deploy("job", 0, small).ok());
  ASSERT_TRUE(manager_->DeployBatch({{"other", &other, {0}}})[0][0].ok());
  store_->full = true;
  std::vector<Manager::DeployJob> jobs{{"job", &small, {0, 1, 2}}, {"other", &other, {1}}};
  auto out = manager_->DeployBatch(jobs);
  // Instance 0 was stored before and is left alone; the new ones are refused with the error.
  EXPECT_TRUE(out[0][0].ok()) << out[0][0].ToString();
  EXPECT_EQ(out[0][1].code(), Code::kStorage);
  EXPECT_EQ(out[0][2].code(), Code::kStorage);
  EXPECT_EQ(out[1][0].code(), Code::kStorage);
  EXPECT_EQ(manager_->Find({"job", 1}), nullptr);
  EXPECT_EQ(manager_->Find({"job", 2}), nullptr);
  EXPECT_EQ(manager_->Find({"other", 1}), nullptr);
  EXPECT_EQ(bus_.Deploys(), 2u) << "no node hears of what was not stored";
  store_->full = false;
  out = manager_->DeployBatch(jobs);
  for (auto& job : out)
    for (const Status& s : job) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(StoredStatus("job", 2), "NODE_SCHEDULED");
  EXPECT_EQ(StoredStatus("other", 1), "NODE_SCHEDULED");
  EXPECT_EQ(bus_.Deploys(), 5u);
}

TEST_F(ManagerStorageTest, StatusChangesAreKeptAndWrittenOnceTheDiskTakesThem) {
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  store_->full = true;
  Event(0, "RUNNING");
  EXPECT_EQ(manager_->Find({"job", 0})->status, "RUNNING");  // in memory, reported on
  EXPECT_EQ(StoredStatus("job", 0), "NODE_SCHEDULED");
  manager_->Tick();
  EXPECT_EQ(StoredStatus("job", 0), "NODE_SCHEDULED");
  EXPECT_EQ(manager_->Flush().code(), Code::kStorage);
  store_->full = false;
  manager_->Tick();
  EXPECT_EQ(StoredStatus("job", 0), "RUNNING");
  EXPECT_TRUE(manager_->Flush().ok());
}

TEST_F(ManagerStorageTest, TheStepsOfAStartShareOneLaterWriteAndAnEndIsWrittenSoon) {
  std::vector<std::function<void()>> deferred;
  auto run_deferred = [&] {
    auto fns = std::move(deferred);
    deferred.clear();
    for (auto& fn : fns) fn();
  };
  manager_ = std::make_unique<Manager>(
      *store_, *nodes_, bus_, clock_,
      ManagerOptions{.defer = [&](std::function<void()> fn) { deferred.push_back(std::move(fn)); },
                     .lazy_write_ms = 1'000});
  ASSERT_TRUE(manager_->Load().ok());
  Report();
  ASSERT_TRUE(manager_->Deploy("job", 0, Service("a.b.c.d")).ok());
  EXPECT_EQ(StoredStatus("job", 0), "NODE_SCHEDULED") << "a deploy is written before its answer";
  const size_t after_deploy = store_->instance_rows;

  Event(0, "CREATING");
  Event(0, "RUNNING");
  run_deferred();
  clock_.Advance(500);
  manager_->Tick();
  EXPECT_EQ(manager_->Find({"job", 0})->status, "RUNNING");
  EXPECT_EQ(StoredStatus("job", 0), "NODE_SCHEDULED");
  EXPECT_EQ(store_->instance_rows, after_deploy);
  clock_.Advance(500);
  manager_->Tick();
  EXPECT_EQ(StoredStatus("job", 0), "RUNNING");
  EXPECT_EQ(store_->instance_rows, after_deploy + 1) << "CREATING and RUNNING share one write";

  // An end is no progress: written with the next deferred flush, not a second later.
  Event(0, "FAILED");
  run_deferred();
  EXPECT_EQ(StoredStatus("job", 0), "FAILED");

  // Progress still waiting is written on shutdown.
  ASSERT_TRUE(manager_->Deploy("job", 1, Service("a.b.c.d")).ok());
  Event(1, "CREATING");
  run_deferred();
  EXPECT_EQ(StoredStatus("job", 1), "NODE_SCHEDULED");
  EXPECT_TRUE(manager_->Flush().ok());
  EXPECT_EQ(StoredStatus("job", 1), "CREATING");
}

}  // namespace
}  // namespace oak::cluster
