// What the runc runtime observes of its containers: how they ended, what they use, what they printed.
#include <fstream>

#include <boost/asio/post.hpp>

#include "common/fs.h"
#include "node/runtime/runc.h"

namespace oak::node {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

int64_t TotalMemoryMbOfHost() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") return kb / 1024;
    in.ignore(1 << 10, '\n');
  }
  return 0;
}

std::optional<uint64_t> ReadNumber(const std::string& path, const std::string& key = {}) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  if (key.empty()) {
    uint64_t v = 0;
    if (in >> v) return v;
    return std::nullopt;
  }
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return std::nullopt;
}

// Cumulative CPU time in ns and current memory in bytes of a cgroup (v2, else v1).
std::pair<std::optional<uint64_t>, std::optional<uint64_t>> CgroupUsage(const std::string& path) {
  const std::string v2 = "/sys/fs/cgroup" + path;
  if (auto usec = ReadNumber(v2 + "/cpu.stat", "usage_usec")) {
    return {*usec * 1000, ReadNumber(v2 + "/memory.current")};
  }
  return {ReadNumber("/sys/fs/cgroup/cpuacct" + path + "/cpuacct.usage"),
          ReadNumber("/sys/fs/cgroup/memory" + path + "/memory.usage_in_bytes")};
}


std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : std::to_string(sig);
}

}  // namespace

int64_t RuncRuntime::HostMemoryMb() { return TotalMemoryMbOfHost(); }

InstanceStatus StatusFromExit(const InstanceKey& key, const json& exit, bool one_shot, int64_t memory_mb) {
  if (exit.contains("error") && exit["error"].is_string()) return {key, "FAILED", exit["error"].get<std::string>()};
  bool oom = exit.value("oom", false);
  if (oom) {
    std::string limit = memory_mb > 0 ? " (limit " + std::to_string(memory_mb) + " MB)" : "";
    return {key, "DEAD", "out of memory: killed by the kernel's OOM killer" + limit};
  }
  if (exit.contains("signal") && exit["signal"].is_number_integer()) {
    int sig = exit["signal"].get<int>();
    return {key, "DEAD", "killed by signal " + std::to_string(sig) + " (" + SignalName(sig) + ")"};
  }
  int code = exit.contains("exit_code") && exit["exit_code"].is_number_integer() ? exit["exit_code"].get<int>() : -1;
  if (code == 0 && one_shot) return {key, "COMPLETED", ""};
  return {key, "DEAD", "exited with code " + std::to_string(code)};
}

std::vector<InstanceUsage> RuncRuntime::Usage() {
  std::vector<InstanceUsage> out;
  auto now = std::chrono::steady_clock::now();
  for (auto& [key, inst] : instances_) {
    if (inst.status != "RUNNING") continue;
    InstanceUsage u{key, "container"};
    auto [cpu_ns, mem] = CgroupUsage(CgroupPath(key));
    if (cpu_ns) {
      if (inst.cpu_at != std::chrono::steady_clock::time_point{} && *cpu_ns >= inst.cpu_ns) {
        double wall = std::chrono::duration<double, std::nano>(now - inst.cpu_at).count();
        if (wall > 0) u.cpu_percent = 100.0 * static_cast<double>(*cpu_ns - inst.cpu_ns) / wall;
      }
      inst.cpu_ns = *cpu_ns;
      inst.cpu_at = now;
    }
    if (mem) {
      u.memory_mb = static_cast<double>(*mem) / (1024.0 * 1024.0);
      if (opts_.node_memory_mb > 0) u.memory_percent = 100.0 * u.memory_mb / static_cast<double>(opts_.node_memory_mb);
    }
    u.disk_mb = inst.disk_mb;
    out.push_back(u);
  }
  if (!disk_sampling_ && now - disk_sampled_at_ >= kDiskSampleEvery && !out.empty()) SampleDisk();
  return out;
}

void RuncRuntime::SampleDisk() {
  disk_sampling_ = true;
  disk_sampled_at_ = std::chrono::steady_clock::now();
  std::vector<std::pair<InstanceKey, std::string>> bundles;
  for (const auto& [key, inst] : instances_) {
    if (inst.status == "RUNNING") bundles.emplace_back(key, BundleDir(key));
  }
  asio::post(pool_, [this, alive = alive_, bundles = std::move(bundles)] {
    std::vector<std::pair<InstanceKey, double>> sizes;
    for (const auto& [key, bundle] : bundles) {
      auto bytes = images_.WritableBytes(bundle);
      if (bytes.ok()) sizes.emplace_back(key, static_cast<double>(*bytes) / (1024.0 * 1024.0));
    }
    asio::post(loop_, [this, alive, sizes = std::move(sizes)] {
      if (!*alive) return;
      disk_sampling_ = false;
      for (const auto& [key, mb] : sizes) {
        if (auto it = instances_.find(key); it != instances_.end()) it->second.disk_mb = mb;
      }
    });
  });
}

Result<std::string> RuncRuntime::Logs(const InstanceKey& key, size_t max_bytes) const {
  if (!instances_.count(key)) return Status::NotFound(key.ContainerName() + " is not on this node");
  const std::string base = BundleDir(key) + "/log";
  std::string text;
  if (auto older = ReadFile(base + ".1"); older.ok()) text = std::move(*older);
  if (auto current = ReadFile(base); current.ok()) text += *current;
  if (text.size() > max_bytes) text.erase(0, text.size() - max_bytes);
  return text;
}

}  // namespace oak::node
