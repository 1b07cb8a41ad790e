// Entry points of the node roles, behind the CLI in node_main.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "node/runtime/simulated.h"

namespace oak::node {

// Knobs shared by `oak node` and `oak sim`.
struct CommonNodeOptions {
  std::string cluster_url;
  std::string node_token;
  std::string runtime = "simulated";
  double report_interval_s = 0;  // 0: what the cluster answers at registration (else 2 s)
  double sim_failure_rate = 0;
  int64_t sim_start_delay_ms = 5;
  int64_t sim_run_ms = 50;
  int64_t status_hold_ms = 100;  // AgentOptions::passing_hold
  uint64_t seed = 0;  // 0: random
  std::string log_level = "info";
};

struct NodeOptions {
  CommonNodeOptions common;
  std::string data_dir;
  std::string name;      // empty: the host name
  std::string location;  // "lat,long", optional
  std::vector<std::string> insecure_registries;  // runc: "host:port" pulled over plain HTTP
  std::string subnet;    // runc: instance subnet; empty: assigned by the cluster
  bool reset = false;    // runc: remove every container and the network of DATA_DIR, then exit
};

struct SimOptions {
  CommonNodeOptions common;
  int nodes = 1;
  std::string name_prefix = "sim";
  int concurrency = 16;  // registrations in flight at once
  // "executor" (default) or "thread": how MQTT sessions are driven (common/mqtt.h). The thread
  // driver stops working past about 330 nodes per process; it stays selectable for comparisons.
  std::string mqtt_driver = "executor";
};

// Both answer the process exit code: 0 after SIGINT/SIGTERM, 1 when the cluster refused the node
// (bad token), 2 for bad options.
int RunNode(const NodeOptions& o);
int RunSim(const SimOptions& o);

// Seconds from the command line to the agent's interval: 0 stays 0 (the cluster decides), anything
// else is at least 10 ms.
std::chrono::milliseconds ReportInterval(double seconds);

// Validates the runtime choice and builds the simulated runtime's options from the common flags.
Result<SimulatedOptions> SimulatedFromFlags(const CommonNodeOptions& o);

}  // namespace oak::node
