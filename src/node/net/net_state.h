// What the node's instance network holds, as pure data: which instance has which address, tag and
// published ports. LocalNetwork keeps it in memory and in DATA_DIR/net/state.json (docs/node.md,
// "Networking"); the allocation rules and the file format live here so they are testable alone.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/ports.h"
#include "node/net/ipv4.h"

namespace oak::node::net {

struct AttachmentRecord {
  std::string instance;
  std::string tag;  // 8 hex digits: host veth "o<tag>", netns "oak-<name>-<tag>"
  uint32_t ip = 0;
  std::vector<model::PortMapping> ports;
};

// Keyed by instance id.
using AttachmentMap = std::map<std::string, AttachmentRecord>;

struct NetState {
  std::string subnet;  // the subnet the addresses were allocated from
  AttachmentMap attachments;
};

// The lowest host address after the gateway that no attachment holds; kUnavailable
// "subnet 10.18.0.0/26 is full" when none is left.
Result<uint32_t> AllocateAddress(const Ipv4Subnet& subnet, const AttachmentMap& attachments);

// kInvalid for a container port 0 or a host port published twice (per protocol) within `ports`;
// kConflict naming the port and its holder when another attachment publishes the same host port
// for the same protocol. Entries with host_port 0 publish nothing and never conflict.
Status CheckPorts(const std::string& instance, const std::vector<model::PortMapping>& ports,
                  const AttachmentMap& attachments);

// 8 hex digits derived from the node name and the instance id; `salt` > 0 picks another one when
// the first collides.
std::string InstanceTag(const std::string& node_name, const std::string& instance, uint32_t salt = 0);

// "8080:80/tcp;5353:53/udp": the ports for messages.
std::string FormatPorts(const std::vector<model::PortMapping>& ports);

std::string SerializeState(const NetState& state);
// kInternal naming `origin` (the file) when the content is not a state document.
Result<NetState> ParseState(const std::string& text, const std::string& origin);

}  // namespace oak::node::net
