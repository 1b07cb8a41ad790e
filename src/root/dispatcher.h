// Moves instances from REQUESTED to a cluster: runs the root scheduler, records the choice, and
// hands the instance to the cluster's manager, retrying with back-off. Also applies the instance
// statuses that clusters report and asks clusters to drop instances the root no longer wants.
//
// New instances are placed by the deploy handler (Place) and written already placed; the
// dispatcher then hands them over (Send). Its own store writes go through the group commit, and
// its calls to clusters through one pool of kept-alive connections (at most
// `max_connections_per_cluster` per cluster).
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/http_pool.h"
#include "root/cluster_registry.h"
#include "root/group_commit.h"
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
  // Kept-alive connections per cluster. Each completes about one exchange per turn of the event
  // loop, so this bounds the hand-over rate per turn.
  size_t max_connections_per_cluster = 16;
  // Deliveries queued for one cluster beyond which deploy answers wait (WaitForRoom).
  size_t max_queued_per_cluster = 1024;
  // Instances handed over in one request (POST /api/instances/deploy, docs/cluster.md), by at
  // most batch_connections_per_cluster requests at once. 1: one request per instance
  // (POST /api/service/<id>/<n>), which is also what a cluster gets that does not know the
  // batched form (it answers 404).
  size_t max_batch = 256;
  size_t batch_connections_per_cluster = 2;
  // A lost cluster's instances that no other cluster could take are tried again this often.
  std::chrono::milliseconds failover_retry{5'000};
};

// The status_detail of an instance whose hand-over to its cluster failed for good.
inline constexpr std::string_view kHandOverFailedPrefix = "could not hand the instance to its cluster: ";
// How a status_detail names a lost cluster: "cluster NAME lost (no report for N s)".
std::string LostClusterDetail(const std::string& cluster_name, int64_t timeout_ms);
// Whether an instance in this state on a lost cluster is one the user still expects to run, and
// so should move to another cluster (dispatcher_failover.cc).
bool WantedOnLostCluster(std::string_view status, std::string_view detail);

// One reported instance of a cluster's `jobs`, checked.
struct JobReport {
  std::string service_id;
  int64_t number = 0;
  std::optional<std::string> status;
  std::optional<std::string> status_detail;
  nlohmann::json fields = nlohmann::json::object();  // reported fields kept in the instance document
};

// Checks a whole `jobs[{_id, job_name, instance_list[{instance_number, status, ...}]}]` report, so
// that a bad entry is refused before anything is applied.
Result<std::vector<JobReport>> ParseJobReports(const nlohmann::json& jobs);

// Where a new instance goes: a cluster (status CLUSTER_SCHEDULED), or a scheduling failure status
// with its detail.
struct Placement {
  std::string status;
  std::string status_detail;
  std::string cluster_id;
  std::string cluster_location;
  std::string cluster_name{};
};

class Dispatcher {
 public:
  Dispatcher(boost::asio::io_context& io, Store& store, GroupCommit& commit, ClusterRegistry& clusters,
             const Clock& clock, DispatchOptions opts);
  ~Dispatcher();

  // A service as deploying needs it, derived once per version of its document.
  struct ServiceInfo {
    std::string id;
    std::string owner_id;
    std::string job_name;
    std::string doc_text;  // the stored document this was derived from
    Result<scheduler::Request> request;
    std::string body_head;  // the deploy body up to the instance number: `{...,"instance_number":`
    std::string doc_json;   // the deploy body without instance_number, for the batched form
  };
  // The service from the cache, or from the store on a miss (NotFound if it does not exist). A
  // cached service stays until Forget, which changes of its document and deletions must call; a
  // write for a service deleted meanwhile fails in the store all the same.
  Result<std::shared_ptr<const ServiceInfo>> Service(const std::string& id);
  void Forget(const std::string& service_id);

  // Runs the root scheduler for a new instance of `svc` and reserves what it needs on the chosen
  // cluster at once, so that the next decisions see it even before this one is stored.
  Placement Place(const ServiceInfo& svc);
  // Hands over an instance whose placement on `cluster_id` is stored. Idempotent while it runs.
  void Send(const std::string& service_id, int64_t number, const std::string& cluster_id);
  // Completes once the cluster's queue of deliveries is shorter than max_queued_per_cluster.
  // Deploy handlers await it before answering: backpressure, so that clients cannot accept
  // instances faster than they are handed over, and the queue stays bounded. (Each kept-alive
  // connection completes about one exchange per turn of the event loop, while a turn can read
  // a request from every client connection.)
  boost::asio::awaitable<void> WaitForRoom(const std::string& cluster_id);
  // Places, records and sends an instance stored as REQUESTED (after a restart). Idempotent
  // while it runs.
  void Deploy(const std::string& service_id, int64_t number);
  // Tells the cluster to remove the instance (number -1: all of the service's instances there).
  void Undeploy(const std::string& cluster_id, const std::string& service_id, int64_t number);
  // Picks up instances a previous run acknowledged but had not handed over.
  Status Resume();
  // Applies checked reports from `cluster_id`; answers how many instances changed. Reports that
  // change nothing write nothing. Instances the root does not know (deleted meanwhile, or placed
  // elsewhere) are undeployed at that cluster. Meant to run inside a GroupCommit op, so that the
  // reports are one transaction.
  Result<size_t> ApplyJobReports(const std::string& cluster_id, std::span<const JobReport> reports);

