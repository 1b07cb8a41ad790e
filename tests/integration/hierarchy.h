// A whole hierarchy as real processes: one `oak root`, clusters (each with its mosquitto) and
// simulated nodes, all on loopback, in one temporary directory.
#pragma once

#include "integration/helpers.h"
#include "support/tier_processes.h"

namespace oak::it {

using oak::testing::ClusterConfig;
using oak::testing::ClusterProcess;
using oak::testing::NodeConfig;
using oak::testing::NodeProcess;

class Hierarchy {
 public:
  explicit Hierarchy(const std::string& name, std::vector<std::string> root_args = {});
  ~Hierarchy();

  RootProcess& root() { return root_; }
  ApiClient& admin() { return admin_; }
  ClusterProcess& AddCluster(const std::string& name, const std::string& location = "48.13,11.58,50",
                             std::vector<std::string> extra = {});
  NodeProcess& AddNode(ClusterProcess& c, const std::string& name, std::vector<std::string> extra = {},
                       const std::string& runtime = "simulated");
  // Waits until the root lists the cluster active with `nodes` active nodes; answers its id.
  std::string WaitClusterReady(const std::string& name, int nodes, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // The id the cluster gave the node called `name`, waiting for its registration.
  std::string NodeId(ClusterProcess& c, const std::string& name);
  std::string Dump();  // logs of every process, for failure messages
  // Stops every node and cluster (the root keeps running) and keeps their directories, so that
  // what outlives them (runc containers under their shims) can be removed before the directory.
  void StopNodesAndClusters();

 private:
  TempDir dir_;
  RootProcess root_;
  ApiClient admin_;
  std::vector<std::unique_ptr<ClusterProcess>> clusters_;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
};

// One app with the given services; answers the service ids in the order of `microservices`.
std::vector<std::string> CreateServices(const ApiClient& c, const std::string& app, json microservices);
int64_t DeployInstance(const ApiClient& c, const std::string& sid);

}  // namespace oak::it
