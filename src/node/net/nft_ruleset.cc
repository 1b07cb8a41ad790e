#include "node/net/nft_ruleset.h"

#include <map>
#include <utility>

namespace oak::node::net {

namespace {

using Proto = model::PortMapping::Proto;

// host port -> "address . container port", sorted so the same state renders the same script.
using PortMap = std::map<uint16_t, std::string>;

std::string RenderMap(const std::string& name, const PortMap& ports) {
  std::string s = "  map " + name + " {\n    type inet_service : ipv4_addr . inet_service\n";
  if (!ports.empty()) {
    s += "    elements = {";
    const char* sep = " ";
    for (const auto& [host, target] : ports) {
      s += sep + std::to_string(host) + " : " + target;
      sep = ",\n                 ";
    }
    s += " }\n";
  }
  return s + "  }\n";
}

}  // namespace

std::string RenderTableDeletion(const std::string& table) {
  // Declaring the table first makes the deletion valid when it does not exist yet.
  return "table inet " + table + " {}\ndelete table inet " + table + "\n";
}

std::string RenderRuleset(const RulesetNames& names, const Ipv4Subnet& subnet, const AttachmentMap& attachments) {
  PortMap tcp, udp;
  for (const auto& [id, a] : attachments) {
    for (const auto& p : a.ports) {
      if (p.host_port == 0) continue;
      (p.proto == Proto::kUdp ? udp : tcp)[p.host_port] = FormatAddress(a.ip) + " . " + std::to_string(p.container_port);
    }
  }
  const std::string net = subnet.ToString();
  const std::string br = "\"" + names.bridge + "\"";
  std::string s = RenderTableDeletion(names.table);
  s += "table inet " + names.table + " {\n";
  s += "  comment \"instance network of oak node engine " + names.bridge + "\"\n";
  s += RenderMap("tcp_ports", tcp);
  s += RenderMap("udp_ports", udp);
  // Published ports answer on every local address of the node: `fib daddr type local` is true for
  // the node's own addresses (incl. 127.0.0.1 and the gateway), for packets from outside
  // (prerouting) and from the node itself (output).
  s += "  chain prerouting {\n"
       "    type nat hook prerouting priority dstnat; policy accept;\n"
       "    meta nfproto ipv4 fib daddr type local jump published\n"
       "  }\n";
  s += "  chain output {\n"
       "    type nat hook output priority -100; policy accept;\n"
       "    meta nfproto ipv4 fib daddr type local jump published\n"
       "  }\n";
  s += "  chain published {\n"
       "    dnat ip to tcp dport map @tcp_ports\n"
       "    dnat ip to udp dport map @udp_ports\n"
       "  }\n";
  s += "  chain postrouting {\n"
       "    type nat hook postrouting priority srcnat; policy accept;\n"
       // Instances reach other hosts through the node's address.
       "    meta nfproto ipv4 ip saddr " + net + " oifname != " + br + " masquerade\n"
       // 127.0.0.1:hostport from the node: the instance cannot answer 127.0.0.1 (route_localnet
       // on the bridge lets such packets leave at all).
       "    meta nfproto ipv4 ip saddr 127.0.0.0/8 oifname " + br + " masquerade\n"
       // An instance reaching a published port (its own or another's) through a node address:
       // the answer must come back through the node to be un-NATed.
       "    meta nfproto ipv4 ip saddr " + net + " oifname " + br + " ct status dnat masquerade\n"
       "  }\n";
  s += "}\n";
  return s;
}

}  // namespace oak::node::net
