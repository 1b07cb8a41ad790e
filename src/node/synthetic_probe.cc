#include "node/synthetic_probe.h"

#include <algorithm>

#include <fmt/format.h>

namespace oak::node {

namespace {

template <typename T, size_t N>
T Pick(std::mt19937_64& rng, const T (&choices)[N]) {
  return choices[std::uniform_int_distribution<size_t>(0, N - 1)(rng)];
}

double Uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

}  // namespace

SyntheticProbe::SyntheticProbe(const SyntheticSpec& spec) : rng_(spec.seed) {
  static constexpr int kCpus[] = {2, 4, 8, 16};
  static constexpr int kMemoryGb[] = {2, 4, 8, 16, 32};
  static constexpr int kDiskGb[] = {32, 64, 128, 256};
  static constexpr const char* kGpus[] = {"NVIDIA T4", "NVIDIA A2", "NVIDIA Jetson Orin"};
  info_.host = spec.host;
  info_.ip = spec.ip;
  info_.vcpus = Pick(rng_, kCpus);
  info_.memory_mb = int64_t{Pick(rng_, kMemoryGb)} * 1024;
  info_.disk_mb = int64_t{Pick(rng_, kDiskGb)} * 1024;
  info_.architecture = std::bernoulli_distribution(0.25)(rng_) ? "arm64" : "amd64";
  if (std::bernoulli_distribution(0.1)(rng_)) {
    info_.gpu_cores = std::uniform_int_distribution<int>(1, 2)(rng_);
    info_.gpu_memory_mb = int64_t{Pick(rng_, kMemoryGb)} * 1024 * info_.gpu_cores;
    info_.gpu_type = Pick(rng_, kGpus);
  }
  double j = spec.location_jitter_deg;
  info_.location = fmt::format("{:.4f},{:.4f}", spec.latitude + Uniform(rng_, -j, j),
                               spec.longitude + Uniform(rng_, -j, j));
  idle_cpu_percent_ = Uniform(rng_, 0.5, 5);
  idle_memory_mb_ = static_cast<double>(info_.memory_mb) * Uniform(rng_, 0.05, 0.15);
  disk_used_mb_ = static_cast<double>(info_.disk_mb) * Uniform(rng_, 0.1, 0.4);
}

NodeUsage SyntheticProbe::Sample(const std::vector<InstanceUsage>& instances) {
  double cpu_core_percent = 0, memory_mb = 0, disk_mb = 0;
  for (const auto& i : instances) {
    cpu_core_percent += i.cpu_percent;
    memory_mb += i.memory_mb;
    disk_mb += i.disk_mb;
  }
  NodeUsage u;
  u.vcpus = info_.vcpus;
  u.cpu_percent = std::clamp(idle_cpu_percent_ * Uniform(rng_, 0.7, 1.3) + cpu_core_percent / info_.vcpus, 0.0, 100.0);
  double total = static_cast<double>(info_.memory_mb);
  double used = std::min(total, idle_memory_mb_ + memory_mb);
  u.memory_percent = 100.0 * used / total;
  u.memory_free_mb = static_cast<int64_t>(total - used);
  u.disk_free_mb = std::max<int64_t>(0, info_.disk_mb - static_cast<int64_t>(disk_used_mb_ + disk_mb));
  if (info_.gpu_cores > 0) {
    u.has_gpu = true;
    u.gpu_percent = Uniform(rng_, 0, 10);
    u.gpu_memory_free_mb = info_.gpu_memory_mb;
  }
  return u;
}

}  // namespace oak::node
