#include "root/cluster_registry.h"

#include <gtest/gtest.h>

#include "root/dispatcher.h"
#include "root/sqlite_store.h"
#include "support/process.h"

namespace oak::root {
namespace {

using nlohmann::json;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    registry_.reset();
    store_.reset();
    store_ = std::move(*SqliteStore::Open(dir_ / "root.db"));
    registry_ = std::make_unique<ClusterRegistry>(*store_, clock_, 15'000);
    ASSERT_TRUE(registry_->Load().ok());
  }
  json Body(const std::string& name) {
    return {{"cluster_name", name}, {"cluster_location", "48.1,11.5,20"}, {"manager_url", "http://127.0.0.1:1"}};
  }

  testing::TempDir dir_{"registry"};
  ManualClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<ClusterRegistry> registry_;
};

TEST_F(RegistryTest, RegisterAuthenticateAndReRegisterKeepsId) {
  auto r1 = registry_->Register(Body("c1"), "127.0.0.1");
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_TRUE(registry_->Authenticate(r1->id, r1->secret).ok());
  EXPECT_EQ(registry_->Authenticate(r1->id, "wrong").status().code(), Code::kUnauthorized);
  EXPECT_EQ(registry_->Authenticate("unknown", r1->secret).status().code(), Code::kUnauthorized);
  auto r2 = registry_->Register(Body("c1"), "127.0.0.1");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->id, r1->id);
  EXPECT_NE(r2->secret, r1->secret);
  EXPECT_FALSE(registry_->Authenticate(r1->id, r1->secret).ok());  // the old secret is gone
}

TEST_F(RegistryTest, RejectsBadRegistrations) {
  EXPECT_EQ(registry_->Register(json::array(), "x").status().code(), Code::kInvalid);
  auto b = Body("bad name");
  EXPECT_EQ(registry_->Register(b, "x").status().message().rfind("cluster_name:", 0), 0u);
  b = Body("c1");
  b["cluster_location"] = "north";
  EXPECT_EQ(registry_->Register(b, "x").status().message().rfind("cluster_location:", 0), 0u);
  b = Body("c1");
  b.erase("manager_url");
  EXPECT_EQ(registry_->Register(b, "x").status().message().rfind("manager_url:", 0), 0u);
  b["manager_port"] = 10100;
  auto ok = registry_->Register(b, "10.1.2.3");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(registry_->Find(ok->id)->rec.manager_url, "http://10.1.2.3:10100");
}

