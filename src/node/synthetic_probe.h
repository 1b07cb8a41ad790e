// NodeProbe for simulated nodes: a made-up machine drawn from a seeded RNG (same seed, same fleet)
// whose load follows what its runtime reports for the instances, plus some idle noise.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "node/probe.h"

namespace oak::node {

struct SyntheticSpec {
  std::string host;
  std::string ip = "127.0.0.1";
  uint64_t seed = 1;
  // Locations spread around this point by up to `location_jitter_deg` degrees each way.
  double latitude = 48.137;
  double longitude = 11.575;
  double location_jitter_deg = 0.5;
};

class SyntheticProbe final : public NodeProbe {
 public:
  // vcpus in {2,4,8,16}, memory in {2,4,8,16,32} GB, a quarter arm64, one in ten with a GPU.
  explicit SyntheticProbe(const SyntheticSpec& spec);

  NodeInfo Describe() const override { return info_; }
  NodeUsage Sample(const std::vector<InstanceUsage>& instances) override;

 private:
  NodeInfo info_;
  std::mt19937_64 rng_;
  double idle_cpu_percent_;  // the machine's own background load
  double idle_memory_mb_;
  double disk_used_mb_;
};

}  // namespace oak::node
