// `oak cluster`: wires the store, broker, node registry, manager, root link and API into one
// event loop.
#pragma once

#include <cstdint>
#include <string>

namespace oak::cluster {

struct ClusterOptions {
  std::string data_dir;
  std::string root_url;
  std::string cluster_token;
  std::string name;
  std::string location;                 // "lat,long,radius_km"
  std::string listen = "0.0.0.0:10100";
  std::string mqtt_listen = "0.0.0.0:10003";
  std::string node_token;               // empty: generated once into DATA_DIR/node.token
  std::string mqtt_url;                 // mqtt://[user:password@]host:port of an operator-run broker
  std::string advertise_url;            // how the root reaches this cluster; empty: derived from --listen
  std::string policy = "spread";
  int64_t report_interval_s = 2;        // told to nodes
  int64_t node_timeout_s = 6;           // silence before a node is inactive (3 reports)
  int64_t heartbeat_interval_s = 5;     // until the root says otherwise
  int64_t logs_timeout_ms = 5000;       // wait for a node's logs answer; below the root's 10 s
  std::string log_level = "info";
  std::string ready_file;               // written with "host:port" once listening
  size_t body_limit = 1 << 20;
};

// Runs until SIGINT or SIGTERM; answers the process exit code.
int RunCluster(const ClusterOptions& opts);

}  // namespace oak::cluster
