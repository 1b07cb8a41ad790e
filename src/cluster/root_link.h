// The cluster's link to the root: registration (retried with back-off, also at start), periodic
// heartbeats with the cluster's aggregates, and prompt pushes of instance status changes. The
// cluster keeps working while the root is away; changes made meanwhile are pushed on return.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "cluster/manager.h"
#include "cluster/node_registry.h"
#include "cluster/store.h"
#include "common/http_client.h"
#include "common/http_pool.h"

namespace oak::cluster {

struct RootLinkOptions {
  std::string root_url;
  std::string cluster_token;
  std::string name;
  std::string location;      // "lat,long[,radius_km]"
  std::string manager_url;   // empty: send manager_port, the root uses the caller's address
  uint16_t manager_port = 0;
  std::chrono::milliseconds heartbeat{5'000};  // replaced by what the root asks for at registration
  std::chrono::milliseconds push_delay{50};    // least time between two pushes; changes meanwhile go together
  // A status on the way to RUNNING (NODE_SCHEDULED, CREATING, CREATED) is pushed once it has lasted
  // this long; most last a few milliseconds, and the root then writes each instance once, not 3x.
  std::chrono::milliseconds passing_hold{500};
  int full_sync_every = 12;                    // heartbeats between two full instance lists
  size_t push_chunk = 2'000;                   // instances per request
  std::chrono::milliseconds backoff_min{500}, backoff_max{30'000};
};

class RootLink {
 public:
  RootLink(boost::asio::io_context& io, Store& store, NodeRegistry& nodes, Manager& manager, RootLinkOptions opts);

  void Start();  // spawns the registration/heartbeat loop
  void Stop();
  // An instance changed: it is pushed at once, or within push_delay of the previous push (a status
  // in passing within passing_hold). Heartbeats carry every change, in passing or not.
  void MarkDirty(const InstanceKey& key);
  // Sends the next heartbeat now if the number of active nodes changed since the last one, so the
  // root does not place on (or skip) this cluster for a whole interval on stale aggregates.
  void HeartbeatIfNodesChanged();

  const std::string& cluster_id() const { return cluster_id_; }
  const std::string& secret() const { return secret_; }
  bool registered() const { return !secret_.empty(); }

 private:
  boost::asio::awaitable<void> Run();
  boost::asio::awaitable<void> PushLoop();
  boost::asio::awaitable<Status> Register();
  boost::asio::awaitable<Result<unsigned>> Post(std::string target, std::string bearer, std::string body);
  // Sends `keys` (all instances when null) in chunks; answers false on a transport or auth
  // failure or a 5xx answer; the caller keeps the keys for the next try.
  // One send at a time (heartbeats and pushes alike), each body built once the previous send was
  // answered: the root applies what it receives in order, so an older status can never overwrite
  // a newer one that went out on another connection.
  boost::asio::awaitable<bool> SendJobs(const InstanceSet* keys, nlohmann::json aggregates);
  boost::asio::awaitable<bool> SendJobsNow(const std::vector<InstanceKey>& list, nlohmann::json aggregates);
  // Moves the keys of `batch` whose status is in passing and younger than passing_hold back to
  // dirty_; answers how long until the first of them is due (zero if none).
  std::chrono::milliseconds HoldBackPassing(InstanceSet& batch);
  boost::asio::awaitable<void> AcquireSend();
  void ReleaseSend();
  nlohmann::json AggregatesJson();

  boost::asio::io_context& io_;
  Store& store_;
  NodeRegistry& nodes_;
  Manager& manager_;
  RootLinkOptions opts_;
  Url url_;
  std::string cluster_id_, secret_;
  InstanceSet dirty_;
  // Since when each held-back key has been in passing; an entry lives until its key is sent.
  InstanceMap<std::chrono::steady_clock::time_point> passing_since_;
  bool push_armed_ = false;
  std::chrono::steady_clock::time_point last_push_{};  // start of the last push
  bool stopped_ = false;
  // Registration runs once per start even with a stored identity: the root learns the API address
  // of this run (it may have changed) and keeps the cluster's id; until it answers, the stored
  // secret still authenticates the root.
  bool registered_this_run_ = false;
  int sent_active_nodes_ = -1;  // in the last heartbeat
  bool root_reachable_ = true;  // for logging transitions only
  // The root had counted this cluster lost and may have moved instances away: the next heartbeat
  // lists every instance, so that the root can name those that now live elsewhere.
  bool resync_wanted_ = false;
  boost::asio::steady_timer wake_;       // heartbeat timer
  boost::asio::steady_timer push_timer_;
  HttpPool pool_;  // one kept-alive connection to the root
  bool sending_ = false;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> send_waiters_;  // AcquireSend, oldest first
};

}  // namespace oak::cluster
