#include "node/runtime/simulated.h"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "model/status_names.h"

namespace oak::node {

namespace asio = boost::asio;
namespace st = model::status;

SimulatedRuntime::SimulatedRuntime(asio::any_io_executor ex, SimulatedOptions opts)
    : ex_(std::move(ex)), opts_(std::move(opts)), rng_(opts_.seed) {}

SimulatedRuntime::~SimulatedRuntime() { Shutdown(); }

Status SimulatedRuntime::Validate(const SimulatedOptions& o) {
  if (!(o.failure_rate >= 0 && o.failure_rate <= 1)) return Status::Invalid("sim-failure-rate must be within 0..1");
  if (o.start_delay.count() < 0 || o.one_shot_run.count() < 0) return Status::Invalid("simulated delays must be >= 0");
  if (o.node_memory_mb <= 0) return Status::Invalid("node memory must be positive");
  return Status::Ok();
}

Status SimulatedRuntime::Deploy(const DeploySpec& spec) {
  if (!*alive_) return Status::Unavailable("runtime is shut down");
  if (std::find(opts_.virtualizations.begin(), opts_.virtualizations.end(), spec.virtualization) ==
      opts_.virtualizations.end()) {
    return Status::Invalid("virtualization '" + spec.virtualization + "' is not supported by this node");
  }
  auto it = instances_.find(spec.key);
  if (it != instances_.end()) {
    if (!HasEnded(it->second.status)) {
      return Status::Conflict(spec.key.ContainerName() + " is already " + it->second.status);
    }
    instances_.erase(it);  // its timer handler sees a missing key or another generation
  }
  Instance& inst = instances_[spec.key];
  inst.virtualization = spec.virtualization;
  inst.memory_limit_mb = spec.memory_mb;
  inst.vcpus = spec.vcpus;
  inst.storage_mb = spec.storage_mb;
  inst.one_shot = spec.one_shot;
  inst.generation = next_generation_++;
  inst.will_fail = opts_.failure_rate > 0 && std::bernoulli_distribution(opts_.failure_rate)(rng_);
  // Busy between 5 % and 40 % of what the SLA grants (a quarter core when it grants nothing), and
  // resident between 20 % and 70 % of the memory limit (8..64 MB without one).
  double cores = spec.vcpus > 0 ? spec.vcpus : 0.25;
  inst.cpu_base = cores * 100 * Uniform(0.05, 0.40);
  inst.memory_base = spec.memory_mb > 0 ? spec.memory_mb * Uniform(0.2, 0.7) : Uniform(8, 64);
  inst.timer = std::make_unique<asio::steady_timer>(ex_);
  Set(spec.key, inst, std::string(st::kCreating));
  Arm(spec.key, inst, opts_.start_delay);
  return Status::Ok();
}

Status SimulatedRuntime::Remove(const InstanceKey& key) {
  auto it = instances_.find(key);
  if (it == instances_.end()) return Status::NotFound(key.ContainerName() + " is not on this node");
  instances_.erase(it);
  Emit({key, std::string(st::kUndeployed), ""});
  return Status::Ok();
}

std::vector<InstanceStatus> SimulatedRuntime::List() const {
  std::vector<InstanceStatus> out;
  out.reserve(instances_.size());
  for (const auto& [key, inst] : instances_) out.push_back({key, inst.status, inst.detail});
  return out;
}

Result<std::string> SimulatedRuntime::Logs(const InstanceKey& key, size_t max_bytes) const {
  auto it = instances_.find(key);
  if (it == instances_.end()) return Status::NotFound(key.ContainerName() + " is not on this node");
  const std::string& log = it->second.log;
  return log.size() <= max_bytes ? log : log.substr(log.size() - max_bytes);
}

std::vector<InstanceUsage> SimulatedRuntime::Usage() {
  std::vector<InstanceUsage> out;
  for (const auto& [key, inst] : instances_) {
    if (inst.status != st::kRunning) continue;
    InstanceUsage u{key, inst.virtualization};
    double cap = (inst.vcpus > 0 ? inst.vcpus : 1.0) * 100;
    u.cpu_percent = std::min(cap, inst.cpu_base * Uniform(0.8, 1.2));
    u.memory_mb = inst.memory_base * Uniform(0.95, 1.05);
    if (inst.memory_limit_mb > 0) u.memory_mb = std::min<double>(u.memory_mb, inst.memory_limit_mb);
    u.memory_percent = u.memory_mb * 100.0 / static_cast<double>(opts_.node_memory_mb);
    u.disk_mb = inst.storage_mb > 0 ? inst.storage_mb * 0.1 : 0;
    out.push_back(u);
  }
  return out;
}

void SimulatedRuntime::Shutdown() {
  *alive_ = false;
  instances_.clear();  // destroys the timers; their aborted handlers see alive_ == false
}

void SimulatedRuntime::Arm(const InstanceKey& key, Instance& inst, std::chrono::milliseconds after) {
  inst.timer->expires_after(after);
  inst.timer->async_wait([this, alive = alive_, key, gen = inst.generation](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    OnTimer(key, gen);
  });
}

// The only place an instance advances on its own: CREATING -> RUNNING | FAILED, and for one-shot
// services RUNNING -> COMPLETED.
void SimulatedRuntime::OnTimer(const InstanceKey& key, uint64_t generation) {
  auto it = instances_.find(key);
  if (it == instances_.end() || it->second.generation != generation) return;
  Instance& inst = it->second;
  if (inst.status == st::kCreating) {
    if (inst.will_fail) {
      Set(key, inst, std::string(st::kFailed),
          fmt::format("simulated start failure (failure rate {})", opts_.failure_rate));
      return;
    }
    Set(key, inst, std::string(st::kRunning));
    if (inst.one_shot) Arm(key, inst, opts_.one_shot_run);
  } else if (inst.status == st::kRunning && inst.one_shot) {
    Set(key, inst, std::string(st::kCompleted), "exited with code 0");
  }
}

void SimulatedRuntime::Set(const InstanceKey& key, Instance& inst, std::string status, std::string detail) {
  inst.status = std::move(status);
  inst.detail = std::move(detail);
  inst.log += "simulated: " + inst.status + (inst.detail.empty() ? "" : ": " + inst.detail) + "\n";
  if (inst.log.size() > kLogCap) {
    // Drop whole lines from the front; a single line longer than the cap keeps its tail.
    size_t cut = inst.log.find('\n', inst.log.size() - kLogCap - 1);
    cut = cut == std::string::npos || cut + 1 >= inst.log.size() ? inst.log.size() - kLogCap : cut + 1;
    inst.log.erase(0, cut);
  }
  Emit({key, inst.status, inst.detail});
}

void SimulatedRuntime::Emit(InstanceStatus s) {
  // Posted, never called inline: Deploy and Remove must not re-enter the agent.
  asio::post(ex_, [alive = alive_, h = handler_, s = std::move(s)] {
    if (*alive && h) h(s);
  });
}

}  // namespace oak::node
