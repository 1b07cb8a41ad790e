// The Manager's restart policy: an instance whose process ended on its own (DEAD: it exited, was
// killed, ran out of memory) is deployed again after an exponential back-off, on its node when that
// node is active and still qualifies, else wherever the scheduler places it. The count of
// consecutive crashes lives with the instance (persisted) and shows in its status_detail.
#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cluster/manager.h"
#include "model/status_names.h"

namespace oak::cluster {

namespace st = model::status;

int64_t Manager::BackoffMs(int64_t restarts) const {
  const int64_t cap = std::max<int64_t>(opts_.restart_backoff_max_ms, 0);
  int64_t ms = std::max<int64_t>(opts_.restart_backoff_ms, 0);
  for (int64_t i = 0; i < restarts && ms < cap; ++i) ms *= 2;
  return std::min(ms, cap);
}

void Manager::OnCrash(Instance& inst, std::string reason) {
  const InstanceKey key{inst.job_id, inst.number};
  if (reason.empty()) reason = "ended";
  inst.last_exit = reason;
  auto svc = services_.find(inst.job_id);
  const bool one_shot = svc != services_.end() && svc->second.one_shot;
  const int64_t attempts = inst.restarts + 1;  // runs so far, this one included
  if (one_shot && attempts >= opts_.one_shot_max_attempts) {
    inst.restart_at_ms = 0;
    restarting_.erase(key);
    spdlog::warn("msg=\"one_shot instance gave up\" job={} instance={} attempts={} reason=\"{}\"", inst.job_name,
                 inst.number, attempts, reason);
    SetStatus(inst, st::kDead, reason + "; gave up after " + std::to_string(attempts) + " attempts");
    return;
  }
  const int64_t wait = BackoffMs(inst.restarts);
  inst.restart_at_ms = clock_.NowMs() + wait;
  restarting_.insert(key);
  spdlog::info("msg=\"instance crashed; restart scheduled\" job={} instance={} restart={} in_ms={} reason=\"{}\"",
               inst.job_name, inst.number, inst.restarts + 1, wait, reason);
  SetStatus(inst, st::kDead,
            fmt::format("{}; restart {} in {:g} s", reason, inst.restarts + 1, static_cast<double>(wait) / 1000));
}

void Manager::RestartNow(Instance& inst) {
  const InstanceKey key{inst.job_id, inst.number};
  restarting_.erase(key);
  inst.restart_at_ms = 0;
  ++inst.restarts;
  crashed_.insert(key);
  // Placed afresh: its old node is only a preference now, and events about the old run from a
  // node it no longer lives on are dropped.
  std::string prefer = inst.node_id;
  AssignNode(inst, "");
  Place(inst, inst.last_exit, prefer);
  if (inst.node_id != prefer)
    spdlog::info("msg=\"restarted instance moved\" job={} instance={} from={} to=\"{}\" status={}", inst.job_name,
                 inst.number, prefer, inst.node_id, inst.status);
}

void Manager::RunRestarts() {
  const int64_t now = clock_.NowMs();
  std::vector<InstanceKey> due;
  for (const auto& k : restarting_) {
    auto it = instances_.find(k);
    if (it != instances_.end() && it->second.restart_at_ms <= now) due.push_back(k);
  }
  for (const auto& k : due) RestartNow(instances_.at(k));

  std::vector<InstanceKey> steady;
  for (const auto& k : crashed_) {
    auto it = instances_.find(k);
    if (it == instances_.end()) continue;
    const Instance& i = it->second;
    if (i.status == st::kRunning && now - i.running_since_ms >= opts_.restart_reset_ms) steady.push_back(k);
  }
  for (const auto& k : steady) {
    Instance& inst = instances_.at(k);
    crashed_.erase(k);
    inst.restarts = 0;
    inst.last_exit.clear();
    SetStatus(inst, st::kRunning, "");
  }
}

void Manager::ForgetRestarts(const InstanceKey& k) {
  restarting_.erase(k);
  crashed_.erase(k);
}

}  // namespace oak::cluster
