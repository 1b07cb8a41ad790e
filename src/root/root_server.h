// `oak root`: wires the store, auth, registry, dispatcher and API into one event loop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace oak::root {

struct RootOptions {
  std::string data_dir;
  std::string listen = "0.0.0.0:10000";
  std::string admin_password;  // empty: "Admin", with a warning
  std::string cluster_token;   // empty: generated once and kept in the data dir
  std::string log_level = "info";
  std::vector<std::string> cors_origins{"*"};
  std::string policy = "spread";
  int64_t heartbeat_interval_s = 5;
  int64_t cluster_timeout_s = 15;  // 3 missed heartbeats
  int64_t access_ttl_s = 600;
  int64_t refresh_ttl_s = 7 * 24 * 3600;
  size_t body_limit = 1 << 20;
  std::string ready_file;  // written with "host:port" once listening
};

// Runs until SIGINT or SIGTERM; answers the process exit code.
int RunRoot(const RootOptions& opts);

}  // namespace oak::root