TEST_F(RegistryTest, HeartbeatsFeedCandidatesAndSilenceMakesInactive) {
  auto r = registry_->Register(Body("c1"), "127.0.0.1");
  ClusterState* c = *registry_->Authenticate(r->id, r->secret);
  ASSERT_TRUE(registry_->ApplyHeartbeat(*c, {{"vcpus", 4}, {"memory", 2048}, {"cpu_percent", 30.0},
                                             {"virtualization", {"container"}}, {"active_nodes", 2}})
                  .ok());
  auto cands = registry_->Candidates();
  ASSERT_EQ(cands.size(), 1u);
  EXPECT_TRUE(cands[0].active);
  EXPECT_EQ(cands[0].free.memory_mb, 2048);
  EXPECT_EQ(cands[0].free.vcpus, 4);
  ASSERT_TRUE(cands[0].location.has_value());
  EXPECT_DOUBLE_EQ(cands[0].radius_km, 20);
  EXPECT_EQ(registry_->ToJson(*c)["active_nodes"], 2);
  EXPECT_EQ(registry_->ToJson(*c)["memory_in_mb"], 2048);

  clock_.Advance(14'000);
  EXPECT_EQ(registry_->CheckLiveness(), 0);
  clock_.Advance(2'000);
  EXPECT_EQ(registry_->CheckLiveness(), 1);
  EXPECT_FALSE(registry_->Candidates()[0].active);
  EXPECT_EQ(registry_->ActiveCount(), 0);
  ASSERT_TRUE(registry_->ApplyHeartbeat(*c, {{"memory", 2048}}).ok());
  EXPECT_EQ(registry_->ActiveCount(), 1);
}

TEST_F(RegistryTest, ReservationsLastUntilTheSecondHeartbeat) {
  auto r = registry_->Register(Body("c1"), "127.0.0.1");
  ClusterState* c = *registry_->Authenticate(r->id, r->secret);
  json hb = {{"vcpus", 4}, {"memory", 2048}};
  ASSERT_TRUE(registry_->ApplyHeartbeat(*c, hb).ok());
  registry_->Reserve(r->id, {1, 1000, 0, 0});
  EXPECT_EQ(registry_->Candidates()[0].free.memory_mb, 1048);
  ASSERT_TRUE(registry_->ApplyHeartbeat(*c, hb).ok());  // may predate the deploy
  EXPECT_EQ(registry_->Candidates()[0].free.memory_mb, 1048);
  ASSERT_TRUE(registry_->ApplyHeartbeat(*c, hb).ok());  // certainly reflects it
  EXPECT_EQ(registry_->Candidates()[0].free.memory_mb, 2048);
}

TEST_F(RegistryTest, ReloadedClustersAreInactiveUntilTheyReport) {
  auto r = registry_->Register(Body("c1"), "127.0.0.1");
  Open();
  ASSERT_NE(registry_->Find(r->id), nullptr);
  EXPECT_FALSE(registry_->Find(r->id)->active);
  EXPECT_TRUE(registry_->Authenticate(r->id, r->secret).ok());
}

TEST(ParseLocationTest, AcceptsLatLongAndOptionalRadius) {
  auto l = ParseLocation("48.1, 11.5");
  ASSERT_TRUE(l.ok());
  EXPECT_DOUBLE_EQ(l->first.lat, 48.1);
  EXPECT_DOUBLE_EQ(l->second, 0);
  EXPECT_DOUBLE_EQ(ParseLocation("1,2,30")->second, 30);
  for (const char* bad : {"", "1", "91,0", "0,181", "1,2,-1", "a,b", "1,2,3,4"})
    EXPECT_FALSE(ParseLocation(bad).ok()) << bad;
}

TEST_F(RegistryTest, TimeTheRootWasNotRunningIsNotCountedAsSilence) {
  auto r = registry_->Register(Body("c1"), "127.0.0.1");
  ClusterState* c = *registry_->Authenticate(r->id, r->secret);
  ASSERT_TRUE(registry_->ApplyHeartbeat(*c, {{"vcpus", 4}}).ok());
  registry_->NoteTick(1000);
  clock_.Advance(1'000);
  registry_->NoteTick(1000);  // on time
  clock_.Advance(20'000);     // the root's loop did not run for 20 s
  registry_->NoteTick(1000);
  EXPECT_EQ(registry_->CheckLiveness(), 0) << "the cluster was silent only while the root was";
  EXPECT_TRUE(registry_->Lost().empty());
  for (int i = 0; i < 15; ++i) {  // then the root runs again, on time, and the cluster stays silent
    clock_.Advance(1'000);
    registry_->NoteTick(1000);
  }
  EXPECT_EQ(registry_->CheckLiveness(), 1);
  for (int i = 0; i < 16; ++i) {
    clock_.Advance(1'000);
    registry_->NoteTick(1000);
  }
  EXPECT_EQ(registry_->Lost().size(), 1u);
}

TEST_F(RegistryTest, AnAnswerToTheRootIsASignOfLifeButDoesNotMakeActive) {
  auto r = registry_->Register(Body("c1"), "127.0.0.1");
  ClusterState* c = *registry_->Authenticate(r->id, r->secret);
  ASSERT_TRUE(registry_->ApplyHeartbeat(*c, {{"vcpus", 4}}).ok());
  clock_.Advance(14'000);
  registry_->NoteAnswer(r->id);  // answered a deploy; its reports are still on their way
  clock_.Advance(14'000);
  EXPECT_EQ(registry_->CheckLiveness(), 0);
  clock_.Advance(2'000);
  EXPECT_EQ(registry_->CheckLiveness(), 1);
  registry_->NoteAnswer(r->id);
  EXPECT_EQ(registry_->ActiveCount(), 0) << "only a heartbeat brings a cluster back";
  EXPECT_TRUE(registry_->Lost().empty()) << "but one that answers is not lost";
  registry_->NoteAnswer("no-such-cluster");  // ignored
}

TEST_F(RegistryTest, AClusterWhoseReportTheRootIsStillApplyingIsNotSilent) {
  auto r = registry_->Register(Body("c1"), "127.0.0.1");
  ClusterState* c = *registry_->Authenticate(r->id, r->secret);
  ASSERT_TRUE(registry_->ApplyHeartbeat(*c, {{"vcpus", 4}}).ok());
  registry_->BeginReport(*c);
  clock_.Advance(40'000);  // the root's commit queue is long: the report takes 40 s to apply
  EXPECT_EQ(registry_->CheckLiveness(), 0);
  EXPECT_TRUE(registry_->Lost().empty());
  registry_->EndReport(*c);
  clock_.Advance(14'000);  // the end of the report was a sign of life
  EXPECT_EQ(registry_->CheckLiveness(), 0);
  clock_.Advance(2'000);
  EXPECT_EQ(registry_->CheckLiveness(), 1);
  clock_.Advance(16'000);
  EXPECT_EQ(registry_->Lost().size(), 1u);
}

TEST_F(RegistryTest, ALostClusterIsOneSilentForATimeoutAlsoCountingFromARestart) {
  auto r = registry_->Register(Body("c1"), "127.0.0.1");
  ClusterState* c = *registry_->Authenticate(r->id, r->secret);
  ASSERT_TRUE(registry_->ApplyHeartbeat(*c, {{"vcpus", 4}}).ok());
  ASSERT_TRUE(store_->UpsertCluster(c->rec).ok());
  EXPECT_TRUE(registry_->Lost().empty());
  clock_.Advance(16'000);
  registry_->CheckLiveness();
  ASSERT_EQ(registry_->Lost().size(), 1u);
  EXPECT_EQ(registry_->Lost()[0]->rec.name, "c1");
  // After a restart of the root every cluster is inactive, but none is lost before it had a whole
  // timeout to report.
  Open();
  EXPECT_TRUE(registry_->Lost().empty());
  clock_.Advance(14'000);
  EXPECT_TRUE(registry_->Lost().empty());
  clock_.Advance(2'000);
  EXPECT_EQ(registry_->Lost().size(), 1u);
  c = *registry_->Authenticate(r->id, registry_->Find(r->id)->rec.secret);
  ASSERT_TRUE(registry_->ApplyHeartbeat(*c, {{"vcpus", 4}}).ok());
  EXPECT_TRUE(registry_->Lost().empty());
}

TEST(FailOver, WhatMovesOffALostCluster) {
  for (const char* s : {"CLUSTER_SCHEDULED", "NODE_SCHEDULED", "CREATING", "CREATED", "RUNNING", "NO_WORKER_CAPACITY",
                        "NO_QUALIFIED_WORKER_FOUND", "NO_NODE_FOUND"})
    EXPECT_TRUE(WantedOnLostCluster(s, "")) << s;
  EXPECT_TRUE(WantedOnLostCluster("DEAD", "exited with code 3; restart 2 in 2 s"));
  EXPECT_FALSE(WantedOnLostCluster("DEAD", "exited with code 3; gave up after 6 attempts"));
  EXPECT_TRUE(WantedOnLostCluster("FAILED", std::string(kHandOverFailedPrefix) + "cluster c1: timed out"));
  EXPECT_TRUE(WantedOnLostCluster("FAILED", LostClusterDetail("c1", 15'000) + "; not placed elsewhere: x"));
  EXPECT_FALSE(WantedOnLostCluster("FAILED", "manifest unknown"));
  for (const char* s : {"COMPLETED", "UNDEPLOYED", "REQUESTED", "NoActiveClusterWithCapacity"})
    EXPECT_FALSE(WantedOnLostCluster(s, "")) << s;
  EXPECT_EQ(LostClusterDetail("c1", 15'000), "cluster c1 lost (no report for 15 s)");
}

}  // namespace
}  // namespace oak::root
