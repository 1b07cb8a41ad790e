// The cluster's core: keeps the instances the root handed over, places them on nodes with the
// shared scheduler, drives nodes over MQTT and folds their reports back into instance statuses.
// Lives on the cluster's event loop thread; I/O goes through the Bus and Store seams.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/instance_key.h"
#include "cluster/node_registry.h"
#include "cluster/store.h"
#include "common/clock.h"
#include "scheduler/scheduler.h"

namespace oak::cluster {

// Outgoing MQTT messages (QoS 1). The production implementation wraps MqttClient.
class Bus {
 public:
  virtual ~Bus() = default;
  virtual Status Publish(std::string_view topic, std::string_view payload) = 0;
};

// Statuses in which an instance counts against its node: NODE_SCHEDULED, CREATING, CREATED, RUNNING.
bool OccupiesNode(std::string_view status);

struct Instance {
  std::string job_id;
  int64_t number = 0;
  std::string job_name;
  std::string node_id;  // empty while not placed
  std::string status;
  std::string detail;
  std::string publicip;
  int64_t updated_ms = 0;
  bool allocated = false;  // its needs are counted on node_id
  double cpu_percent = 0, memory_percent = 0;
  int64_t disk = 0;
  // The restart policy (manager_restarts.cc); persisted with the instance.
  int64_t restarts = 0;        // restarts since the crash count was last reset
  std::string last_exit{};     // the runtime's reason for the last crash
  int64_t restart_at_ms = 0;   // a restart is due at this time; 0 = none pending
  int64_t running_since_ms = 0;  // in memory: when it last became RUNNING
  // Why it runs where it runs, when that is not where it was first placed ("moved from node w1:
  // connection lost"); kept in status_detail while it occupies a node. In memory only.
  std::string moved_from{};
  int64_t missing_reports = 0;  // consecutive reports of its node that did not list it
};

struct ManagerOptions {
  scheduler::Policy policy = scheduler::Policy::kSpread;
  // After a (re)start, instances that find no active node are held until a node reports or this
  // much time has passed, instead of failing while nodes reconnect.
  int64_t placement_grace_ms = 10'000;
  // Runs a function later on the same thread (the cluster: 20 ms later, on the event loop). When
  // set, instance rows changed meanwhile are written in one transaction then; unset (tests), each
  // change is written at once. Deploys are written before their answer either way.
  std::function<void(std::function<void()>)> defer;
  // With defer set and this > 0, a change between two statuses that both occupy the node (an
  // instance's progress where it is: CREATING, RUNNING) is written at the first Tick this much
  // later, so that the steps of one start share a write. A restart loses at most that progress,
  // which the node's next report restores.
  int64_t lazy_write_ms = 0;
  // Restart policy: an instance that ends DEAD is deployed again after restart_backoff_ms, doubling
  // per consecutive crash up to restart_backoff_max_ms. restart_reset_ms RUNNING forgets the crashes.
  // A one_shot instance runs at most one_shot_max_attempts times.
  int64_t restart_backoff_ms = 1'000;
  int64_t restart_backoff_max_ms = 60'000;
  int64_t restart_reset_ms = 300'000;
  int64_t one_shot_max_attempts = 6;
};

class Manager {
 public:
  Manager(Store& store, NodeRegistry& nodes, Bus& bus, const Clock& clock, ManagerOptions opts);

  // Loads services and instances and re-counts allocations.
  Status Load();

  // The root's deploy of one instance with its service document. Idempotent: an instance already
  // placed or running is left alone. Invalid documents -> kInvalid naming the field.
  Status Deploy(const std::string& job_id, int64_t number, const nlohmann::json& doc);
  // Instances of one service handed over together (the root's batched hand-over).
  struct DeployJob {
    std::string job_id;
    const nlohmann::json* doc = nullptr;  // the service document, without instance_number
    std::vector<int64_t> numbers;
  };
  // Deploy for many instances of several services: each document is checked once, and every
  // accepted instance is written in one transaction before any node hears of it and before this
  // returns. One Status per number of each job, in order. A failed write undoes the batch's
  // placements and fails every instance that waited for it with the store's error.
  std::vector<std::vector<Status>> DeployBatch(const std::vector<DeployJob>& jobs);
  // Whether the nodes are behind: a sizeable share of the deploys sent to nodes in this run (at
  // least kBehindMin, and one in eight) has waited longer than kBehindAfterMs for the node's first
  // event. The cluster's intake slows down meanwhile (ClusterApi), so that a burst cannot queue
  // more work at the nodes than they and this loop keep up with. A few stragglers (one slow node,
  // a lost event) do not count: held intake here stalls the root's callers for every cluster.
  bool NodesBehind() const;
  static constexpr size_t kBehindMin = 16;
  static constexpr int64_t kBehindAfterMs = 1'000;
  // Removes the instance (-1: all of the service's); kNotFound when there was none.
  Status Undeploy(const std::string& job_id, int64_t number);

  // One MQTT message from a node (or its will). Bad payloads are logged and dropped.
  void OnMessage(std::string_view topic, std::string_view payload);
  // Liveness, held placements, due restarts and crash-count resets; call every 250 ms or so (the
  // restart back-off is only as precise as this).
  void Tick();

  // Called after an instance's status, node or address changed.
  void OnChange(std::function<void(const InstanceKey&)> fn) { on_change_ = std::move(fn); }

