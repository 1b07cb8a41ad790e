// What a node tells the cluster about its machine: a static description at registration and the
// current usage with every report. The host probe reads the real machine; `oak sim` nodes use a
// synthetic one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "node/runtime.h"

namespace oak::node {

// Totals, as sent in `POST /api/node/register` (docs/mqtt.md).
struct NodeInfo {
  std::string host;
  std::string ip;
  std::string architecture = "amd64";  // Go/OCI names: amd64, arm64, arm, ...
  std::string os = "linux";
  int vcpus = 0;
  int64_t memory_mb = 0;
  int64_t disk_mb = 0;
  int gpu_cores = 0;
  int64_t gpu_memory_mb = 0;
  std::string gpu_type;
  std::string location;  // "lat,long", or empty
};

// Dynamic values for `nodes/<id>/information`. cpu_percent is of the whole machine (0..100).
struct NodeUsage {
  double cpu_percent = 0;
  double memory_percent = 0;
  int64_t memory_free_mb = 0;
  int64_t disk_free_mb = 0;
  int vcpus = 0;
  bool has_gpu = false;
  double gpu_percent = 0;
  int64_t gpu_memory_free_mb = 0;
};

class NodeProbe {
 public:
  virtual ~NodeProbe() = default;
  virtual NodeInfo Describe() const = 0;
  // Called on the event loop for every report, so it must not block. `instances` is what the
  // runtime measured; a synthetic probe derives its load from it, the host probe sees it anyway.
  virtual NodeUsage Sample(const std::vector<InstanceUsage>& instances) = 0;
};

}  // namespace oak::node
