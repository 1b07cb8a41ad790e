// The `simulated` runtime: instances go through the real status sequence on asio timers but run
// no process. It backs `oak sim` (thousands of nodes in one process) and tests of everything above
// the runtime (agent, cluster, root) without containers. Its "logs" are one line per status change
// (`simulated: RUNNING`, `simulated: FAILED: <detail>`), the last kLogCap bytes kept per instance.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "node/runtime.h"

namespace oak::node {

struct SimulatedOptions {
  std::chrono::milliseconds start_delay{5};    // CREATING -> RUNNING (or FAILED)
  std::chrono::milliseconds one_shot_run{50};  // RUNNING -> COMPLETED for `one_shot` services
  double failure_rate = 0;                     // 0..1: share of deploys that end FAILED
  uint64_t seed = 1;                           // same seed, same failures and usage numbers
  int64_t node_memory_mb = 8192;               // denominator of memory_percent
  std::vector<std::string> virtualizations{"container"};
};

class SimulatedRuntime final : public Runtime {
 public:
  SimulatedRuntime(boost::asio::any_io_executor ex, SimulatedOptions opts);
  ~SimulatedRuntime() override;

  // kInvalid unless 0 <= failure_rate <= 1 and the delays are not negative.
  static Status Validate(const SimulatedOptions& o);

  // Bytes of log kept per instance: enough for every line of a life cycle, small at a million instances.
  static constexpr size_t kLogCap = 1024;

  std::string_view name() const override { return "simulated"; }
  std::vector<std::string> Virtualizations() const override { return opts_.virtualizations; }
  void SetEventHandler(EventHandler h) override { handler_ = std::move(h); }
  Status Deploy(const DeploySpec& spec) override;
  Status Remove(const InstanceKey& key) override;
  std::vector<InstanceStatus> List() const override;
  Result<std::string> Logs(const InstanceKey& key, size_t max_bytes) const override;
  std::vector<InstanceUsage> Usage() override;
  void Shutdown() override;

 private:
  struct Instance {
    std::string virtualization;
    int64_t memory_limit_mb = 0;
    double vcpus = 0;
    int64_t storage_mb = 0;
    bool one_shot = false;
    bool will_fail = false;
    std::string status;
    std::string detail;
    std::string log;  // at most kLogCap bytes, whole lines, oldest first
    double cpu_base = 0;  // steady-state usage; Usage() jitters around it
    double memory_base = 0;
    uint64_t generation = 0;  // tells a timer of a replaced instance from the current one's
    std::unique_ptr<boost::asio::steady_timer> timer;
  };

  void Arm(const InstanceKey& key, Instance& inst, std::chrono::milliseconds after);
  void OnTimer(const InstanceKey& key, uint64_t generation);
  void Set(const InstanceKey& key, Instance& inst, std::string status, std::string detail = {});
  void Emit(InstanceStatus st);
  double Uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }

  boost::asio::any_io_executor ex_;
  SimulatedOptions opts_;
  EventHandler handler_;
  std::map<InstanceKey, Instance> instances_;
  std::mt19937_64 rng_;
  uint64_t next_generation_ = 1;
  // Timer handlers and posted events check this: none runs after Shutdown or destruction.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace oak::node