  // A cluster reported in: instances held back since the restart can be scheduled now.
  void ClusterAvailable();
  // Moves the instances the root still wants (WantedOnLostCluster) off every lost cluster
  // (ClusterRegistry::Lost) onto others; call about once a second. An instance no other cluster
  // can take stays on the lost cluster as FAILED with a detail saying so, and is tried again every
  // failover_retry; should the cluster report again, its report restores the instance's status.
  // Idempotent: what moved is no longer on the lost cluster, and a pass runs one at a time.
  void FailOver();
  // Periodic upkeep (about once a second): closes connections idle for long.
  void Maintain();

  // Instances placed or being placed and not yet handed over (or failed for good).
  size_t in_flight() const { return in_flight_.size(); }
  size_t queued() const;  // deliveries waiting for a connection, all clusters
  const HttpPool& pool() const { return pool_; }

 private:
  std::shared_ptr<const ServiceInfo> Info(const StoredService& svc);

  // One instance waiting to be handed to its cluster.
  struct Delivery {
    std::string service_id;
    int64_t number = 0;
    int attempt = 1;
    std::chrono::milliseconds backoff{0};
  };
  // A cluster's deliveries, sent by at most max_connections_per_cluster workers: memory stays
  // proportional to the queue, whatever the burst.
  struct Outbox {
    std::deque<Delivery> queue;
    size_t workers = 0;
    bool single_only = false;  // the cluster does not know the batched form
    std::deque<std::shared_ptr<boost::asio::steady_timer>> room_waiters;  // WaitForRoom, oldest first
  };
  void Enqueue(const std::string& cluster_id, Delivery d);
  boost::asio::awaitable<void> SendWorker(std::string cluster_id);
  // One attempt; on a retryable failure, queues the next one after its back-off.
  boost::asio::awaitable<void> Attempt(std::string cluster_id, Delivery d);
  // One attempt for several instances in one request (dispatcher_batch.cc); each instance's
  // outcome is handled as Attempt handles a single one.
  boost::asio::awaitable<void> AttemptBatch(std::string cluster_id, std::vector<Delivery> batch);
  // After a failed attempt: the next one after the back-off, or FAILED once attempts run out.
  boost::asio::awaitable<void> Retry(const std::string& cluster_id, Delivery d, std::string error);
  // The cluster refused the instance (4xx): FAILED with its message.
  boost::asio::awaitable<void> Refused(const std::string& cluster_id, const Delivery& d, std::string why);
  // Takes up to `n` deliveries off the queue's front, waking one answer waiting for room per delivery.
  std::vector<Delivery> Take(Outbox& box, size_t n);
  void Done(const std::string& service_id, int64_t number) { in_flight_.erase({service_id, number}); }

  boost::asio::awaitable<void> RunDeploy(std::string service_id, int64_t number);
  boost::asio::awaitable<void> RunFailOver(std::string lost_id, std::string lost_name);
  boost::asio::awaitable<void> RunUndeploy(std::string cluster_id, std::string service_id, int64_t number);
  // Applies `t` through the group commit; answers whether it applied (false: the instance moved on).
  boost::asio::awaitable<Result<bool>> Transition(InstanceTransition t);
  // A transition to a failure status, logged. Arguments are references: callers co_await it at
  // once, so they outlive it.
  boost::asio::awaitable<void> Fail(const std::string& service_id, int64_t number, const std::string& from_status,
                                    const std::string& from_cluster, const std::string& status,
                                    const std::string& detail);
  // Whether the instance is still placed on `cluster_id` and waiting to be handed over.
  bool StillScheduled(const std::string& service_id, int64_t number, const std::string& cluster_id);

  boost::asio::io_context& io_;
  Store& store_;
  GroupCommit& commit_;
  ClusterRegistry& clusters_;
  const Clock& clock_;
  DispatchOptions opts_;
  HttpPool pool_;
  std::set<std::pair<std::string, int64_t>> in_flight_;
  std::set<std::tuple<std::string, std::string, int64_t>> undeploying_;
  std::vector<std::pair<std::string, int64_t>> resume_pending_;
  std::unordered_map<std::string, std::shared_ptr<const ServiceInfo>> services_;  // by id; bounded
  std::unordered_map<std::string, Outbox> outboxes_;                              // by cluster id
  std::map<std::string, int64_t> failover_next_ms_;  // lost cluster id -> earliest next pass
  std::set<std::string> failing_over_;               // lost clusters with a pass running
  // Expires with the dispatcher; coroutines check it after every suspension.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace oak::root
