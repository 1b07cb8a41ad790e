// The cluster's view of its worker nodes: registration, reports, liveness, and the scheduling
// candidates (capacity net of what is allocated to instances and of what was sent since the last
// report). Lives on the cluster's event loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/instance_key.h"
#include "cluster/node_protocol.h"
#include "cluster/store.h"
#include "common/clock.h"
#include "scheduler/scheduler.h"

namespace oak::cluster {

struct NodeState {
  NodeRecord rec;
  NodeDescription desc;
  bool active = false;
  int64_t last_report_ms = 0;
  std::string inactive_reason;
  NodeReport last;  // without `instances`
  std::vector<ReportedInstance> reported;  // what the node said it runs, in its last report
  // Invariant: `allocated` is the sum of the needs of the instances placed here that are not in a
  // final or failed status (maintained by the manager through Allocate/Release).
  scheduler::Resources allocated;
  // Needs sent since the last report, and between the two last ones: a report may have been taken
  // before a deploy arrived, so a reservation lives until two reports have come in after it.
  scheduler::Resources reserved_now, reserved_prev;
  int64_t instance_count = 0;
  std::multiset<uint32_t> ports_in_use;  // host ports of the instances counted in `allocated`
  size_t slot = 0;  // index in Nodes() and Candidates()
};

struct Aggregates {
  int active_nodes = 0;
  scheduler::Resources free;
  double cpu_percent = 0, memory_percent = 0;  // means over active nodes
  std::vector<std::string> virtualization, addons, architectures;
};

// The lowest /26 of 10.18.0.0/16 not in `used`, or "" when all are taken.
std::string FreeSubnet(const std::set<std::string>& used);

class NodeRegistry {
 public:
  NodeRegistry(Store& store, const Clock& clock, int64_t timeout_ms);

  // Where nodes that report no location of their own are (the cluster's location).
  void SetDefaultLocation(std::optional<scheduler::GeoPoint> p) { default_location_ = p; }
  // Loads nodes; they count as inactive until they report.
  Status Load();
  // Registers or re-registers (same host name -> same id). The caller issues credentials.
  Result<NodeState*> Register(const NodeDescription& desc);
  // Applies a report; answers true when the node was inactive before.
  bool ApplyReport(NodeState& n, NodeReport report);
  // Marks the node inactive at once (last will, or silence); answers false if it already was.
  bool MarkInactive(NodeState& n, const std::string& reason);
  // Nodes silent for longer than the timeout, now marked inactive. None while the cluster's own
  // broker connection is down: their silence is then ours, not theirs.
  std::vector<NodeState*> CheckLiveness();
  // The cluster's broker connection went down or came back. Coming back gives every active node a
  // whole timeout to report again, plus as long as the outage lasted (at most 10 s, the nodes'
  // longest reconnect back-off): nodes retry with growing delays while the broker is away.
  void SetBrokerConnected(bool up);

  // An instance placed on / gone from the node: its needs and published host ports. Allocate also
  // reserves until reports catch up.
  void Allocate(NodeState& n, const scheduler::Request& req);
  void Release(NodeState& n, const scheduler::Request& req);

  // Candidates in a stable order; index i corresponds to Nodes()[i]. Kept up to date in place, so
  // a decision costs no copying.
  const std::vector<scheduler::Candidate>& Candidates() const { return candidates_; }
  const std::vector<NodeState*>& Nodes() const { return order_; }
  NodeState* Find(std::string_view id);
  const NodeState* Find(std::string_view id) const;
  NodeState* FindByName(const std::string& name);
  Aggregates Aggregate() const;
  nlohmann::json ToJson(const NodeState& n) const;

 private:
  void Refresh(NodeState& n);  // rewrites candidates_[n.slot] from n
  void Add(std::unique_ptr<NodeState> n);

  Store& store_;
  const Clock& clock_;
  int64_t timeout_ms_;
  bool broker_up_ = true;
  int64_t broker_down_since_ms_ = 0;
  int64_t excused_until_ms_ = 0;  // no node counts as silent before this time
  std::map<std::string, std::unique_ptr<NodeState>, IdLess> nodes_;  // by id
  std::map<std::string, NodeState*, IdLess> by_name_;
  std::vector<NodeState*> order_;
  std::vector<scheduler::Candidate> candidates_;  // candidates_[i] describes order_[i]
  std::optional<scheduler::GeoPoint> default_location_;
};

}  // namespace oak::cluster
