// The OCI runtime configuration (config.json) of one container instance: a pure function of the
// SLA's request and the image's own configuration, so it can be tested without runc.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/runtime.h"

namespace oak::node {

// What the image itself says about how to run it (OCI image config / Docker config).
struct ImageRunConfig {
  std::vector<std::string> entrypoint{}, cmd{}, env{};
  std::string working_dir{}, user{};
};

struct OciSpecInput {
  std::string hostname{};
  std::string rootfs = "rootfs";  // relative to the bundle
  std::string netns_path{};       // empty: a fresh namespace with loopback only
  std::string cgroups_path{};     // e.g. "/oak-<node>/<container id>"
  bool privileged = false;
  std::string passwd{};  // the image's /etc/passwd and /etc/group, to resolve a user given by name
  std::string group{};
};

// The process's argv: SLA cmd (else the image's entrypoint) followed by the SLA args (else, when the
// SLA gave no cmd, the image's cmd), as Docker combines entrypoint and cmd. Empty means nothing to run.
std::vector<std::string> ProcessArgs(const DeploySpec& spec, const ImageRunConfig& image);

// The image's env overridden key by key by the SLA's `environment`, with PATH defaulted.
std::vector<std::string> ProcessEnv(const DeploySpec& spec, const ImageRunConfig& image);

// kInvalid naming the field when the request cannot be expressed (nothing to run, a user the image
// does not know, an environment entry without '=').
Result<nlohmann::json> BuildOciConfig(const DeploySpec& spec, const ImageRunConfig& image, const OciSpecInput& in);

}  // namespace oak::node
