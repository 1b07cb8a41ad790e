// Each filter, at both levels: a candidate that fails it is skipped in favour of one that passes,
// and a lone failing candidate yields no placement.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "scheduler/scheduler.h"

namespace oak::scheduler {
namespace {

Candidate Make(std::string name, int64_t vcpus = 4, int64_t memory_mb = 8192) {
  Candidate c;
  c.id = "id-" + name;
  c.name = std::move(name);
  c.free = {vcpus, memory_mb, 50000, 1};
  c.total = {8, 16384, 100000, 1};
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

class FilterTest : public ::testing::TestWithParam<Level> {
 protected:
  // Candidate 0 fails the filter under test, candidate 1 passes; firstfit must skip 0.
  int Pick(const Request& r, const std::vector<Candidate>& cs) {
    return Schedule(GetParam(), r, cs, Policy::kFirstFit).index;
  }
  bool Alone(const Request& r, const Candidate& c) {
    std::vector<Candidate> one{c};
    return Schedule(GetParam(), r, one, Policy::kSpread).ok();
  }
};

TEST_P(FilterTest, Active) {
  std::vector<Candidate> cs{Make("a"), Make("b")};
  cs[0].active = false;
  EXPECT_EQ(Pick(Need(), cs), 1);
  EXPECT_FALSE(Alone(Need(), cs[0]));
}

TEST_P(FilterTest, Virtualization) {
  std::vector<Candidate> cs{Make("a"), Make("b")};
  cs[1].virtualization = {"container", "unikernel"};
  Request r = Need();
  r.virtualization = "unikernel";
  EXPECT_EQ(Pick(r, cs), 1);
  EXPECT_FALSE(Alone(r, cs[0]));
  cs[0].virtualization.clear();
  EXPECT_FALSE(Alone(Need(), cs[0]));
}

TEST_P(FilterTest, EachResourceMustFit) {
  Request r = Need(2, 1024);
  r.need.storage_mb = 1000;
  r.need.vgpus = 1;
  const Candidate ok = Make("ok");
  EXPECT_TRUE(Alone(r, ok));
  Candidate c = ok;
  c.free.vcpus = 1;
  EXPECT_FALSE(Alone(r, c));
  c = ok;
  c.free.memory_mb = 1023;
  EXPECT_FALSE(Alone(r, c));
  c = ok;
  c.free.storage_mb = 999;
  EXPECT_FALSE(Alone(r, c));
  c = ok;
  c.free.vgpus = 0;
  EXPECT_FALSE(Alone(r, c));
  c = ok;  // exact fit is a fit
  c.free = {2, 1024, 1000, 1};
  EXPECT_TRUE(Alone(r, c));
}

TEST_P(FilterTest, ArchAnyOfListed) {
  std::vector<Candidate> cs{Make("a"), Make("b")};
  cs[1].arch = {"amd64", "arm64"};
  Request r = Need();
  r.arch = {"riscv64", "arm64"};
  EXPECT_EQ(Pick(r, cs), 1);
  EXPECT_FALSE(Alone(r, cs[0]));
  r.arch.clear();  // no arch listed: any candidate
  EXPECT_EQ(Pick(r, cs), 0);
}

TEST_P(FilterTest, AddonsAllRequired) {
  std::vector<Candidate> cs{Make("a"), Make("b")};
  cs[0].addons = {"gpu"};
  cs[1].addons = {"tpu", "gpu", "psql"};
  Request r = Need();
  r.needs_addons = {"gpu", "tpu"};
  EXPECT_EQ(Pick(r, cs), 1);
  EXPECT_FALSE(Alone(r, cs[0]));
}

TEST_P(FilterTest, GeoWithinThreshold) {
  std::vector<Candidate> cs{Make("berlin"), Make("garching")};
  cs[0].location = GeoPoint{52.52, 13.405};
  cs[1].location = GeoPoint{48.249, 11.651};
  Request r = Need();
  r.geo = GeoPoint{48.137, 11.575};  // Munich
  r.geo_threshold_km = 50;
  EXPECT_EQ(Pick(r, cs), 1);
  EXPECT_FALSE(Alone(r, cs[0]));
  r.geo_threshold_km = 600;
  EXPECT_EQ(Pick(r, cs), 0);
}

TEST_P(FilterTest, GeoWithoutLocationFails) {
  Request r = Need();
  r.geo = GeoPoint{48.137, 11.575};
  r.geo_threshold_km = 20000;  // the whole planet
  Candidate c = Make("a");
  EXPECT_FALSE(Alone(r, c));
  c.location = GeoPoint{-48, -168};
  EXPECT_TRUE(Alone(r, c));
}

TEST_P(FilterTest, RadiusCountsOnlyAtClusterLevel) {
  Candidate c = Make("berlin");
  c.location = GeoPoint{52.52, 13.405};  // ~504 km from Munich
  c.radius_km = 100;
  Request r = Need();
  r.geo = GeoPoint{48.137, 11.575};
  r.geo_threshold_km = 450;
  EXPECT_EQ(Alone(r, c), GetParam() == Level::kCluster);
}

TEST_P(FilterTest, AllowedClustersOnlyAtClusterLevel) {
  std::vector<Candidate> cs{Make("a"), Make("b")};
  Request r = Need();
  r.allowed_clusters = {"x", "b"};
  EXPECT_EQ(Pick(r, cs), GetParam() == Level::kCluster ? 1 : 0);
}

TEST_P(FilterTest, DirectClusterOnlyAtClusterLevel) {
  std::vector<Candidate> cs{Make("a"), Make("b")};
  Request r = Need();
  r.direct_cluster = "b";
  EXPECT_EQ(Pick(r, cs), GetParam() == Level::kCluster ? 1 : 0);
}

TEST_P(FilterTest, DirectNodeAndTargetNodeOnlyAtNodeLevel) {
  std::vector<Candidate> cs{Make("a"), Make("b")};
  Request r = Need();
  r.direct_node = "b";
  EXPECT_EQ(Pick(r, cs), GetParam() == Level::kNode ? 1 : 0);
  r.direct_node.clear();
  r.target_node = "b";
  EXPECT_EQ(Pick(r, cs), GetParam() == Level::kNode ? 1 : 0);
  r.direct_node = "b";  // both naming the same node is fine
  EXPECT_EQ(Pick(r, cs), GetParam() == Level::kNode ? 1 : 0);
}

TEST_P(FilterTest, PinOverridesPolicyPreference) {
  std::vector<Candidate> cs{Make("big", 8, 16000), Make("small", 1, 600)};
  Request r = Need();
  if (GetParam() == Level::kCluster) r.direct_cluster = "small"; else r.target_node = "small";
  EXPECT_EQ(Schedule(GetParam(), r, cs, Policy::kSpread).index, 1);
}

TEST_P(FilterTest, EmptyVirtualizationInRequestMatchesAny) {
  Request r = Need();
  r.virtualization.clear();
  Candidate c = Make("a");
  c.virtualization = {"wasm"};
  EXPECT_TRUE(Alone(r, c));
}

TEST_P(FilterTest, NamesAndListsMatchExactly) {
  // Lengths around the 4- and 8-byte comparison paths, differing at the first, a middle or the last byte.
  const std::vector<std::string> names{"a", "abc", "abcd", "abcdefg", "abcdefgh", "node-0001", "edge-cluster-16b",
                                       "edge-cluster-017b", "a-rather-long-node-host-name"};
  for (const std::string& want : names) {
    for (size_t at : {size_t{0}, want.size() / 2, want.size() - 1}) {
      std::string other = want;
      other[at] = other[at] == 'x' ? 'y' : 'x';
      std::vector<Candidate> cs{Make(other), Make(want + "x"), Make(want)};
      Request r = Need();
      if (GetParam() == Level::kCluster) r.direct_cluster = want; else r.direct_node = want;
      EXPECT_EQ(Pick(r, cs), 2) << want << " vs " << other;
      r = Need();
      r.virtualization = want;
      cs[0].virtualization = {other};
      cs[1].virtualization = {want + "x", want.substr(1)};
      cs[2].virtualization = {other, want};
      EXPECT_EQ(Pick(r, cs), 2) << want << " vs " << other;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BothLevels, FilterTest, ::testing::Values(Level::kCluster, Level::kNode),
                         [](const auto& info) { return info.param == Level::kCluster ? "Cluster" : "Node"; });

TEST(DistanceKm, KnownDistances) {
  EXPECT_NEAR(DistanceKm({48.137, 11.575}, {52.52, 13.405}), 504, 3);     // Munich-Berlin
  EXPECT_NEAR(DistanceKm({51.5074, -0.1278}, {40.7128, -74.006}), 5570, 10);  // London-New York
  EXPECT_DOUBLE_EQ(DistanceKm({10, 20}, {10, 20}), 0);
  EXPECT_NEAR(DistanceKm({0, 0}, {0, 180}), std::numbers::pi * 6371.0, 15);           // antipodes
  EXPECT_NEAR(DistanceKm({0, 179.5}, {0, -179.5}), 111.2, 0.5);          // across the antimeridian
}

// The geo filter avoids trigonometry with distance bounds; it must agree with the exact distance.
TEST(GeoFilter, AgreesWithHaversineEverywhere) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> lat(-89.9, 89.9), lon(-180, 180), km(0, 3000);
  int checked = 0, inside = 0;
  for (int i = 0; i < 20000; ++i) {
    Request r = Need();
    r.geo = GeoPoint{lat(rng), lon(rng)};
    r.geo_threshold_km = km(rng);
    Candidate c = Make("c");
    // Half the points near the request, so both sides of the threshold are exercised.
    c.location = i % 2 ? GeoPoint{lat(rng), lon(rng)}
                       : GeoPoint{std::clamp(r.geo->lat + lat(rng) / 10, -90.0, 90.0),
                                  std::remainder(r.geo->lon + lon(rng) / 10, 360.0)};
    const double d = DistanceKm(*r.geo, *c.location);
    if (std::fabs(d - r.geo_threshold_km) < 1e-6) continue;
    std::vector<Candidate> one{c};
    const bool want = d <= r.geo_threshold_km;
    EXPECT_EQ(Schedule(Level::kNode, r, one, Policy::kFirstFit).ok(), want)
        << "request " << r.geo->lat << "," << r.geo->lon << " candidate " << c.location->lat << ","
        << c.location->lon << " threshold " << r.geo_threshold_km << " distance " << d;
    ++checked;
    inside += want;
  }
  EXPECT_GT(checked, 19000);
  EXPECT_GT(inside, 2000);
  EXPECT_LT(inside, checked - 2000);
}

}  // namespace
}  // namespace oak::scheduler
