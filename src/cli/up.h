// `oak up`: root + one cluster (with its mosquitto) + N nodes + a local image registry on
// 127.0.0.1, supervised by one process, plus the demo application. The pure parts live here so
// that they can be tested without processes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace oak::cli {

struct UpOptions {
  std::string data_dir;  // empty: DefaultUpDataDir()
  int nodes = 1;
  uint16_t port = 10000;          // root API
  uint16_t cluster_port = 10100;  // cluster API
  uint16_t mqtt_port = 10003;     // the cluster's mosquitto
  uint16_t registry_port = 5000;  // docker-registry
  uint16_t demo_port = 8080;      // host port the demo's web server is mapped to
  std::string runtime = "runc";
  std::string admin_password;  // empty: generated once into DATA_DIR/admin.password
  bool demo = true;
  int startup_timeout_s = 30;  // per child, until healthy
  int deploy_timeout_s = 120;  // demo: deploy call to RUNNING (a first image pull included)
  std::string log_level = "info";
};

// Checks what CLI11 cannot: distinct ports, a usable runtime for this user. Names the flag at fault.
Status ValidateUpOptions(const UpOptions& o, bool running_as_root);

// $XDG_DATA_HOME/oak, else $HOME/.local/share/oak.
std::string DefaultUpDataDir();

// Invalid "port P (what) on 127.0.0.1 is in use ...; pass FLAG" when something listens there.
Status CheckPortFree(uint16_t port, const std::string& what, const std::string& flag);

// Finds `relative` (e.g. "scripts/busybox-image.sh") in: $OAK_PROJECT_DIR, the directory above the
// running binary (build/oak in a checkout), ../share/oak next to an installed binary, and the
// source directory the binary was built from. NotFound naming every place tried.
Result<std::string> FindProjectFile(const std::string& relative);

// The demo SLA with its image pointed at `registry` ("127.0.0.1:R") and its web port mapped from
// `host_port`: the stored example names 127.0.0.1:5000 and 8080.
nlohmann::json DemoSla(nlohmann::json sla, const std::string& registry, uint16_t host_port);

// The node names `oak up` starts: node-1 .. node-N.
std::vector<std::string> NodeNames(int n);

// Statuses an instance cannot leave on its own: the deploy failed. DEAD is not one: the cluster
// restarts a crashed instance after a back-off.
bool IsFailedStatus(const std::string& status);

// Runs `oak up`; answers the process exit code (0 after SIGINT/SIGTERM, 1 on failure).
int RunUp(const UpOptions& o);

}  // namespace oak::cli
