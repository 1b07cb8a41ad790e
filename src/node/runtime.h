// The interface through which the node agent runs workloads. One implementation per execution
// technology: `simulated` (runtime/simulated.h) today, `runc` and `qemu` later (runtime/).
//
// Contract shared by every runtime:
//   - All methods are called on the agent's executor thread, and every event is delivered on that
//     same executor, never from inside the call that caused it (no re-entrancy: Deploy posts its
//     first CREATING event rather than calling the handler).
//   - An instance is identified by (job_name, instance); its container name is
//     `<job_name>.instance.<n>` (SPEC §6). A key is present from Deploy until Remove has finished.
//   - Statuses are SPEC §3's execution statuses (model/status_names.h). An instance moves
//     CREATING -> [CREATED ->] RUNNING -> COMPLETED | FAILED | DEAD, or straight to FAILED from
//     CREATING; Remove ends with UNDEPLOYED, after which the key is gone.
//   - Blocking work (runc, image pulls, process supervision) runs off the executor; methods return at
//     once and report through events. The one exception is Logs, a bounded read (see there).
#pragma once

#include <compare>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace oak::node {

struct InstanceKey {
  std::string job_name;  // `app.appns.svc.svcns`
  int instance = 0;      // the root's instance_number

  auto operator<=>(const InstanceKey&) const = default;
  std::string ContainerName() const { return job_name + ".instance." + std::to_string(instance); }
};

// What the cluster asked for in `nodes/<id>/control/deploy`, with the fields every runtime needs
// typed; `doc` keeps the whole service document for runtime-specific ones (ports, volumes, ...).
struct DeploySpec {
  InstanceKey key;
  std::string virtualization = "container";
  std::string image;  // `image`, else the SLA's `code`
  int64_t memory_mb = 0;   // 0: no limit requested
  double vcpus = 0;        // 0: no limit requested
  int64_t storage_mb = 0;
  bool one_shot = false;   // a job that ends: COMPLETED on exit 0 instead of being a failure
  std::vector<std::string> cmd;
  std::vector<std::string> args;
  std::vector<std::string> environment;  // "KEY=VALUE"
  nlohmann::json doc;
};

struct InstanceStatus {
  InstanceKey key;
  std::string status;  // a SPEC §3 execution status
  std::string detail;  // why it failed, the runtime's error line; empty when there is nothing to say
};

// One instance's consumption, sampled by the runtime. Percentages are of one core (cpu, so a busy
// 2-vcpu instance may show 200) and of the node's total memory.
struct InstanceUsage {
  InstanceKey key;
  std::string virtualization;
  double cpu_percent = 0;
  double memory_mb = 0;
  double memory_percent = 0;
  double disk_mb = 0;
};

// An instance that has stopped on its own (COMPLETED, FAILED, DEAD): a new Deploy may replace it.
inline bool HasEnded(std::string_view status) {
  return status == "COMPLETED" || status == "FAILED" || status == "DEAD";
}

class Runtime {
 public:
  using EventHandler = std::function<void(const InstanceStatus&)>;

  virtual ~Runtime() = default;

  virtual std::string_view name() const = 0;
  // The SLA `virtualization` values this runtime can run (sent at registration).
  virtual std::vector<std::string> Virtualizations() const = 0;
  // Receives every status change. Set once, before the first Deploy.
  virtual void SetEventHandler(EventHandler h) = 0;

  // Starts deploying; the first event (CREATING) follows on the executor. kConflict, with nothing
  // changed, when the key is present and not in a final status (COMPLETED, FAILED, DEAD); a key in
  // a final status is replaced by the new deployment. kInvalid when the spec cannot run here.
  virtual Status Deploy(const DeploySpec& spec) = 0;
  // Stops and removes the instance; UNDEPLOYED follows once it is gone. kNotFound for an unknown key.
  virtual Status Remove(const InstanceKey& key) = 0;
  // Every present instance with its current status, in key order.
  virtual std::vector<InstanceStatus> List() const = 0;
  // The last `max_bytes` bytes of the instance's combined stdout and stderr, oldest first, as the
  // workload wrote them (not necessarily valid UTF-8; the cut may fall inside a line or a
  // character). Empty when it wrote nothing. Readable from Deploy until Remove, also after the
  // instance ended. kNotFound for an unknown key. Runs on the executor and may block briefly: a
  // runtime reads at most `max_bytes` from what it keeps (runtimes cap what they keep per instance,
  // so older output may be gone), and callers bound `max_bytes` (the agent: 1 MiB).
  virtual Result<std::string> Logs(const InstanceKey& key, size_t max_bytes) const = 0;
  // Current consumption of the instances that are running. Must be cheap: runtimes sample in the
  // background (or answer from what they already know) so the report timer never blocks.
  virtual std::vector<InstanceUsage> Usage() = 0;
  // Cancels pending work; no event is delivered afterwards. The runtime decides what survives (the
  // simulated runtime forgets everything, runc leaves containers for the next start to adopt).
  virtual void Shutdown() = 0;
};

}  // namespace oak::node
