// Every scheduling-failure status, at the level that produces it, with a detail a user can act on.
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scheduler/scheduler.h"

namespace oak::scheduler {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

Candidate Make(std::string name, int64_t vcpus = 4, int64_t memory_mb = 8192) {
  Candidate c;
  c.id = "id-" + name;
  c.name = std::move(name);
  c.free = {vcpus, memory_mb, 50000, 0};
  c.total = {8, 16384, 100000, 0};
  c.virtualization = {"container"};
  c.arch = {"amd64"};
  return c;
}

Request Need(int64_t vcpus = 1, int64_t memory_mb = 512) {
  Request r;
  r.need = {vcpus, memory_mb, 0, 0};
  r.virtualization = "container";
  return r;
}

Decision Cluster(const Request& r, const std::vector<Candidate>& cs) {
  return Schedule(Level::kCluster, r, cs, Policy::kSpread);
}
Decision Node(const Request& r, const std::vector<Candidate>& cs) {
  return Schedule(Level::kNode, r, cs, Policy::kSpread);
}

TEST(ClusterStatus, SuccessCarriesNoStatusOrDetail) {
  const Decision d = Cluster(Need(), {Make("a")});
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(d.index, 0);
  EXPECT_TRUE(d.status.empty());
  EXPECT_TRUE(d.detail.empty());
}

TEST(ClusterStatus, TargetClusterNotFound) {
  Request r = Need();
  r.direct_cluster = "edge9";
  const Decision d = Cluster(r, {Make("edge1"), Make("edge2")});
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.index, -1);
  EXPECT_EQ(d.status, "TargetClusterNotFound");
  EXPECT_EQ(d.detail, "no cluster named 'edge9' (2 clusters known)");
}

TEST(ClusterStatus, TargetClusterNotInAllowedList) {
  Request r = Need();
  r.direct_cluster = "edge1";
  r.allowed_clusters = {"edge2", "edge3"};
  const Decision d = Cluster(r, {Make("edge1"), Make("edge2")});
  EXPECT_EQ(d.status, "TargetClusterNotFound");
  EXPECT_EQ(d.detail, "direct cluster 'edge1' is not among the allowed clusters (edge2, edge3)");
}

TEST(ClusterStatus, TargetClusterNotActive) {
  Request r = Need();
  r.direct_cluster = "edge1";
  std::vector<Candidate> cs{Make("edge1"), Make("edge2")};
  cs[0].active = false;
  const Decision d = Cluster(r, cs);
  EXPECT_EQ(d.status, "TargetClusterNotActive");
  EXPECT_EQ(d.detail, "cluster 'edge1' is not active");
}

TEST(ClusterStatus, TargetClusterNoCapacity) {
  Request r = Need(1, 4096);
  r.direct_cluster = "edge1";
  const Decision d = Cluster(r, {Make("edge1", 4, 2048), Make("edge2")});
  EXPECT_EQ(d.status, "TargetClusterNoCapacity");
  EXPECT_EQ(d.detail, "cluster 'edge1' cannot host the service: lacks memory (need 4096 MB, free 2048 MB)");
}

TEST(ClusterStatus, TargetClusterThatFailsAQualificationIsNoCapacityToo) {
  Request r = Need();
  r.direct_cluster = "edge1";
  r.virtualization = "unikernel";
  const Decision d = Cluster(r, {Make("edge1")});
  EXPECT_EQ(d.status, "TargetClusterNoCapacity");
  EXPECT_EQ(d.detail, "cluster 'edge1' cannot host the service: without unikernel support");
}

TEST(ClusterStatus, NoActiveClusterWithCapacityCountsEachReason) {
  std::vector<Candidate> cs{Make("a", 4, 1024), Make("b", 4, 2048), Make("c")};
  cs[2].active = false;
  const Decision d = Cluster(Need(1, 4096), cs);
  EXPECT_EQ(d.status, "NoActiveClusterWithCapacity");
  EXPECT_EQ(d.detail,
            "no active cluster with capacity: 3 clusters; 1 inactive, 2 lack memory (need 4096 MB, most "
            "free 2048 MB)");
}

TEST(ClusterStatus, SeveralResourcesAndQualifications) {
  std::vector<Candidate> cs{Make("a", 1, 1024), Make("b", 2, 8192), Make("c"), Make("d", 4, 2048)};
  cs[2].arch = {"arm64"};
  Request r = Need(4, 4096);
  r.arch = {"amd64"};
  const Decision d = Cluster(r, cs);
  EXPECT_EQ(d.status, "NoActiveClusterWithCapacity");
  EXPECT_THAT(d.detail, AllOf(HasSubstr("4 clusters"), HasSubstr("1 without arch amd64"),
                              HasSubstr("2 lack vcpus (need 4, most free 4)"),
                              HasSubstr("2 lack memory (need 4096 MB, most free 8192 MB)")));
}

