// Cluster loss: the instances the root still wants on a cluster that stopped reporting are placed
// on other clusters. The lost cluster may still run them (a partition, not a crash); when it
// reports again, its report lists them and ApplyJobReports asks it to remove every one that now
// lives elsewhere, so no instance stays twice for longer than that.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "model/status_names.h"
#include "root/dispatcher.h"

namespace oak::root {

namespace asio = boost::asio;
namespace st = model::status;

namespace {

// Fields a cluster reported about where and how the instance ran; they do not follow it.
constexpr const char* kPlacementFields[] = {"worker_id", "worker_name", "publicip",       "host_ip",
                                            "host_port", "cpu_percent", "memory_percent", "disk"};

// Instances on one lost cluster handled per store transaction.
constexpr size_t kFailOverSlice = 512;

}  // namespace

std::string LostClusterDetail(const std::string& cluster_name, int64_t timeout_ms) {
  return fmt::format("cluster {} lost (no report for {:g} s)", cluster_name, static_cast<double>(timeout_ms) / 1000);
}

bool WantedOnLostCluster(std::string_view status, std::string_view detail) {
  if (status == st::kClusterScheduled || status == st::kNodeScheduled || status == st::kCreating ||
      status == st::kCreated || status == st::kRunning)
    return true;
  // DEAD waits for the cluster's restart, unless the cluster gave up on it (a one_shot's last try).
  if (status == st::kDead) return detail.find("gave up after") == std::string_view::npos;
  // Failed for want of its cluster, not for anything of its own: the hand-over never got through,
  // or an earlier pass found no other cluster.
  if (status == st::kFailed)
    return detail.starts_with(kHandOverFailedPrefix) ||
           (detail.starts_with("cluster ") && detail.find(" lost (no report") != std::string_view::npos);
  // The lost cluster found no node for it; another cluster may.
  return status == st::kNoWorkerCapacity || status == st::kNoQualifiedWorkerFound || status == st::kNoNodeFound;
}

void Dispatcher::FailOver() {
  const int64_t now = clock_.NowMs();
  for (const ClusterState* c : clusters_.Lost()) {
    const std::string& id = c->rec.id;
    auto& next = failover_next_ms_[id];
    if (now < next || !failing_over_.insert(id).second) continue;
    next = now + opts_.failover_retry.count();
    asio::co_spawn(io_, RunFailOver(id, c->rec.name), asio::detached);
  }
  // A cluster that reports again keeps what it still holds: the next loss starts from scratch.
  for (auto it = failover_next_ms_.begin(); it != failover_next_ms_.end();) {
    const ClusterState* c = clusters_.Find(it->first);
    it = !c || c->active ? failover_next_ms_.erase(it) : std::next(it);
  }
}

asio::awaitable<void> Dispatcher::RunFailOver(std::string lost_id, std::string lost_name) {
  std::weak_ptr<int> alive = alive_;
  struct Guard {
    Dispatcher* d;
    std::weak_ptr<int> alive;
    const std::string& id;
    ~Guard() {
      if (!alive.expired()) d->failing_over_.erase(id);
    }
  } guard{this, alive, lost_id};

  auto on_lost = store_.ListInstancesOnCluster(lost_id);
  if (!on_lost.ok()) {
    spdlog::error("msg=\"cannot list the instances of a lost cluster\" cluster={} error=\"{}\"", lost_id,
                  on_lost.status().message());
    co_return;
  }
  const std::string lost = LostClusterDetail(lost_name, clusters_.timeout_ms());
  struct Move {
    InstanceRecord seen;  // as listed: applied only if still so at commit time
    Placement to;
  };
  size_t moved = 0, stranded = 0;
  std::span<const InstanceRecord> rest(*on_lost);
  while (!rest.empty()) {
    std::vector<Move> moves;
    for (const InstanceRecord& inst : rest.first(std::min(rest.size(), kFailOverSlice))) {
      if (!WantedOnLostCluster(inst.status, inst.status_detail)) continue;
      auto svc = Service(inst.service_id);
      if (!svc.ok()) continue;  // deleted meanwhile
      Placement p = Place(**svc);
      if (p.cluster_id.empty()) {
        // Stays on the lost cluster: its report restores the status, or a later pass moves it.
        std::string detail = lost + "; not placed elsewhere: " + p.status + ": " + p.status_detail;
        if (inst.status == st::kFailed && inst.status_detail == detail) continue;
        p = Placement{std::string(st::kFailed), std::move(detail), "", ""};
      } else {
        p.status_detail = lost + "; moved to cluster " + p.cluster_name;
      }
      moves.push_back(Move{inst, std::move(p)});
    }
    rest = rest.subspan(std::min(rest.size(), kFailOverSlice));
    if (moves.empty()) continue;

    std::vector<bool> applied(moves.size(), false);
    const int64_t at = clock_.NowMs();
    Status s = co_await commit_.Write(
        [this, &moves, &applied, &lost_id, at]() -> Status {
          for (size_t i = 0; i < moves.size(); ++i) {
            const Move& m = moves[i];
            auto now = store_.GetInstance(m.seen.service_id, m.seen.number);
            if (!now.ok()) {
              if (now.status().code() == Code::kNotFound) continue;
              return now.status();
            }
            // Reported, undeployed or moved since it was listed: that news wins.
            if (now->cluster_id != lost_id || now->status != m.seen.status ||
                now->status_detail != m.seen.status_detail)
              continue;
            now->status = m.to.status;
            now->status_detail = m.to.status_detail;
            now->updated_ms = at;
            if (!m.to.cluster_id.empty()) {
              now->cluster_id = m.to.cluster_id;
              for (const char* f : kPlacementFields) now->doc.erase(f);
              now->doc["cluster_location"] = m.to.cluster_location;
            }
            OAK_RETURN_IF_ERROR(store_.UpdateInstance(*now));
            applied[i] = true;
          }
          return Status::Ok();
        },
        asio::use_awaitable);
    if (alive.expired()) co_return;
    if (!s.ok()) {
      spdlog::error("msg=\"cannot move the instances of a lost cluster\" cluster={} error=\"{}\"", lost_id,
                    s.message());
      co_return;  // nothing changed; the next pass tries again
    }
    for (size_t i = 0; i < moves.size(); ++i) {
      if (!applied[i]) continue;
      const Move& m = moves[i];
      if (m.to.cluster_id.empty()) {
        ++stranded;
        continue;
      }
      ++moved;
      in_flight_.emplace(m.seen.service_id, m.seen.number);
      Enqueue(m.to.cluster_id, Delivery{m.seen.service_id, m.seen.number, 1, opts_.first_backoff});
    }
  }
  if (moved || stranded)
    spdlog::warn("msg=\"instances of a lost cluster\" cluster={} name={} moved={} not_placed={}", lost_id, lost_name,
                 moved, stranded);
}

}  // namespace oak::root
