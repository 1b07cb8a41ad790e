#include "node/host_probe.h"

#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "common/fs.h"

namespace oak::node {

namespace asio = boost::asio;

Result<CpuTimes> ParseProcStat(std::string_view text) {
  std::istringstream in{std::string(text.substr(0, text.find('\n')))};
  std::string label;
  in >> label;
  if (label != "cpu") return Status::Invalid("/proc/stat: no aggregate cpu line");
  // user nice system idle iowait irq softirq steal [guest guest_nice: already inside user/nice]
  uint64_t v[8] = {};
  int n = 0;
  while (n < 8 && in >> v[n]) ++n;
  if (n < 4) return Status::Invalid("/proc/stat: short cpu line");
  CpuTimes t;
  for (int i = 0; i < n; ++i) t.total += v[i];
  t.busy = t.total - v[3] - (n > 4 ? v[4] : 0);
  return t;
}

Result<MemInfo> ParseMeminfo(std::string_view text) {
  MemInfo m;
  std::istringstream in{std::string(text)};
  std::string key;
  int64_t value = 0;
  std::string unit;
  bool total = false, avail = false;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemTotal:") m.total_kb = value, total = true;
    else if (key == "MemAvailable:") m.available_kb = value, avail = true;
  }
  if (!total || !avail || m.total_kb <= 0) return Status::Invalid("/proc/meminfo: MemTotal or MemAvailable missing");
  return m;
}

std::vector<GpuInfo> ParseNvidiaSmi(std::string_view text) {
  std::vector<GpuInfo> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream ls(line);
    for (std::string part; std::getline(ls, part, ',');) {
      size_t b = part.find_first_not_of(' '), e = part.find_last_not_of(" \r");
      f.push_back(b == std::string::npos ? "" : part.substr(b, e - b + 1));
    }
    if (f.size() < 4) continue;
    GpuInfo g;
    g.name = f[0];
    char* end = nullptr;
    g.memory_total_mb = std::strtoll(f[1].c_str(), &end, 10);
    if (end == f[1].c_str()) continue;
    g.memory_free_mb = std::strtoll(f[2].c_str(), nullptr, 10);
    g.utilization_percent = std::strtod(f[3].c_str(), nullptr);  // "[N/A]" reads as 0
    out.push_back(g);
  }
  return out;
}

std::string ArchitectureName(std::string_view m) {
  if (m == "x86_64") return "amd64";
  if (m == "aarch64" || m == "arm64") return "arm64";
  if (m.rfind("armv7", 0) == 0 || m.rfind("armv6", 0) == 0) return "arm";
  if (m == "i686" || m == "i386") return "386";
  return std::string(m);
}