TEST(ClusterStatus, EmptyListOnlyInactiveAndAllowedNamesUnknown) {
  EXPECT_EQ(Cluster(Need(), {}).status, "NoActiveClusterWithCapacity");
  EXPECT_EQ(Cluster(Need(), {}).detail, "no active cluster with capacity: no clusters are registered");

  std::vector<Candidate> cs{Make("a"), Make("b")};
  cs[0].active = cs[1].active = false;
  Decision d = Cluster(Need(), cs);
  EXPECT_EQ(d.status, "NoActiveClusterWithCapacity");
  EXPECT_EQ(d.detail, "no active cluster: all 2 clusters are inactive");

  Request r = Need();
  r.allowed_clusters = {"x", "y"};
  d = Cluster(r, {Make("a")});
  EXPECT_EQ(d.status, "NoActiveClusterWithCapacity");
  EXPECT_EQ(d.detail, "clusters: none of the allowed clusters (x, y) is known (1 cluster checked)");
}

TEST(ClusterStatus, GeoIncludesClusterArea) {
  std::vector<Candidate> cs{Make("berlin"), Make("nowhere")};
  cs[0].location = GeoPoint{52.52, 13.405};
  Request r = Need();
  r.geo = GeoPoint{48.1, 11.5};
  r.geo_threshold_km = 50;
  const Decision d = Cluster(r, cs);
  EXPECT_EQ(d.status, "NoActiveClusterWithCapacity");
  EXPECT_EQ(d.detail, "geo: no cluster area within 50 km of 48.1,11.5 (2 clusters checked)");
}

TEST(ClusterStatus, GeoAmongOtherReasons) {
  std::vector<Candidate> cs{Make("berlin"), Make("munich")};
  cs[0].location = GeoPoint{52.52, 13.405};
  cs[1].active = false;
  Request r = Need();
  r.geo = GeoPoint{48.1, 11.5};
  r.geo_threshold_km = 50;
  Decision d = Cluster(r, cs);
  EXPECT_EQ(d.status, "NoActiveClusterWithCapacity");
  EXPECT_EQ(d.detail,
            "no active cluster with capacity: 2 clusters; 1 inactive, 1 with an area farther than 50 km from "
            "48.1,11.5");
  d = Node(r, cs);
  EXPECT_EQ(d.status, "NO_QUALIFIED_WORKER_FOUND");
  EXPECT_EQ(d.detail, "no qualified node: 2 nodes; 1 inactive, 1 farther than 50 km from 48.1,11.5");
}

TEST(ClusterStatus, NodeLevelStatusesNeverAppearAtClusterLevel) {
  Request r = Need(1, 1 << 20);
  r.direct_node = "nope";
  r.target_node = "other";
  EXPECT_EQ(Cluster(r, {Make("a")}).status, "NoActiveClusterWithCapacity");
}

TEST(NodeStatus, NoNodeFoundForDirectAndTargetNode) {
  Request r = Need();
  r.target_node = "ghost";
  Decision d = Node(r, {Make("n1"), Make("n2")});
  EXPECT_EQ(d.status, "NO_NODE_FOUND");
  EXPECT_EQ(d.detail, "no node named 'ghost' (2 nodes in the cluster)");

  r.target_node.clear();
  r.direct_node = "ghost";
  EXPECT_EQ(Node(r, {Make("n1")}).status, "NO_NODE_FOUND");

  r.target_node = "n1";  // both set and disagreeing: no node can satisfy both
  d = Node(r, {Make("n1"), Make("ghost")});
  EXPECT_EQ(d.status, "NO_NODE_FOUND");
  EXPECT_THAT(d.detail, AllOf(HasSubstr("'n1'"), HasSubstr("'ghost'"), HasSubstr("different nodes")));
}

TEST(NodeStatus, PinnedNodeWithoutCapacityOrQualification) {
  Request r = Need(1, 4096);
  r.target_node = "n1";
  Decision d = Node(r, {Make("n1", 4, 1000), Make("n2")});
  EXPECT_EQ(d.status, "NO_WORKER_CAPACITY");
  EXPECT_EQ(d.detail, "node 'n1' cannot host the service: lacks memory (need 4096 MB, free 1000 MB)");

  std::vector<Candidate> cs{Make("n1"), Make("n2")};
  cs[0].active = false;
  d = Node(r, cs);
  EXPECT_EQ(d.status, "NO_QUALIFIED_WORKER_FOUND");
  EXPECT_EQ(d.detail, "node 'n1' cannot host the service: inactive");
}

