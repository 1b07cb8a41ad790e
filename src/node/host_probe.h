// NodeProbe for the machine the agent runs on: /proc/stat (CPU, from deltas between samples),
// /proc/meminfo, statvfs of the data directory, and GPUs through nvidia-smi when it is installed.
// nvidia-smi can take a second or hang with a wedged driver, so after the first query (at Create,
// before the event loop runs) it only ever runs on a private worker thread, and Sample() answers
// the last result that thread posted back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/status.h"
#include "node/probe.h"

namespace oak::node {

struct CpuTimes {
  uint64_t busy = 0;
  uint64_t total = 0;
};
// The aggregate "cpu" line of /proc/stat; idle and iowait count as not busy.
Result<CpuTimes> ParseProcStat(std::string_view text);

struct MemInfo {
  int64_t total_kb = 0;
  int64_t available_kb = 0;
};
Result<MemInfo> ParseMeminfo(std::string_view text);

struct GpuInfo {
  std::string name;
  int64_t memory_total_mb = 0;
  int64_t memory_free_mb = 0;
  double utilization_percent = 0;
};
// Output of `nvidia-smi --query-gpu=name,memory.total,memory.free,utilization.gpu
// --format=csv,noheader,nounits`, one line per GPU.
std::vector<GpuInfo> ParseNvidiaSmi(std::string_view text);

// "amd64" for x86_64, "arm64" for aarch64, ... (the names OCI images and Oakestra use).
std::string ArchitectureName(std::string_view uname_machine);

class HostProbe final : public NodeProbe {
 public:
  // Reads the machine once (blocking: call before the event loop runs). `disk_path` is the
  // directory whose file system counts as the node's disk (the data dir).
  // `host`, `ip` and `location` are passed through to Describe().
  static Result<std::unique_ptr<HostProbe>> Create(boost::asio::any_io_executor ex, std::string disk_path,
                                                   std::string host, std::string ip, std::string location);
  ~HostProbe() override;

  NodeInfo Describe() const override { return info_; }
  NodeUsage Sample(const std::vector<InstanceUsage>& instances) override;

 private:
  HostProbe(boost::asio::any_io_executor ex, std::string disk_path);
  void RefreshGpus();

  boost::asio::any_io_executor ex_;
  std::string disk_path_;
  std::string nvidia_smi_;  // empty: no GPU probing
  NodeInfo info_;
  CpuTimes last_cpu_;
  double last_cpu_percent_ = 0;
  std::vector<GpuInfo> gpus_;  // last answer, owned by the event loop
  bool gpu_query_running_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unique_ptr<boost::asio::thread_pool> gpu_pool_;  // only when nvidia-smi exists
};

}  // namespace oak::node
