// The root's view of its clusters: registration, heartbeats, liveness and the scheduling
// candidates (aggregates net of optimistic reservations). Lives on the event loop thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "root/store.h"
#include "scheduler/scheduler.h"

namespace oak::root {

struct ClusterState {
  ClusterRecord rec;
  bool active = false;
  scheduler::Candidate candidate;  // as last reported, without reservations
  // Resources sent since the last heartbeat, and between the two last ones. A reservation lives
  // until a heartbeat that was sent after it has arrived: at most two heartbeats.
  scheduler::Resources reserved_now, reserved_prev;
  // Reports of this cluster the root has received and is still applying. A cluster is never
  // silent while one is: a slow root (its commit queue long under load) must not count its own
  // delay against the cluster and move the cluster's instances away.
  int reports_applying = 0;
};

struct Registration {
  std::string id;
  std::string secret;
};

class ClusterRegistry {
 public:
  ClusterRegistry(Store& store, const Clock& clock, int64_t timeout_ms);

  Status Load();
  // `body`: {cluster_name, cluster_location "lat,long[,radius_km]", manager_url | manager_port, ...}.
  // A cluster that registers again under its name keeps its id and gets a new secret.
  Result<Registration> Register(const nlohmann::json& body, const std::string& remote_addr);
  // Checks the per-cluster secret.
  Result<ClusterState*> Authenticate(const std::string& id, std::string_view secret);
  // Applies a heartbeat's aggregates and marks the cluster active; a status push (IsStatusPush)
  // only counts as a sign of life. Changes memory only: the caller persists `c.rec` (after a
  // heartbeat, not after a push) with the rest of its writes.
  Status ApplyHeartbeat(ClusterState& c, const nlohmann::json& body);
  // Brackets the applying of one report received from `c` (see ClusterState::reports_applying);
  // the end counts as a sign of life, as the start did.
  void BeginReport(ClusterState& c) { ++c.reports_applying; }
  void EndReport(ClusterState& c);
  // An answer of the cluster to one of the root's requests (a deploy, an undeploy): as much a sign
  // of life as a report. Keeps a busy cluster whose reports queue behind its answers from being
  // counted silent; does not make an inactive cluster active (only a heartbeat does).
  void NoteAnswer(const std::string& id);
  // Called by the liveness loop at each tick, meant `period_ms` after the previous one. A tick that
  // comes late means the root itself was not running (starved of CPU, stalled on its disk): the
  // delay is not counted as silence of the clusters, whose reports were waiting for the root.
  void NoteTick(int64_t period_ms);
  // Marks clusters silent for longer than the timeout inactive; answers how many changed.
  int CheckLiveness();
  // Clusters whose instances should live elsewhere: inactive, and silent for longer than the
  // timeout since their last heartbeat or since this registry was created, whichever is later. So
  // after a restart of the root, each cluster gets one timeout to report before it counts as lost.
  std::vector<const ClusterState*> Lost() const;
  int64_t timeout_ms() const { return timeout_ms_; }

  std::vector<scheduler::Candidate> Candidates() const;
  void Reserve(const std::string& cluster_id, const scheduler::Resources& r);

  const ClusterState* Find(const std::string& id) const;
  std::vector<const ClusterState*> All() const;
  int ActiveCount() const;
  nlohmann::json ToJson(const ClusterState& c) const;  // Oakestra's cluster document

 private:
  void Refresh(ClusterState& c);
  void Seen(ClusterState& c);  // heard from now; last_seen_ms never moves back

  Store& store_;
  const Clock& clock_;
  int64_t timeout_ms_;
  int64_t started_ms_;
  int64_t last_tick_ms_ = -1;
  std::map<std::string, std::unique_ptr<ClusterState>> clusters_;  // by id
};

// A body with `jobs` and nothing else: instance statuses pushed between heartbeats. It carries no
// aggregates, so it neither refreshes the candidate nor ends reservations.
bool IsStatusPush(const nlohmann::json& body);
// Checks the types of a heartbeat's aggregate fields (unknown fields pass).
Status ValidateHeartbeat(const nlohmann::json& body);
// The cluster_location recorded in `info`, or empty.
std::string LocationText(const nlohmann::json& info);

// Parses "lat,long[,radius_km]".
Result<std::pair<scheduler::GeoPoint, double>> ParseLocation(std::string_view text);

}  // namespace oak::root