namespace {

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream in(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(in, dir, ':');) {
    std::string p = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// Blocking: never call it on the event loop.
std::vector<GpuInfo> QueryGpus(const std::string& nvidia_smi) {
  std::string cmd = "timeout 5 " + nvidia_smi +
                    " --query-gpu=name,memory.total,memory.free,utilization.gpu --format=csv,noheader,nounits"
                    " 2>/dev/null";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return {};
  std::string out;
  char buf[512];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  ::pclose(f);
  return ParseNvidiaSmi(out);
}

Result<MemInfo> ReadMeminfo() {
  auto text = ReadFile("/proc/meminfo");
  if (!text.ok()) return text.status();
  return ParseMeminfo(*text);
}

Result<CpuTimes> ReadCpu() {
  auto text = ReadFile("/proc/stat");
  if (!text.ok()) return text.status();
  return ParseProcStat(*text);
}

}  // namespace

HostProbe::HostProbe(asio::any_io_executor ex, std::string disk_path)
    : ex_(std::move(ex)), disk_path_(std::move(disk_path)) {}

HostProbe::~HostProbe() {
  *alive_ = false;
  if (gpu_pool_) gpu_pool_->join();  // at most one query (bounded by `timeout 5`) is in flight
}

Result<std::unique_ptr<HostProbe>> HostProbe::Create(asio::any_io_executor ex, std::string disk_path,
                                                     std::string host, std::string ip, std::string location) {
  std::unique_ptr<HostProbe> p(new HostProbe(std::move(ex), std::move(disk_path)));
  NodeInfo& info = p->info_;
  info.host = std::move(host);
  info.ip = std::move(ip);
  info.location = std::move(location);
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  info.vcpus = cpus > 0 ? static_cast<int>(cpus) : 1;
  utsname u{};
  if (::uname(&u) == 0) {
    info.architecture = ArchitectureName(u.machine);
    info.os = "linux";
  }
  auto mem = ReadMeminfo();
  if (!mem.ok()) return mem.status();
  info.memory_mb = mem->total_kb / 1024;
  struct statvfs fs{};
  if (::statvfs(p->disk_path_.c_str(), &fs) != 0) {
    return Status::Internal("statvfs " + p->disk_path_ + ": " + std::strerror(errno));
  }
  info.disk_mb = static_cast<int64_t>(fs.f_blocks * fs.f_frsize / (1024 * 1024));
  auto cpu = ReadCpu();
  if (!cpu.ok()) return cpu.status();
  p->last_cpu_ = *cpu;

  p->nvidia_smi_ = FindInPath("nvidia-smi");
  if (!p->nvidia_smi_.empty()) {
    p->gpus_ = QueryGpus(p->nvidia_smi_);
    for (const auto& g : p->gpus_) {
      ++info.gpu_cores;
      info.gpu_memory_mb += g.memory_total_mb;
      if (info.gpu_type.empty()) info.gpu_type = g.name;
    }
    if (p->gpus_.empty()) p->nvidia_smi_.clear();  // installed but no usable GPU: stop asking
    else p->gpu_pool_ = std::make_unique<asio::thread_pool>(1);
  }
  return p;
}

NodeUsage HostProbe::Sample(const std::vector<InstanceUsage>&) {
  NodeUsage u;
  u.vcpus = info_.vcpus;
  if (auto cpu = ReadCpu(); cpu.ok()) {
    uint64_t dt = cpu->total - last_cpu_.total, db = cpu->busy - last_cpu_.busy;
    // Two samples within one clock tick show no delta: keep the previous figure.
    if (cpu->total > last_cpu_.total && cpu->busy >= last_cpu_.busy) {
      last_cpu_percent_ = 100.0 * static_cast<double>(db) / static_cast<double>(dt);
      last_cpu_ = *cpu;
    }
  }
  u.cpu_percent = last_cpu_percent_;
  if (auto mem = ReadMeminfo(); mem.ok()) {
    u.memory_free_mb = mem->available_kb / 1024;
    u.memory_percent = 100.0 * static_cast<double>(mem->total_kb - mem->available_kb) / mem->total_kb;
  }
  struct statvfs fs{};
  if (::statvfs(disk_path_.c_str(), &fs) == 0) {
    u.disk_free_mb = static_cast<int64_t>(fs.f_bavail * fs.f_frsize / (1024 * 1024));
  }
  if (!gpus_.empty()) {
    u.has_gpu = true;
    for (const auto& g : gpus_) {
      u.gpu_percent += g.utilization_percent / static_cast<double>(gpus_.size());
      u.gpu_memory_free_mb += g.memory_free_mb;
    }
  }
  RefreshGpus();
  return u;
}

// Starts one background query unless one is running; its answer is posted back to the loop and
// shows in the next Sample().
void HostProbe::RefreshGpus() {
  if (nvidia_smi_.empty() || gpu_query_running_) return;
  gpu_query_running_ = true;
  asio::post(*gpu_pool_, [this, alive = alive_, ex = ex_, path = nvidia_smi_] {
    auto gpus = QueryGpus(path);
    asio::post(ex, [this, alive, gpus = std::move(gpus)]() mutable {
      if (!*alive) return;
      gpu_query_running_ = false;
      if (!gpus.empty()) gpus_ = std::move(gpus);
    });
  });
}

}  // namespace oak::node
