// Each policy's choice on crafted candidate sets, and against a plain reference on random fleets.
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "scheduler/scheduler.h"

namespace oak::scheduler {
namespace {

Candidate Make(std::string name, int64_t vcpus, int64_t memory_mb, int64_t total_vcpus = 8,
               int64_t total_memory_mb = 16384) {
  Candidate c;
  c.id = "id-" + name;
  c.name = std::move(name);
  c.free = {vcpus, memory_mb, 1000, 0};
  c.total = {total_vcpus, total_memory_mb, 1000, 0};
  c.virtualization = {"container"};
  return c;
}

Request Need(int64_t vcpus, int64_t memory_mb) {
  Request r;
  r.need = {vcpus, memory_mb, 0, 0};
  r.virtualization = "container";
  return r;
}

int Pick(Policy p, const Request& r, const std::vector<Candidate>& cs, Level level = Level::kNode) {
  return Schedule(level, r, cs, p).index;
}

TEST(Spread, PicksMostHeadroomRelativeToSize) {
  // b has less free in absolute terms but a larger share of itself left after placement.
  std::vector<Candidate> cs{Make("a", 4, 8192, 8, 16384), Make("b", 3, 3072, 4, 4096),
                            Make("c", 1, 1024, 8, 16384)};
  EXPECT_EQ(Pick(Policy::kSpread, Need(1, 512), cs), 1);
  EXPECT_EQ(Pick(Policy::kSpread, Need(1, 512), cs, Level::kCluster), 1);
}

TEST(Spread, SkipsTheRoomiestWhenItCannotHost) {
  std::vector<Candidate> cs{Make("a", 2, 2048), Make("b", 8, 16384), Make("c", 4, 8192)};
  cs[1].active = false;
  EXPECT_EQ(Pick(Policy::kSpread, Need(1, 512), cs), 2);
}

TEST(Spread, TieBreaksOnCpuThenIndex) {
  std::vector<Candidate> cs{Make("a", 4, 8192), Make("b", 4, 8192), Make("c", 4, 8192)};
  cs[0].cpu_percent = 50;
  cs[1].cpu_percent = 10;
  cs[2].cpu_percent = 10;
  EXPECT_EQ(Pick(Policy::kSpread, Need(1, 512), cs), 1);
  cs[1].cpu_percent = 50;
  cs[2].cpu_percent = 50;
  EXPECT_EQ(Pick(Policy::kSpread, Need(1, 512), cs), 0);
}

TEST(Spread, UnknownTotalsFallBackToReportedLoad) {
  std::vector<Candidate> cs{Make("busy", 4, 8192, 0, 0), Make("idle", 4, 8192, 0, 0)};
  cs[0].cpu_percent = 80;
  cs[0].memory_percent = 70;
  cs[1].cpu_percent = 10;
  cs[1].memory_percent = 20;
  EXPECT_EQ(Pick(Policy::kSpread, Need(1, 512), cs), 1);
  EXPECT_EQ(Pick(Policy::kBinpack, Need(1, 512), cs), 0);
}

TEST(Binpack, PicksTightestFit) {
  std::vector<Candidate> cs{Make("a", 8, 16384), Make("b", 2, 1024), Make("c", 1, 600), Make("d", 4, 4096)};
  EXPECT_EQ(Pick(Policy::kBinpack, Need(1, 512), cs), 2);
  // c cannot take 700 MB; b is the next tightest.
  EXPECT_EQ(Pick(Policy::kBinpack, Need(1, 700), cs), 1);
}

TEST(Binpack, TiesGoToTheEarlierCandidate) {
  std::vector<Candidate> cs{Make("a", 8, 16384), Make("b", 2, 2048), Make("c", 2, 2048)};
  EXPECT_EQ(Pick(Policy::kBinpack, Need(1, 512), cs), 1);
}

TEST(FirstFit, PicksFirstThatPassesRegardlessOfScore) {
  std::vector<Candidate> cs{Make("a", 0, 16384), Make("b", 1, 600), Make("c", 8, 16384)};
  EXPECT_EQ(Pick(Policy::kFirstFit, Need(1, 512), cs), 1);
  EXPECT_EQ(Pick(Policy::kFirstFit, Need(1, 512), cs, Level::kCluster), 1);
  EXPECT_EQ(Pick(Policy::kFirstFit, Need(2, 512), cs), 2);
}

TEST(Policies, SingleFittingCandidateWinsUnderEveryPolicy) {
  std::vector<Candidate> cs{Make("a", 1, 100), Make("b", 2, 4096), Make("c", 8, 100)};
  for (Policy p : {Policy::kSpread, Policy::kBinpack, Policy::kFirstFit}) {
    EXPECT_EQ(Pick(p, Need(2, 1024), cs), 1) << PolicyName(p);
  }
}

TEST(Policies, ParseAndNameRoundTrip) {
  for (Policy p : {Policy::kSpread, Policy::kBinpack, Policy::kFirstFit}) {
    auto parsed = ParsePolicy(PolicyName(p));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, p);
  }
  EXPECT_EQ(PolicyName(Policy::kSpread), "spread");
  EXPECT_EQ(PolicyName(Policy::kBinpack), "binpack");
  EXPECT_EQ(PolicyName(Policy::kFirstFit), "firstfit");
  auto bad = ParsePolicy("roundrobin");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalid);
  EXPECT_NE(bad.status().message().find("roundrobin"), std::string::npos);
  EXPECT_FALSE(ParsePolicy("").ok());
  EXPECT_FALSE(ParsePolicy("Spread").ok());
}

