#include <gtest/gtest.h>

#include "common/ids.h"
#include "common/sqlite.h"
#include "root/sqlite_store.h"
#include "support/process.h"

namespace oak::root {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = SqliteStore::Open(dir_ / "root.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  NewApplication App(const std::string& owner, const std::string& name, std::vector<std::string> services,
                     std::string rr_ip = "") {
    NewApplication na;
    na.app = {NewObjectId(), owner, name, "ns", {{"application_desc", "d"}}};
    for (auto& s : services) {
      ServiceRecord r{NewObjectId(), na.app.id, owner, name + ".ns." + s + ".ns", rr_ip, 0, {{"microservice_name", s}}};
      na.services.push_back(r);
    }
    return na;
  }

  testing::TempDir dir_{"store"};
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(StoreTest, UsersRoundTripAndNamesAreUnique) {
  UserRecord u{NewObjectId(), "alice", "a@x", "hash", {"Admin", "Application_Provider"}, "", 1};
  ASSERT_TRUE(store_->CreateUser(u).ok());
  auto got = store_->GetUserByName("alice");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->roles, u.roles);
  EXPECT_EQ(store_->GetUserById(u.id)->name, "alice");
  u.id = NewObjectId();
  Status dup = store_->CreateUser(u);
  EXPECT_EQ(dup.code(), Code::kConflict);
  EXPECT_EQ(dup.message().rfind("name:", 0), 0u) << dup.message();
  EXPECT_EQ(store_->GetUserByName("bob").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->DeleteUser("bob").code(), Code::kNotFound);
}

TEST_F(StoreTest, CreateApplicationsIsAllOrNothing) {
  auto first = App("u1", "one", {"a", "b"});
  auto second = App("u1", "two", {"c"});
  second.services.push_back(first.services[0]);  // same job name and id as in `first`: must fail
  Status s = store_->CreateApplications({first, second});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(store_->ListApplications("")->size(), 0u);
  EXPECT_EQ(store_->ListServices("")->size(), 0u);
  ASSERT_TRUE(store_->CreateApplications({App("u1", "one", {"a", "b"})}).ok());
  EXPECT_EQ(store_->ListApplications("u1")->size(), 1u);
  EXPECT_EQ(store_->ListApplications("u2")->size(), 0u);
}

TEST_F(StoreTest, ConflictsNameTheField) {
  ASSERT_TRUE(store_->CreateApplications({App("u1", "one", {"a"}, "10.30.0.1")}).ok());
  Status s = store_->CreateApplications({App("u1", "one", {"z"})});
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(s.message().rfind("application_name:", 0), 0u) << s.message();
  s = store_->CreateApplications({App("u2", "other", {"q"}, "10.30.0.1")});
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(s.message().rfind("addresses.rr_ip:", 0), 0u) << s.message();
  // Same app name for another owner is fine, but its job names collide with the first owner's.
  s = store_->CreateApplications({App("u2", "one", {"a"})});
  EXPECT_EQ(s.message().rfind("microservice_name:", 0), 0u) << s.message();
  EXPECT_TRUE(store_->CreateApplications({App("u2", "one", {"other"})}).ok());
}

TEST_F(StoreTest, InstanceNumbersGrowAndSurviveReopen) {
  auto app = App("u1", "one", {"a"});
  ASSERT_TRUE(store_->CreateApplications({app}).ok());
  const std::string sid = app.services[0].id;
  EXPECT_EQ(store_->CreateInstance(sid, 1)->number, 0);
  EXPECT_EQ(store_->CreateInstance(sid, 2)->number, 1);
  ASSERT_TRUE(store_->RemoveInstance(sid, 1).ok());
  store_.reset();
  store_ = std::move(*SqliteStore::Open(dir_ / "root.db"));
  EXPECT_EQ(store_->CreateInstance(sid, 3)->number, 2);  // numbers are never reused
  EXPECT_EQ(store_->GetService(sid)->next_instance, 3);
  EXPECT_EQ(store_->CreateInstance("nope", 1).status().code(), Code::kNotFound);
}

TEST_F(StoreTest, ServiceReadsShowTheInstanceCounter) {
  auto app = App("u1", "one", {"a", "b"});
  ASSERT_TRUE(store_->CreateApplications({app}).ok());
  const std::string sid = app.services[0].id;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->CreateInstance(sid, i).ok());
  EXPECT_EQ(store_->GetService(sid)->next_instance, 3);
  EXPECT_EQ(store_->GetStoredService(sid)->next_instance, 3);
  EXPECT_EQ(store_->GetStoredService(sid)->job_name, "one.ns.a.ns");
  auto listed = *store_->ListStoredServices(app.app.id);
  ASSERT_EQ(listed.size(), 2u);
  for (auto& s : listed) EXPECT_EQ(s.next_instance, s.id == sid ? 3 : 0);
  auto all = store_->ListServices("");
  ASSERT_TRUE(all.ok());
  for (auto& s : *all) EXPECT_EQ(s.next_instance, s.id == sid ? 3 : 0);
  EXPECT_EQ(store_->GetStoredService("nope").status().code(), Code::kNotFound);
}

