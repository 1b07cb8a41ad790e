// The `oak` binary: every server role and the client commands (the worker roles hand over to
// `oak-node` when it is there).
#include <unistd.h>

#include <filesystem>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "cluster/cluster_server.h"
#include "common/malloc_tuning.h"
#include "node/node_main.h"
#include "root/root_server.h"

namespace {

void AddRootCommand(CLI::App& app, oak::root::RootOptions& o, bool& run) {
  auto* cmd = app.add_subcommand("root", "Run the root orchestrator (System Manager API)");
  cmd->add_option("--data-dir", o.data_dir, "State directory (SQLite, secrets)")->envname("OAK_DATA_DIR")->required();
  cmd->add_option("--listen", o.listen, "HOST:PORT to serve the API on")->envname("OAK_LISTEN")->capture_default_str();
  cmd->add_option("--admin-password", o.admin_password, "Password of the bootstrap user Admin (first start only)")
      ->envname("OAK_ADMIN_PASSWORD");
  cmd->add_option("--cluster-token", o.cluster_token,
                  "Join token clusters must present (default: generated into DATA_DIR/cluster.token)")
      ->envname("OAK_CLUSTER_TOKEN");
  cmd->add_option("--log-level", o.log_level, "trace|debug|info|warn|error")->envname("OAK_LOG_LEVEL")->capture_default_str();
  cmd->add_option("--cors-origin", o.cors_origins, "Allowed CORS origins ('*' = any)")
      ->envname("OAK_CORS_ORIGINS")->delimiter(',')->capture_default_str();
  cmd->add_option("--policy", o.policy, "Cluster placement policy: spread|binpack|firstfit")
      ->envname("OAK_POLICY")->capture_default_str();
  cmd->add_option("--heartbeat-interval", o.heartbeat_interval_s, "Seconds between cluster heartbeats (told to clusters)")
      ->envname("OAK_HEARTBEAT_INTERVAL")->check(CLI::Range(1, 3600))->capture_default_str();
  cmd->add_option("--cluster-timeout", o.cluster_timeout_s, "Seconds of silence before a cluster is inactive")
      ->envname("OAK_CLUSTER_TIMEOUT")->check(CLI::Range(1, 86400))->capture_default_str();
  cmd->add_option("--body-limit", o.body_limit, "Largest accepted request body in bytes")
      ->envname("OAK_BODY_LIMIT")->check(CLI::Range(1024, 256 << 20))->capture_default_str();
  cmd->add_option("--ready-file", o.ready_file, "Write HOST:PORT here once listening");
  cmd->callback([&run] { run = true; });
}

void AddClusterCommand(CLI::App& app, oak::cluster::ClusterOptions& o, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("cluster", "Run a cluster orchestrator (its broker, node registry and scheduler)");
  cmd->add_option("--data-dir", o.data_dir, "State directory (SQLite, broker files, node token)")
      ->envname("OAK_DATA_DIR")->required();
  cmd->add_option("--root", o.root_url, "URL of the root orchestrator")->envname("OAK_ROOT_URL")->required();
  cmd->add_option("--cluster-token", o.cluster_token, "The root's cluster join token")
      ->envname("OAK_CLUSTER_TOKEN")->required();
  cmd->add_option("--name", o.name, "Cluster name, unique at the root")->envname("OAK_CLUSTER_NAME")->required();
  cmd->add_option("--location", o.location, "\"lat,long,radius_km\" of the cluster's area")
      ->envname("OAK_CLUSTER_LOCATION");
  cmd->add_option("--listen", o.listen, "HOST:PORT for the cluster API")->envname("OAK_LISTEN")->capture_default_str();
  cmd->add_option("--mqtt-listen", o.mqtt_listen, "HOST:PORT for the cluster's own mosquitto")
      ->envname("OAK_MQTT_LISTEN")->capture_default_str();
  cmd->add_option("--node-token", o.node_token,
                  "Join token nodes must present (default: generated into DATA_DIR/node.token)")
      ->envname("OAK_NODE_TOKEN");
  cmd->add_option("--mqtt-url", o.mqtt_url, "mqtt://[user:password@]host:port of an operator-run broker instead")
      ->envname("OAK_MQTT_URL");
  cmd->add_option("--advertise-url", o.advertise_url, "URL the root uses to reach this cluster (default: from --listen)")
      ->envname("OAK_ADVERTISE_URL");
  cmd->add_option("--policy", o.policy, "Node placement policy: spread|binpack|firstfit")
      ->envname("OAK_POLICY")->capture_default_str();
  cmd->add_option("--report-interval", o.report_interval_s, "Seconds between node reports (told to nodes)")
      ->envname("OAK_REPORT_INTERVAL")->check(CLI::Range(1, 3600))->capture_default_str();
  cmd->add_option("--node-timeout", o.node_timeout_s, "Seconds of silence before a node is inactive")
      ->envname("OAK_NODE_TIMEOUT")->check(CLI::Range(1, 86400))->capture_default_str();
  cmd->add_option("--heartbeat-interval", o.heartbeat_interval_s, "Seconds between heartbeats until the root sets it")
      ->envname("OAK_HEARTBEAT_INTERVAL")->check(CLI::Range(1, 3600))->capture_default_str();
  cmd->add_option("--logs-timeout-ms", o.logs_timeout_ms, "How long to wait for a node's answer to a logs request")
      ->envname("OAK_LOGS_TIMEOUT_MS")->check(CLI::Range(100, 8000))->capture_default_str();
  cmd->add_option("--log-level", o.log_level, "trace|debug|info|warn|error")->envname("OAK_LOG_LEVEL")->capture_default_str();
  cmd->add_option("--body-limit", o.body_limit, "Largest accepted request body in bytes")
      ->envname("OAK_BODY_LIMIT")->check(CLI::Range(1024, 256 << 20))->capture_default_str();
  cmd->add_option("--ready-file", o.ready_file, "Write HOST:PORT here once listening");
  cmd->callback([&run, &o] { run = [&o] { return oak::cluster::RunCluster(o); }; });
}

// The worker roles run from `oak-node` when it sits beside this binary (src/node/main.cc): the same
// code without the root's and cluster's libraries, so an engine on a small device stays small. The
// process keeps its PID; without `oak-node`, or if it cannot be started, the role runs here.
bool IsWorkerRole(std::string_view role) { return role == "node" || role == "sim" || role == "shim"; }

void HandOverWorkerRoles(char** argv) {
  if (!IsWorkerRole(argv[1])) return;
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return;
  const std::filesystem::path lean = self.parent_path() / "oak-node";
  if (lean == self || access(lean.c_str(), X_OK) != 0) return;
  execv(lean.c_str(), argv);
}

// The long-running roles start with glibc's allocator tuned (common/malloc_tuning.h); a worker role
// takes the setting along to `oak-node`, the others execute this binary once more.
void TuneAllocatorOfServerRoles(char** argv) {
  const std::string_view role = argv[1];
  if (role != "root" && role != "cluster" && !IsWorkerRole(role)) return;
  const bool changed = oak::AddMallocTunables();
  HandOverWorkerRoles(argv);
  if (changed) oak::ExecSelf(argv);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) TuneAllocatorOfServerRoles(argv);
  CLI::App app{"Oak: a lightweight hierarchical orchestrator for edge computing"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "oak 0.1.0");
  oak::root::RootOptions root_opts;
  bool run_root = false;
  AddRootCommand(app, root_opts, run_root);
  std::function<int()> run_role;  // set by the parse callback of a role's subcommand
  oak::node::AddNodeCommands(app, run_role);
  oak::cluster::ClusterOptions cluster_opts;
  AddClusterCommand(app, cluster_opts, run_role);
  int client_exit = 0;
  oak::cli::AddClientCommands(app, client_exit);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (run_root) return oak::root::RunRoot(root_opts);
  if (run_role) return run_role();
  return client_exit;
}