TEST(NodeStatus, NoWorkerCapacityWhenSomeQualified) {
  std::vector<Candidate> cs{Make("n1", 1, 8192), Make("n2", 4, 8192), Make("n3")};
  cs[2].virtualization = {"unikernel"};
  const Decision d = Node(Need(2, 8192 + 1), cs);
  EXPECT_EQ(d.status, "NO_WORKER_CAPACITY");
  EXPECT_EQ(d.detail,
            "no node with enough free resources: 3 nodes; 1 without container support, 1 lacks vcpus "
            "(need 2, most free 4), 2 lack memory (need 8193 MB, most free 8192 MB)");
}

TEST(NodeStatus, NoQualifiedWorkerWhenNoneQualified) {
  std::vector<Candidate> cs{Make("n1"), Make("n2"), Make("n3")};
  cs[0].active = false;
  cs[1].arch = {"arm64"};
  cs[2].addons = {"gpu"};
  Request r = Need();
  r.arch = {"amd64"};
  r.needs_addons = {"gpu", "tpu"};
  const Decision d = Node(r, cs);
  EXPECT_EQ(d.status, "NO_QUALIFIED_WORKER_FOUND");
  EXPECT_EQ(d.detail, "no qualified node: 3 nodes; 1 inactive, 1 without arch amd64, 1 without add-ons gpu, tpu");
}

TEST(NodeStatus, SoleReasonNamesTheConstraint) {
  Request r = Need();
  r.geo = GeoPoint{48.1, 11.5};
  r.geo_threshold_km = 50;
  std::vector<Candidate> cs{Make("n1"), Make("n2")};
  cs[0].location = GeoPoint{52.52, 13.405};
  Decision d = Node(r, cs);
  EXPECT_EQ(d.status, "NO_QUALIFIED_WORKER_FOUND");
  EXPECT_EQ(d.detail, "geo: no node within 50 km of 48.1,11.5 (2 nodes checked)");

  r = Need();
  r.virtualization = "unikernel";
  EXPECT_EQ(Node(r, cs).detail, "virtualization: no node supports unikernel (2 nodes checked)");
  r = Need();
  r.arch = {"arm64", "riscv64"};
  EXPECT_EQ(Node(r, cs).detail, "arch: no node has arch arm64 or riscv64 (2 nodes checked)");
  r = Need();
  r.needs_addons = {"gpu"};
  EXPECT_EQ(Node(r, cs).detail, "addons: no node supports all of gpu (2 nodes checked)");
}

TEST(NodeStatus, EmptyListAndOnlyInactive) {
  Decision d = Node(Need(), {});
  EXPECT_EQ(d.status, "NO_QUALIFIED_WORKER_FOUND");
  EXPECT_EQ(d.detail, "no qualified node: the cluster has no nodes");

  std::vector<Candidate> cs{Make("n1")};
  cs[0].active = false;
  d = Node(Need(), cs);
  EXPECT_EQ(d.status, "NO_QUALIFIED_WORKER_FOUND");
  EXPECT_EQ(d.detail, "no active node: the only node is inactive");
}

TEST(NodeStatus, ClusterConstraintsAreIgnoredAtNodeLevel) {
  Request r = Need();
  r.direct_cluster = "elsewhere";
  r.allowed_clusters = {"elsewhere"};
  EXPECT_TRUE(Node(r, {Make("n1")}).ok());
}

TEST(ZeroNeeds, FitAnywhereActiveAndQualified) {
  Request r = Need(0, 0);
  std::vector<Candidate> cs{Make("full", 0, 0)};
  cs[0].free = {};
  EXPECT_TRUE(Node(r, cs).ok());
  EXPECT_TRUE(Cluster(r, cs).ok());
  cs[0].free.memory_mb = -5;  // oversubscribed by reservations: nothing fits, not even zero
  const Decision d = Node(r, cs);
  EXPECT_EQ(d.status, "NO_WORKER_CAPACITY");
  EXPECT_THAT(d.detail, HasSubstr("1 node; 1 lacks memory (need 0 MB, most free -5 MB)"));
}

TEST(AllPolicies, ReportTheSameFailure) {
  std::vector<Candidate> cs{Make("a", 1, 100)};
  for (Policy p : {Policy::kSpread, Policy::kBinpack, Policy::kFirstFit}) {
    const Decision d = Schedule(Level::kNode, Need(2, 50), cs, p);
    EXPECT_EQ(d.index, -1);
    EXPECT_EQ(d.status, "NO_WORKER_CAPACITY") << PolicyName(p);
  }
}

}  // namespace
}  // namespace oak::scheduler
