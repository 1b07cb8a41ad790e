// Node-local networking for container instances: each instance gets its own network namespace, a
// veth into the node's bridge, an address from the node's subnet, outbound masquerade, and its
// published ports as DNAT rules in the nftables table this node engine owns (docs/node.md,
// "Networking").
//
// Every method is thread-safe and BLOCKING (it runs `ip` and `nft`): call it from a worker pool,
// never from the event loop. Calls are serialized by one mutex. The calling thread's network
// namespace is the one that gets the bridge and the table.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/ports.h"
#include "node/net/ipv4.h"
#include "node/net/net_state.h"

namespace oak::node::net {

struct LocalNetworkOptions {
  std::string name;       // [a-z0-9]{1,8}: bridge "oak<name>", table "inet oak_<name>", netns "oak-<name>-<tag>"
  std::string subnet;     // e.g. "10.18.0.0/26"; the gateway (first host address) is on the bridge
  std::string state_dir;  // DATA_DIR/net: state.json, which instance has which address and ports
};

struct Attachment {
  std::string instance;    // the caller's id, e.g. the container name `<job_name>.instance.<n>`
  std::string netns_path;  // /var/run/netns/<netns>, for the OCI config's network namespace path
  std::string ip;          // the instance's address in the subnet
  std::string gateway;
  std::vector<model::PortMapping> ports;
};

class LocalNetwork {
 public:
  explicit LocalNetwork(LocalNetworkOptions opts);

  // kInvalid naming the option when a name, subnet or state dir is malformed.
  static Status Validate(const LocalNetworkOptions& opts);

  // Creates or adopts the bridge, its address, ip_forward and route_localnet, loads state.json,
  // re-creates the plumbing of recorded attachments that lost it (a reboot), removes this engine's
  // namespaces and veths that no record names, and (re)writes the table.
  Status Setup();
  // Namespace + veth + address + default route + loopback up, and DNAT rules for `ports`.
  // kConflict naming the port (nothing created) when another attachment publishes a host port for
  // the same protocol; kConflict when `instance` is attached with other ports; the existing
  // attachment when it is attached with the same ports; kUnavailable when the subnet is full.
  Result<Attachment> Attach(const std::string& instance, const std::vector<model::PortMapping>& ports);
  // Removes the instance's rules, veth and namespace; kOk when it is not attached.
  Status Detach(const std::string& instance);
  std::vector<Attachment> List() const;
  // Removes everything this engine created (attachments, the table, the bridge, state.json); also
  // without a prior Setup, by name.
  Status Teardown();

  const std::string& bridge() const { return bridge_; }
  const std::string& table() const { return table_; }  // family inet
  std::string NetnsName(const std::string& tag) const { return "oak-" + opts_.name + "-" + tag; }

 private:
  Attachment ToAttachment(const AttachmentRecord& rec) const;
  std::string NetnsPath(const AttachmentRecord& rec) const;
  std::string StatePath() const { return opts_.state_dir + "/state.json"; }
  Status EnsureBridge();
  Status ApplyRules(const AttachmentMap& attachments);
  Status SaveState(const AttachmentMap& attachments);
  Status CreatePlumbing(const AttachmentRecord& rec);  // namespace, then ConnectNetns
  Status ConnectNetns(const AttachmentRecord& rec);    // veth into the existing namespace, address, route
  // Brings a recorded attachment back to what CreatePlumbing makes, keeping its namespace if any.
  Status RepairPlumbing(const AttachmentRecord& rec, const std::set<std::string>& bridge_ports);
  Result<std::set<std::string>> BridgePorts() const;
  Status RemovePlumbing(const AttachmentRecord& rec);
  // Namespaces "oak-<name>-*" and veths on the bridge that no attachment in `keep` names.
  Status RemoveStrays(const AttachmentMap& keep);
  std::string PickTag(const std::string& instance) const;

  const LocalNetworkOptions opts_;
  const Status valid_;
  Ipv4Subnet subnet_;
  std::string bridge_, table_;

  mutable std::mutex mu_;
  bool ready_ = false;        // Setup succeeded
  std::string applied_rules_;  // the ruleset last loaded into the table; "" after Setup/Teardown
  AttachmentMap attachments_; // what the kernel and state.json hold, once ready_
};

}  // namespace oak::node::net
