#include "node/node_main.h"

#include <memory>

#include "node/run.h"
#include "node/runtime/shim.h"

namespace oak::node {

namespace {

// `required` false: RunNode checks them itself, since `--reset` needs neither.
void AddCommonOptions(CLI::App* cmd, CommonNodeOptions& o, bool required = true) {
  cmd->add_option("--cluster", o.cluster_url, "URL of the cluster's node API, e.g. http://10.0.0.2:10100")
      ->envname("OAK_CLUSTER")->required(required);
  cmd->add_option("--node-token", o.node_token, "Node join token of the cluster")->envname("OAK_NODE_TOKEN")->required(required);
  cmd->add_option("--report-interval", o.report_interval_s,
                  "Seconds between resource reports (0: what the cluster says, else 2)")
      ->envname("OAK_REPORT_INTERVAL")->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  cmd->add_option("--status-hold", o.status_hold_ms,
                  "ms a CREATING or CREATED status must last before it is reported (0: report every status)")
      ->envname("OAK_STATUS_HOLD")->check(CLI::Range(int64_t{0}, int64_t{60'000}))->capture_default_str();
  cmd->add_option("--sim-failure-rate", o.sim_failure_rate, "simulated runtime: share of deploys that fail (0..1)")
      ->envname("OAK_SIM_FAILURE_RATE")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--sim-start-delay", o.sim_start_delay_ms, "simulated runtime: ms from CREATING to RUNNING")
      ->envname("OAK_SIM_START_DELAY")->check(CLI::Range(int64_t{0}, int64_t{3'600'000}))->capture_default_str();
  cmd->add_option("--sim-run-time", o.sim_run_ms, "simulated runtime: ms a one_shot service runs before COMPLETED")
      ->envname("OAK_SIM_RUN_TIME")->check(CLI::Range(int64_t{0}, int64_t{86'400'000}))->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of the simulated runtime and resources (0: random)")->envname("OAK_SEED");
  cmd->add_option("--log-level", o.log_level, "trace|debug|info|warn|error")->envname("OAK_LOG_LEVEL")->capture_default_str();
}

}  // namespace

void AddNodeCommands(CLI::App& app, std::function<int()>& run) {
  auto node = std::make_shared<NodeOptions>();
  auto* cmd = app.add_subcommand("node", "Run a worker node agent (node engine) that joins a cluster");
  node->common.runtime = "runc";
  AddCommonOptions(cmd, node->common, /*required=*/false);
  cmd->add_option("--data-dir", node->data_dir, "State directory (node id; its file system is the node's disk)")
      ->envname("OAK_DATA_DIR")->required();
  cmd->add_option("--name", node->name, "Node name, its identity within the cluster (default: the host name)")
      ->envname("OAK_NODE_NAME");
  cmd->add_option("--location", node->location, "\"lat,long\" for geo constraints")->envname("OAK_LOCATION");
  cmd->add_option("--runtime", node->common.runtime, "Workload runtime: runc|simulated")
      ->envname("OAK_RUNTIME")->check(CLI::IsMember({"runc", "simulated"}))->capture_default_str();
  cmd->add_option("--insecure-registry", node->insecure_registries,
                  "runc: HOST:PORT of a registry reached over plain HTTP (loopback ones always are)")
      ->envname("OAK_INSECURE_REGISTRIES")->delimiter(',');
  cmd->add_option("--subnet", node->subnet, "runc: instance subnet, e.g. 10.18.0.0/26 (default: assigned by the cluster)")
      ->envname("OAK_SUBNET");
  cmd->add_flag("--reset", node->reset, "runc: remove every container and the network of this data dir, then exit");
  cmd->callback([node, &run] { run = [node] { return RunNode(*node); }; });

  auto sim = std::make_shared<SimOptions>();
  cmd = app.add_subcommand("sim", "Run many simulated worker nodes in one process (load and scale tests)");
  AddCommonOptions(cmd, sim->common);
  cmd->add_option("--nodes", sim->nodes, "How many nodes")->envname("OAK_SIM_NODES")->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--name-prefix", sim->name_prefix, "Nodes are named PREFIX-0, PREFIX-1, ...")
      ->envname("OAK_SIM_NAME_PREFIX")->capture_default_str();
  cmd->add_option("--concurrency", sim->concurrency, "Registrations in flight at once")
      ->envname("OAK_SIM_CONCURRENCY")->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--mqtt-driver", sim->mqtt_driver, "MQTT sessions on the event loop (executor) or a thread each")
      ->envname("OAK_SIM_MQTT_DRIVER")->check(CLI::IsMember({"executor", "thread"}))->capture_default_str();
  cmd->add_option("--runtime", sim->common.runtime, "Workload runtime (only: simulated)")
      ->envname("OAK_RUNTIME")->check(CLI::IsMember({"simulated"}))->capture_default_str();
  cmd->callback([sim, &run] { run = [sim] { return RunSim(*sim); }; });

  // Started by the runc runtime, one per container; not meant to be run by hand.
  auto shim = std::make_shared<ShimOptions>();
  cmd = app.add_subcommand("shim", "");  // an empty description hides it from --help
  cmd->add_option("--bundle", shim->bundle)->required();
  cmd->add_option("--id", shim->id)->required();
  cmd->add_option("--runc", shim->runc);
  cmd->add_option("--runc-root", shim->runc_root)->required();
  cmd->add_option("--cgroup", shim->cgroup);
  cmd->add_option("--log-max", shim->log_max);
  cmd->callback([shim, &run] { run = [shim] { return RunShim(*shim); }; });
}

}  // namespace oak::node
