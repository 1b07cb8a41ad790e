// What the runc runtime observes of its containers: how they ended, what they use, what they printed.
#include <filesystem>
#include <fstream>

#include "common/fs.h"
#include "node/runtime/runc.h"

namespace oak::node {

namespace fs = std::filesystem;
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

uint64_t DirBytes(const std::string& dir) {
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  }
  return total;
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
    u.disk_mb = static_cast<double>(DirBytes(BundleDir(key) + "/upper")) / (1024.0 * 1024.0);
    out.push_back(u);
  }
  return out;
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
