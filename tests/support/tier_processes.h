// `oak cluster` and `oak node` as real processes on ephemeral loopback ports, each with its own
// data directory. Everything is stopped by PID when the object goes, also when a test fails.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace oak::testing {

struct ClusterConfig {
  std::string name = "c1";
  std::string location = "48.13,11.58,50";
  std::string node_token = "test-node-token";
  std::vector<std::string> extra_args;  // e.g. {"--policy", "binpack"}
};

class ClusterProcess {
 public:
  ClusterProcess(std::string data_dir, std::string root_url, std::string cluster_token, ClusterConfig cfg = {});
  ~ClusterProcess();

  void Start();  // (re)starts; the API port is ephemeral, the MQTT port is kept across restarts
  void Kill9();
  int Stop();
  void Signal(int sig) { if (proc_) proc_->Signal(sig); }

  const std::string& url() const { return url_; }
  uint16_t mqtt_port() const { return mqtt_port_; }
  const ClusterConfig& config() const { return cfg_; }
  std::string Log() const { return proc_ ? proc_->Log() : std::string(); }
  // The PID of the mosquitto this run of the cluster started last (from its log), or -1.
  pid_t BrokerPid() const;
  // GET /api/nodes with the node token; null on failure.
  nlohmann::json Nodes() const;
  // The broker's files, for tests that log in to the broker as the cluster would.
  std::string data_dir() const { return data_dir_; }

 private:
  std::string data_dir_, root_url_, cluster_token_;
  ClusterConfig cfg_;
  uint16_t mqtt_port_;
  std::unique_ptr<Process> proc_;
  std::string url_;
  int starts_ = 0;
};

struct NodeConfig {
  std::string name = "n1";
  std::string runtime = "simulated";
  std::vector<std::string> extra_args;  // e.g. {"--sim-failure-rate", "0.5"}
};

class NodeProcess {
 public:
  NodeProcess(std::string data_dir, std::string cluster_url, std::string node_token, NodeConfig cfg = {});
  ~NodeProcess();
  void Start();
  void Kill9();
  int Stop();
  void Signal(int sig) { if (proc_) proc_->Signal(sig); }
  bool Running() { return proc_ && proc_->Running(); }
  std::string Log() const { return proc_ ? proc_->Log() : std::string(); }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }
  const std::string& data_dir() const { return data_dir_; }

 private:
  std::string data_dir_, cluster_url_, node_token_;
  NodeConfig cfg_;
  std::unique_ptr<Process> proc_;
  int starts_ = 0;
};

}  // namespace oak::testing