// Straightforward restatement of the documented scoring, to check the one-pass loop against.
double Headroom(const Candidate& c, const Request& r) {
  auto share = [](int64_t free, int64_t need, int64_t total, double pct) {
    return total > 0 ? double(free - need) / double(total) : (100 - pct) / 100;
  };
  return share(c.free.memory_mb, r.need.memory_mb, c.total.memory_mb, c.memory_percent) +
         share(c.free.vcpus, r.need.vcpus, c.total.vcpus, c.cpu_percent);
}

TEST(Policies, MatchReferenceOnRandomFleets) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> vcpus(0, 16), mem(0, 64), pct(0, 100), coin(0, 9);
  for (int round = 0; round < 300; ++round) {
    std::vector<Candidate> cs;
    const int n = 1 + round % 50;
    for (int i = 0; i < n; ++i) {
      Candidate c = Make("n" + std::to_string(i), vcpus(rng), mem(rng) * 256, 16, 16384);
      if (coin(rng) == 0) c.total = {};
      c.active = coin(rng) != 0;
      c.cpu_percent = pct(rng);
      c.memory_percent = pct(rng);
      // Unqualified candidates that would score best exercise the late qualification checks.
      if (coin(rng) < 3) c.virtualization = {"unikernel"};
      cs.push_back(std::move(c));
    }
    const Request r = Need(1 + round % 4, 256 * (1 + round % 20));
    int first = -1, spread = -1, binpack = -1;
    for (int i = 0; i < n; ++i) {
      const Candidate& c = cs[i];
      if (!c.active || c.free.vcpus < r.need.vcpus || c.free.memory_mb < r.need.memory_mb ||
          c.virtualization[0] != "container") {
        continue;
      }
      if (first < 0) first = i;
      const double h = Headroom(c, r);
      if (spread < 0 || h > Headroom(cs[spread], r) ||
          (h == Headroom(cs[spread], r) && c.cpu_percent < cs[spread].cpu_percent)) {
        spread = i;
      }
      if (binpack < 0 || h < Headroom(cs[binpack], r)) binpack = i;
    }
    EXPECT_EQ(Pick(Policy::kFirstFit, r, cs), first) << "round " << round;
    EXPECT_EQ(Pick(Policy::kSpread, r, cs), spread) << "round " << round;
    EXPECT_EQ(Pick(Policy::kBinpack, r, cs), binpack) << "round " << round;
  }
}

}  // namespace
}  // namespace oak::scheduler