  const Instance* Find(const InstanceKey& k) const;
  const InstanceMap<Instance>& instances() const { return instances_; }
  // Writes rows whose changes are still waiting for the end of the loop turn (e.g. on shutdown).
  Status Flush();
  // Oakestra's instance entry, as the root's heartbeat expects it.
  nlohmann::json InstanceJson(const Instance& inst) const;
  // The same object, appended to `out` as text (the root link's pushes; no DOM).
  void AppendInstanceJson(std::string& out, const Instance& inst) const;

  struct Counters {
    uint64_t dropped_messages = 0;
    uint64_t stray_deletes = 0;  // deletes sent for instances a node runs but should not
  };
  const Counters& counters() const { return counters_; }

 private:
  struct Service {
    size_t doc_hash = 0;   // of the stored document text: an unchanged re-send is not rewritten
    size_t tree_hash = 0;  // of the document as last received (0: none yet, e.g. loaded from disk)
    std::string job_name;
    std::string virtualization;
    scheduler::Request req;
    bool one_shot = false;
    // The control/deploy payload around the instance number, rendered once per document.
    std::string payload_head, payload_tail;
  };
  static Service MakeService(const std::string& doc_text, const nlohmann::json& doc, std::string job_name,
                             scheduler::Request req);
  // Checks the document and records the service (stored when its text changed).
  Result<const Service*> AcceptService(const std::string& job_id, const nlohmann::json& doc);

  // `why` prefixes the failure detail (e.g. why the instance needed a new place). A `prefer`red node
  // that is active and still qualifies is taken without asking the scheduler to rank the others.
  void Place(Instance& inst, const std::string& why = "", const std::string& prefer = "");
  void PlaceOn(Instance& inst, NodeState& node, const Service& svc);
  // manager_restarts.cc
  void OnCrash(Instance& inst, std::string reason);
  void RestartNow(Instance& inst);
  void RunRestarts();
  int64_t BackoffMs(int64_t restarts) const;
  void ForgetRestarts(const InstanceKey& k);
  void SetStatus(Instance& inst, std::string_view status, std::string detail);
  void Release(Instance& inst);
  // `progress`: a change between statuses that occupy the node (see lazy_write_ms).
  void Persist(const Instance& inst, bool progress = false);
  // Writes the unsaved rows in one transaction. A failure (say, a full disk) keeps them unsaved:
  // they are written with the next change or Tick.
  Status FlushUnsaved();
  // Publishes, or holds the message while Deploy has not yet stored what it announces.
  void Send(std::string topic, std::string payload);
  void NodeLost(NodeState& node, const std::string& reason);
  // Fails the instance (its node is lost, or lost it) and places it again, on `prefer` if it qualifies.
  void Replace(Instance& inst, const NodeState& node, const std::string& reason, const std::string& prefer = "");
  // Every change of an instance's node goes through here, so that on_node_ stays exact.
  void AssignNode(Instance& inst, const std::string& node_id);
  std::vector<Instance*> OnNode(const std::string& node_id);
  void FindMissing(NodeState& node);  // manager_reports.cc
  void RetryHeld();
  void SendDelete(const std::string& node_id, const std::string& job_name, int64_t number);
  Instance* FindByName(const std::string& job_name, int64_t number);

  void OnInformation(NodeState& node, std::string_view payload);
  void OnJob(NodeState& node, std::string_view payload);
  void OnResources(NodeState& node, std::string_view payload);
  void Drop(std::string_view topic, const Status& why);

  Store& store_;
  NodeRegistry& nodes_;
  Bus& bus_;
  const Clock& clock_;
  ManagerOptions opts_;
  int64_t started_ms_;
  std::map<std::string, Service, IdLess> services_;  // by job_id
  std::map<std::string, std::string, IdLess> job_ids_;  // job_name -> job_id
  InstanceMap<Instance> instances_;
  InstanceSet held_;                              // waiting for a node to become active
  InstanceSet unsaved_;                           // changed since the last successful flush
  InstanceSet lazy_;                              // progressed since then, not in unsaved_
  int64_t lazy_since_ms_ = 0;                      // when lazy_ got its first key
  bool flush_scheduled_ = false;                   // a deferred FlushUnsaved is queued
  uint64_t flush_failures_ = 0;                    // consecutive failed flushes
  bool hold_sends_ = false;                        // inside Deploy: Send queues in held_sends_
  std::vector<std::pair<std::string, std::string>> held_sends_;
  InstanceSet restarting_;                        // DEAD, restart_at_ms pending
  InstanceSet crashed_;                           // restarts > 0: watched for the reset
  struct AwaitingLess {
    bool operator()(const std::pair<int64_t, InstanceKey>& a, const std::pair<int64_t, InstanceKey>& b) const {
      return a.first != b.first ? a.first < b.first : InstanceKeyLess{}(a.second, b.second);
    }
  };
  std::set<std::pair<int64_t, InstanceKey>, AwaitingLess> awaiting_;  // NODE_SCHEDULED since (updated_ms), this run
  std::map<std::string, InstanceSet, IdLess> on_node_;  // node id -> instances with that node_id
  bool swept_absent_ = false;  // nodes that never reported since the start were counted lost
  std::function<void(const InstanceKey&)> on_change_;
  Counters counters_;
};

}  // namespace oak::cluster
