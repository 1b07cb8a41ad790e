// Moves instances from REQUESTED to a cluster: runs the root scheduler, records the choice, and
// hands the instance to the cluster's manager, retrying with back-off. Also applies the instance
// statuses that clusters report and asks clusters to drop instances the root no longer wants.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "root/cluster_registry.h"
#include "root/store.h"
#include "scheduler/scheduler.h"

namespace oak::root {

struct DispatchOptions {
  scheduler::Policy policy = scheduler::Policy::kSpread;
  int max_attempts = 6;
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{5'000};
  std::chrono::milliseconds request_timeout{5'000};
  // After a restart, clusters count as inactive until they report; instances still REQUESTED are
  // scheduled at the first cluster heartbeat or after this wait, whichever comes first, so they
  // are not failed for want of a cluster.
  std::chrono::milliseconds resume_grace{0};
};

class Dispatcher {
 public:
  Dispatcher(boost::asio::io_context& io, Store& store, ClusterRegistry& clusters, const Clock& clock,
             DispatchOptions opts);

  // Schedules and sends a REQUESTED instance. Idempotent: a second call for the same instance while
  // the first runs does nothing.
  void Deploy(const std::string& service_id, int64_t number);
  // Tells the cluster to remove the instance (number -1: all of the service's instances there).
  void Undeploy(const std::string& cluster_id, const std::string& service_id, int64_t number);
  // Picks up instances a previous run acknowledged but had not handed over.
  Status Resume();
  // Applies `jobs[{_id, job_name, instance_list[{instance_number, status, ...}]}]` from a cluster.
  // Instances the root does not know (deleted meanwhile) are undeployed at that cluster.
  Status ApplyJobReports(const ClusterState& cluster, const nlohmann::json& jobs);

  // A cluster reported in: instances held back since the restart can be scheduled now.
  void ClusterAvailable();

  size_t in_flight() const { return in_flight_.size(); }

 private:
  boost::asio::awaitable<void> RunDeploy(std::string service_id, int64_t number);
  boost::asio::awaitable<void> RunUndeploy(std::string cluster_id, std::string service_id, int64_t number);
  Status Fail(InstanceRecord& inst, std::string status, std::string detail);

  boost::asio::io_context& io_;
  Store& store_;
  ClusterRegistry& clusters_;
  const Clock& clock_;
  DispatchOptions opts_;
  std::set<std::pair<std::string, int64_t>> in_flight_;
  std::set<std::tuple<std::string, std::string, int64_t>> undeploying_;
  std::vector<std::pair<std::string, int64_t>> resume_pending_;
};

}  // namespace oak::root
