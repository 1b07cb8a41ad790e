// The cluster's HTTP API: node registration (node join token), the root's deploy, undeploy and
// instance logs (cluster secret), the node list, health and metrics. See docs/api.md ("Cluster API").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cluster/broker.h"
#include "cluster/log_requests.h"
#include "cluster/manager.h"
#include "cluster/node_registry.h"
#include "cluster/root_link.h"
#include "common/metrics.h"
#include "common/router.h"

namespace oak::cluster {

struct ClusterApiDeps {
  boost::asio::io_context& io;
  NodeRegistry& nodes;
  Manager& manager;
  RootLink& root;
  LogRequests& logs;
  Broker* broker;            // null when an operator-run broker is used
  HttpMetrics& metrics;
  std::string node_token;
  std::string mqtt_host;     // told to nodes; empty: the host they reached the cluster at
  uint16_t mqtt_port = 0;
  int64_t report_interval_s = 2;
};

class ClusterApi {
 public:
  explicit ClusterApi(ClusterApiDeps deps);
  void Register(Router& router);

 private:
  boost::asio::awaitable<HttpResponse> RegisterNode(HttpRequest& req);
  HttpResponse DeployInstance(HttpRequest& req);
  // Batched hand-over: {"jobs": [{"job_id", "service": <document>, "instance_numbers": [...]}]}.
  boost::asio::awaitable<HttpResponse> DeployInstances(HttpRequest& req);
  // The whole body checked; the jobs point into the returned document.
  Result<std::pair<std::shared_ptr<nlohmann::json>, std::vector<Manager::DeployJob>>> ParseDeployBatch(
      const HttpRequest& req) const;
  HttpResponse DeployParsed(const std::shared_ptr<nlohmann::json>& body, const std::vector<Manager::DeployJob>& jobs);
  HttpResponse UndeployInstance(HttpRequest& req);
  boost::asio::awaitable<HttpResponse> InstanceLogs(HttpRequest& req);
  HttpResponse ListNodes(HttpRequest& req);
  bool FromRoot(const HttpRequest& req) const;

  // Registrations arriving within a few milliseconds share one rewrite of the broker's files and
  // one reload, so a thousand nodes joining at once cost a handful of reloads, not a thousand.
  // `spec` lives in the caller's frame (no by-value coroutine parameters: see api_users.cc).
  boost::asio::awaitable<Status> AddCredentials(const Broker::ClientSpec* spec);
  boost::asio::awaitable<void> FlushCredentials();
  struct Batch {
    std::vector<Broker::ClientSpec> specs;
    Status result;
    boost::asio::steady_timer gate;  // cancelled when the batch is applied
    explicit Batch(boost::asio::io_context& io);
  };

  ClusterApiDeps d_;
  std::shared_ptr<Batch> open_batch_;
  struct IntakeCounters {
    uint64_t held_batches = 0;  // hand-overs that waited for the nodes (DeployInstances)
    int64_t held_ms = 0;
  } intake_;
};

bool SecretEquals(std::string_view a, std::string_view b);  // constant time for equal lengths

}  // namespace oak::cluster
