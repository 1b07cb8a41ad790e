// Host probe parsers (fed canned /proc text) and the synthetic machines of `oak sim`.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <set>

#include "node/host_probe.h"
#include "node/synthetic_probe.h"
#include "support/process.h"

namespace oak::node {
namespace {

TEST(HostProbeTest, ParsesProcStat) {
  auto t = ParseProcStat("cpu  100 5 50 800 20 1 2 3 0 0\ncpu0 1 2 3 4\n");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->total, 981u);
  EXPECT_EQ(t->busy, 161u);
  EXPECT_FALSE(ParseProcStat("intr 1 2 3").ok());
  EXPECT_FALSE(ParseProcStat("cpu 1 2").ok());
}

TEST(HostProbeTest, ParsesMeminfo) {
  auto m = ParseMeminfo("MemTotal:       16303428 kB\nMemFree:          123 kB\nMemAvailable:    8000000 kB\n");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->total_kb, 16303428);
  EXPECT_EQ(m->available_kb, 8000000);
  EXPECT_FALSE(ParseMeminfo("MemTotal: 5 kB\n").ok());
}

TEST(HostProbeTest, ParsesNvidiaSmi) {
  auto g = ParseNvidiaSmi("Tesla T4, 15360, 15000, 7\nNVIDIA A100-SXM4-40GB, 40960, 40000, [N/A]\ngarbage\n");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].name, "Tesla T4");
  EXPECT_EQ(g[0].memory_total_mb, 15360);
  EXPECT_EQ(g[0].memory_free_mb, 15000);
  EXPECT_EQ(g[0].utilization_percent, 7);
  EXPECT_EQ(g[1].utilization_percent, 0);
  EXPECT_TRUE(ParseNvidiaSmi("").empty());
}

TEST(HostProbeTest, ArchitectureNames) {
  EXPECT_EQ(ArchitectureName("x86_64"), "amd64");
  EXPECT_EQ(ArchitectureName("aarch64"), "arm64");
  EXPECT_EQ(ArchitectureName("armv7l"), "arm");
  EXPECT_EQ(ArchitectureName("riscv64"), "riscv64");
}

TEST(HostProbeTest, ReadsThisMachine) {
  boost::asio::io_context io;
  oak::testing::TempDir dir("probe");
  auto p = HostProbe::Create(io.get_executor(), dir.path(), "h", "127.0.0.1", "");
  ASSERT_TRUE(p.ok()) << p.status().message();
  NodeInfo info = (*p)->Describe();
  EXPECT_EQ(info.host, "h");
  EXPECT_GT(info.vcpus, 0);
  EXPECT_GT(info.memory_mb, 0);
  EXPECT_GT(info.disk_mb, 0);
  NodeUsage u = (*p)->Sample({});
  EXPECT_GE(u.cpu_percent, 0);
  EXPECT_LE(u.cpu_percent, 100);
  EXPECT_GT(u.memory_free_mb, 0);
  EXPECT_LE(u.memory_free_mb, info.memory_mb);
  EXPECT_GT(u.memory_percent, 0);
  EXPECT_GT(u.disk_free_mb, 0);
  EXPECT_EQ(u.vcpus, info.vcpus);
}

TEST(SyntheticProbeTest, VariedPlausibleMachinesFromASeed) {
  std::set<int> cpus;
  std::set<int64_t> memory;
  int arm = 0, gpu = 0;
  for (uint64_t i = 0; i < 400; ++i) {
    SyntheticProbe p({.host = "sim-" + std::to_string(i), .seed = 1000 + i * 7919});
    NodeInfo n = p.Describe();
    EXPECT_GE(n.vcpus, 2);
    EXPECT_LE(n.vcpus, 16);
    EXPECT_GE(n.memory_mb, 2048);
    EXPECT_LE(n.memory_mb, 32768);
    cpus.insert(n.vcpus);
    memory.insert(n.memory_mb);
    arm += n.architecture == "arm64";
    gpu += n.gpu_cores > 0;
    EXPECT_FALSE(n.location.empty());
    EXPECT_EQ(n.host, "sim-" + std::to_string(i));
  }
  EXPECT_EQ(cpus.size(), 4u);
  EXPECT_EQ(memory.size(), 5u);
  EXPECT_GT(arm, 40);
  EXPECT_GT(gpu, 10);
  SyntheticProbe a({.host = "x", .seed = 5}), b({.host = "x", .seed = 5});
  EXPECT_EQ(a.Describe().location, b.Describe().location);
}

TEST(SyntheticProbeTest, LoadFollowsTheInstances) {
  SyntheticProbe p({.host = "x", .seed = 3});
  NodeInfo n = p.Describe();
  NodeUsage idle = p.Sample({});
  EXPECT_LT(idle.cpu_percent, 10);
  std::vector<InstanceUsage> busy;
  for (int i = 0; i < 4; ++i) busy.push_back({{"a.b.c.d", i}, "container", 100.0 * n.vcpus / 8, 256, 0, 10});
  NodeUsage loaded = p.Sample(busy);
  EXPECT_GT(loaded.cpu_percent, idle.cpu_percent + 40);
  EXPECT_LE(loaded.cpu_percent, 100);
  EXPECT_LE(loaded.memory_free_mb, idle.memory_free_mb - 1000);
  EXPECT_GE(loaded.memory_free_mb, 0);
  EXPECT_LE(loaded.disk_free_mb, n.disk_mb);
}

}  // namespace
}  // namespace oak::node
