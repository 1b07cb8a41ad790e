// The kernel side of the instance network: `ip` and `nft` through RunCommand, and a few direct
// looks at links, namespaces and sysctls. Everything acts in the calling thread's network
// namespace and blocks.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/subprocess.h"

namespace oak::node::net {

inline constexpr const char* kNetnsDir = "/var/run/netns";  // where `ip netns` keeps its mounts
inline constexpr std::chrono::milliseconds kToolTimeout{20'000};

// kInternal "<argv...>: <the tool's error>" unless it exits 0; kUnavailable when it cannot start.
Result<CommandResult> RunTool(const std::vector<std::string>& argv, std::optional<std::string> input = std::nullopt);
// Runs `commands` (one per line) in one `ip [prefix...] -batch -`; an error names the failed command.
Status RunIpBatch(const std::vector<std::string>& prefix, const std::string& commands);
// `nft -f -` with `script` on stdin: one transaction.
Status ApplyNft(const std::string& script);
// `ip -j <args>` as JSON (an empty answer is an empty list).
Result<nlohmann::json> IpJson(const std::vector<std::string>& args);

bool LinkExists(const std::string& name);
// A path `ip netns add` bound a namespace to (after a reboot only the empty file is left).
bool NetnsMounted(const std::string& path);
bool PathExists(const std::string& path);
// Writes /proc/sys/net/<key> of the calling thread's namespace.
Status WriteSysctl(const std::string& key, const std::string& value);
// Names under /var/run/netns starting with `prefix`.
std::vector<std::string> NetnsNames(const std::string& prefix);
// Both succeed when the thing does not exist.
Status DeleteNetns(const std::string& name);
Status DeleteLink(const std::string& name);

}  // namespace oak::node::net
