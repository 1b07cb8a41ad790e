// The nftables table a node engine owns, rendered from its state as one `nft -f -` script. Every
// change replaces the whole table in one transaction, so the rules never drift from the state and
// a failed change leaves the previous table in place. docs/node.md, "Networking", explains the rules.
#pragma once

#include <string>

#include "node/net/ipv4.h"
#include "node/net/net_state.h"

namespace oak::node::net {

struct RulesetNames {
  std::string table;   // "oak_<name>", family inet
  std::string bridge;  // "oak<name>"
};

// Creates-or-replaces the table: NAT for the subnet going out, DNAT of the published host ports
// (from other hosts, from the node itself incl. 127.0.0.1, and from instances), masquerade where
// the reply would otherwise bypass the node.
std::string RenderRuleset(const RulesetNames& names, const Ipv4Subnet& subnet, const AttachmentMap& attachments);

// Deletes the table; succeeds whether or not it exists.
std::string RenderTableDeletion(const std::string& table);

}  // namespace oak::node::net