// A version-1 database kept its counters in services.next_instance; version 2 carries them over.
TEST_F(StoreTest, SchemaStepTwoKeepsInstanceNumbers) {
  auto app = App("u1", "one", {"a", "b"});
  ASSERT_TRUE(store_->CreateApplications({app}).ok());
  const std::string a = app.services[0].id, b = app.services[1].id;
  store_.reset();
  {
    // Back to what version 1 stored: numbers in services, no counters table, the old index.
    auto db = std::move(*Db::Open(dir_ / "root.db"));
    ASSERT_TRUE(db->Exec("DROP TABLE instance_counters; DROP INDEX instances_status_time; "
                         "CREATE INDEX instances_status ON instances(status); PRAGMA user_version=1;")
                    .ok());
    ASSERT_TRUE(db->Exec("UPDATE services SET next_instance = 7 WHERE id = '" + a + "'").ok());
  }
  store_ = std::move(*SqliteStore::Open(dir_ / "root.db"));
  EXPECT_EQ(store_->GetService(a)->next_instance, 7);
  EXPECT_EQ(store_->CreateInstance(a, 1)->number, 7);
  EXPECT_EQ(store_->CreateInstance(b, 1)->number, 0);
  EXPECT_EQ(store_->GetService(a)->next_instance, 8);
}

TEST_F(StoreTest, TransitionsApplyOnlyFromTheExpectedState) {
  auto app = App("u1", "one", {"a"});
  ASSERT_TRUE(store_->CreateApplications({app}).ok());
  const std::string sid = app.services[0].id;
  ASSERT_TRUE(store_->CreateInstance(sid, 1).ok());
  InstanceTransition place{sid, 0, "REQUESTED", "", "CLUSTER_SCHEDULED", "", "c1", "48.1,11.5", 5};
  EXPECT_TRUE(*store_->TransitionInstance(place));
  EXPECT_FALSE(*store_->TransitionInstance(place)) << "no longer REQUESTED";
  auto inst = *store_->GetInstance(sid, 0);
  EXPECT_EQ(inst.status, "CLUSTER_SCHEDULED");
  EXPECT_EQ(inst.cluster_id, "c1");
  EXPECT_EQ(inst.doc["cluster_location"], "48.1,11.5");
  EXPECT_EQ(inst.updated_ms, 5);
  // A failure recorded by the sender applies only while the instance waits on that cluster.
  InstanceTransition fail{sid, 0, "CLUSTER_SCHEDULED", "c2", "FAILED", "refused", "", "", 6};
  EXPECT_FALSE(*store_->TransitionInstance(fail)) << "placed on c1, not c2";
  fail.from_cluster = "c1";
  EXPECT_TRUE(*store_->TransitionInstance(fail));
  inst = *store_->GetInstance(sid, 0);
  EXPECT_EQ(inst.status, "FAILED");
  EXPECT_EQ(inst.status_detail, "refused");
  EXPECT_EQ(inst.cluster_id, "c1") << "an empty cluster_id keeps the cluster";
  EXPECT_EQ(inst.doc["cluster_location"], "48.1,11.5");
  fail.number = 9;
  EXPECT_FALSE(*store_->TransitionInstance(fail)) << "no such instance";
}

TEST_F(StoreTest, UnfinishedInstancesAreRequestedOrClusterScheduled) {
  auto app = App("u1", "one", {"a"});
  ASSERT_TRUE(store_->CreateApplications({app}).ok());
  const std::string sid = app.services[0].id;
  auto i0 = *store_->CreateInstance(sid, 1);
  auto i1 = *store_->CreateInstance(sid, 2);
  auto i2 = *store_->CreateInstance(sid, 3);
  i1.status = "CLUSTER_SCHEDULED";
  i1.cluster_id = "c1";
  ASSERT_TRUE(store_->UpdateInstance(i1).ok());
  i2.status = "RUNNING";
  ASSERT_TRUE(store_->UpdateInstance(i2).ok());
  auto pending = store_->ListUnfinishedInstances();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  auto counts = *store_->CountInstancesByStatus();
  EXPECT_EQ(counts["REQUESTED"], 1);
  EXPECT_EQ(counts["RUNNING"], 1);
  (void)i0;
}

TEST_F(StoreTest, DeletingAnApplicationRemovesServicesAndInstances) {
  auto app = App("u1", "one", {"a", "b"});
  ASSERT_TRUE(store_->CreateApplications({app}).ok());
  ASSERT_TRUE(store_->CreateInstance(app.services[0].id, 1).ok());
  ASSERT_TRUE(store_->DeleteApplication(app.app.id).ok());
  EXPECT_EQ(*store_->CountServices(), 0);
  EXPECT_TRUE(store_->CountInstancesByStatus()->empty());
  EXPECT_EQ(store_->DeleteApplication(app.app.id).code(), Code::kNotFound);
}

TEST_F(StoreTest, ClustersAndMetaUpsert) {
  ClusterRecord c{NewObjectId(), "c1", "secret", "http://127.0.0.1:1", 1, 2, {{"memory", 5}}};
  ASSERT_TRUE(store_->UpsertCluster(c).ok());
  c.last_seen_ms = 9;
  ASSERT_TRUE(store_->UpsertCluster(c).ok());
  auto all = store_->ListClusters();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].last_seen_ms, 9);
  EXPECT_EQ((*all)[0].info["memory"], 5);
  EXPECT_FALSE(store_->GetMeta("k")->has_value());
  ASSERT_TRUE(store_->SetMeta("k", "v").ok());
  EXPECT_EQ(**store_->GetMeta("k"), "v");
}

}  // namespace
}  // namespace oak::root
