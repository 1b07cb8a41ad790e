// The instance network's pure parts: subnets, address allocation, port conflicts, tags, the state
// file and the rendered nftables script. No root, no tools.
#include <gtest/gtest.h>

#include "node/net/ipv4.h"
#include "node/net/local_network.h"
#include "node/net/net_state.h"
#include "node/net/nft_ruleset.h"

namespace oak::node::net {
namespace {

using Proto = model::PortMapping::Proto;

model::PortMapping Tcp(uint16_t host, uint16_t container) { return {host, container, Proto::kTcp}; }
model::PortMapping Udp(uint16_t host, uint16_t container) { return {host, container, Proto::kUdp}; }

AttachmentRecord Rec(const std::string& id, const std::string& ip, std::vector<model::PortMapping> ports = {}) {
  return {id, InstanceTag("n", id), *ParseAddress(ip), std::move(ports)};
}

TEST(Ipv4, ParsesSubnets) {
  auto s = ParseSubnet("10.18.0.0/26");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->ToString(), "10.18.0.0/26");
  EXPECT_EQ(FormatAddress(s->gateway()), "10.18.0.1");
  EXPECT_EQ(FormatAddress(s->broadcast()), "10.18.0.63");
  EXPECT_TRUE(s->Contains(*ParseAddress("10.18.0.62")));
  EXPECT_FALSE(s->Contains(*ParseAddress("10.18.0.64")));
}

TEST(Ipv4, RejectsMalformedSubnets) {
  for (const char* bad : {"", "10.18.0.0", "10.18.0.0/", "10.18.0.0/x", "10.18.0.0/31", "10.18.0.0/0",
                          "10.18.0.1/26", "10.18.0/26", "10.18.0.0/26 ", "300.1.1.0/24", "::1/64"}) {
    auto s = ParseSubnet(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), Code::kInvalid) << bad;
    EXPECT_NE(s.status().message().find(std::string("\"") + bad + "\""), std::string::npos) << s.status().message();
  }
  EXPECT_NE(ParseSubnet("10.18.0.1/26").status().message().find("10.18.0.0"), std::string::npos);
}

TEST(Allocation, TakesTheLowestFreeAddressAfterTheGateway) {
  auto subnet = *ParseSubnet("10.18.0.0/29");  // hosts .1 (gateway) .. .6
  AttachmentMap m;
  EXPECT_EQ(FormatAddress(*AllocateAddress(subnet, m)), "10.18.0.2");
  m.emplace("a", Rec("a", "10.18.0.2"));
  m.emplace("c", Rec("c", "10.18.0.4"));
  EXPECT_EQ(FormatAddress(*AllocateAddress(subnet, m)), "10.18.0.3");
  m.emplace("b", Rec("b", "10.18.0.3"));
  EXPECT_EQ(FormatAddress(*AllocateAddress(subnet, m)), "10.18.0.5");
  m.emplace("d", Rec("d", "10.18.0.5"));
  m.emplace("e", Rec("e", "10.18.0.6"));
  auto full = AllocateAddress(subnet, m);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), Code::kUnavailable);
  EXPECT_EQ(full.status().message(), "subnet 10.18.0.0/29 is full");
  m.erase("a");
  EXPECT_EQ(FormatAddress(*AllocateAddress(subnet, m)), "10.18.0.2");
}

TEST(Ports, ConflictsNameThePortAndItsHolder) {
  AttachmentMap m;
  m.emplace("job.instance.0", Rec("job.instance.0", "10.18.0.2", {Tcp(8080, 80), Udp(5353, 53), {0, 9000, Proto::kTcp}}));
  auto s = CheckPorts("other", {Tcp(8080, 81)}, m);
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(s.message(), "host port 8080/tcp is already published by instance job.instance.0");
  EXPECT_EQ(CheckPorts("other", {Udp(8080, 80), Tcp(5353, 53), Tcp(9000, 9000), {0, 80, Proto::kTcp}}, m).code(), Code::kOk);
  EXPECT_EQ(CheckPorts("job.instance.0", {Tcp(8080, 80)}, m).code(), Code::kOk) << "an instance never conflicts with itself";
  EXPECT_EQ(CheckPorts("x", {Tcp(1, 2), Tcp(1, 3)}, {}).code(), Code::kInvalid);
  EXPECT_EQ(CheckPorts("x", {Tcp(1, 0)}, {}).code(), Code::kInvalid);
  EXPECT_EQ(CheckPorts("x", {Tcp(1, 2), Udp(1, 2)}, {}).code(), Code::kOk);
}

TEST(Tags, AreStableHexAndDependOnNodeInstanceAndSalt) {
  std::string t = InstanceTag("n1", "job.instance.0");
  EXPECT_EQ(t.size(), 8u);
  EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(t, InstanceTag("n1", "job.instance.0"));
  EXPECT_NE(t, InstanceTag("n2", "job.instance.0"));
  EXPECT_NE(t, InstanceTag("n1", "job.instance.1"));
  EXPECT_NE(t, InstanceTag("n1", "job.instance.0", 1));
  // Interface names must fit IFNAMSIZ - 1 = 15 characters.
  EXPECT_LE(("o" + t).size(), 15u);
  EXPECT_LE(std::string("oak12345678").size(), 15u);
}

TEST(State, RoundTrips) {
  NetState s{"10.18.0.0/26", {}};
  s.attachments.emplace("a.instance.0", Rec("a.instance.0", "10.18.0.2", {Tcp(8080, 80), Udp(53, 53), {0, 7, Proto::kTcp}}));
  s.attachments.emplace("b.instance.3", Rec("b.instance.3", "10.18.0.3"));
  auto back = ParseState(SerializeState(s), "state.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->subnet, s.subnet);
  ASSERT_EQ(back->attachments.size(), 2u);
  const auto& a = back->attachments.at("a.instance.0");
  EXPECT_EQ(a.tag, s.attachments.at("a.instance.0").tag);
  EXPECT_EQ(FormatAddress(a.ip), "10.18.0.2");
  EXPECT_EQ(a.ports, s.attachments.at("a.instance.0").ports);
}

TEST(State, RejectsMalformedFiles) {
  for (const char* bad : {"", "[]", "{\"version\":2}", "{\"version\":1}",
                          R"({"version":1,"subnet":"x","attachments":[{"instance":"a","tag":"zz","ip":"10.0.0.2","ports":[]}]})",
                          R"({"version":1,"subnet":"x","attachments":[{"instance":"a","tag":"0000000a","ip":"nope","ports":[]}]})",
                          R"({"version":1,"subnet":"x","attachments":[{"instance":"a","tag":"0000000a","ip":"10.0.0.2","ports":[{"host":1,"container":2,"proto":"sctp"}]}]})"}) {
    auto s = ParseState(bad, "/d/state.json");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), Code::kInternal);
    EXPECT_EQ(s.status().message().rfind("/d/state.json: ", 0), 0u) << s.status().message();
  }
}

TEST(Ruleset, PublishesMappedPortsAndMasqueradesTheSubnet) {
  AttachmentMap m;
  m.emplace("a", Rec("a", "10.18.0.2", {Tcp(8080, 80), Udp(5353, 53), {0, 9, Proto::kTcp}}));
  m.emplace("b", Rec("b", "10.18.0.3", {Tcp(2222, 22)}));
  std::string s = RenderRuleset({"oak_n1", "oakn1"}, *ParseSubnet("10.18.0.0/26"), m);
  // Replaces the table in one transaction, also when it does not exist yet.
  EXPECT_EQ(s.rfind("table inet oak_n1 {}\ndelete table inet oak_n1\ntable inet oak_n1 {\n", 0), 0u) << s;
  EXPECT_NE(s.find("  map tcp_ports {\n    type inet_service : ipv4_addr . inet_service\n"
                   "    elements = { 2222 : 10.18.0.3 . 22,\n                 8080 : 10.18.0.2 . 80 }\n  }\n"),
            std::string::npos) << s;
  EXPECT_NE(s.find("  map udp_ports {\n    type inet_service : ipv4_addr . inet_service\n"
                   "    elements = { 5353 : 10.18.0.2 . 53 }\n  }\n"),
            std::string::npos) << s;
  EXPECT_EQ(s.find(" 9 "), std::string::npos) << "unpublished container ports get no rule";
  EXPECT_NE(s.find("dnat ip to tcp dport map @tcp_ports"), std::string::npos);
  EXPECT_NE(s.find("dnat ip to udp dport map @udp_ports"), std::string::npos);
  EXPECT_NE(s.find("type nat hook prerouting priority dstnat;"), std::string::npos);
  EXPECT_NE(s.find("type nat hook output priority -100;"), std::string::npos);
  EXPECT_NE(s.find("ip saddr 10.18.0.0/26 oifname != \"oakn1\" masquerade"), std::string::npos);
  EXPECT_NE(s.find("ip saddr 127.0.0.0/8 oifname \"oakn1\" masquerade"), std::string::npos);
  EXPECT_NE(s.find("ip saddr 10.18.0.0/26 oifname \"oakn1\" ct status dnat masquerade"), std::string::npos);
}

TEST(Ruleset, EmptyStateHasEmptyMaps) {
  std::string s = RenderRuleset({"oak_n1", "oakn1"}, *ParseSubnet("10.18.0.0/26"), {});
  EXPECT_EQ(s.find("elements"), std::string::npos) << s;
  EXPECT_NE(s.find("map tcp_ports"), std::string::npos);
  EXPECT_EQ(RenderTableDeletion("oak_n1"), "table inet oak_n1 {}\ndelete table inet oak_n1\n");
}

TEST(Options, MalformedOptionsAreInvalid) {
  auto check = [](LocalNetworkOptions o, const std::string& part) {
    Status v = LocalNetwork::Validate(o);
    EXPECT_EQ(v.code(), Code::kInvalid) << part;
    EXPECT_NE(v.message().find(part), std::string::npos) << v.message();
    LocalNetwork net(o);
    EXPECT_EQ(net.Setup().code(), Code::kInvalid);
    EXPECT_EQ(net.Attach("x", {}).status().code(), Code::kInvalid);
    EXPECT_EQ(net.Teardown().code(), Code::kInvalid);
  };
  check({"toolongname", "10.18.0.0/26", "/tmp/x"}, "toolongname");
  check({"", "10.18.0.0/26", "/tmp/x"}, "network name");
  check({"Node1", "10.18.0.0/26", "/tmp/x"}, "Node1");
  check({"n-1", "10.18.0.0/26", "/tmp/x"}, "n-1");
  check({"n1", "10.18.0.0/33", "/tmp/x"}, "10.18.0.0/33");
  check({"n1", "10.18.0.5/26", "/tmp/x"}, "host bits");
  check({"n1", "10.18.0.0/26", ""}, "state directory");
  EXPECT_TRUE(LocalNetwork::Validate({"n1", "10.18.0.0/26", "/tmp/x"}).ok());
}

TEST(Options, NamesFollowTheNodeName) {
  LocalNetwork net({"ab12", "10.18.0.0/26", "/tmp/x"});
  EXPECT_EQ(net.bridge(), "oakab12");
  EXPECT_EQ(net.table(), "oak_ab12");
  EXPECT_EQ(net.NetnsName("0123abcd"), "oak-ab12-0123abcd");
  Result<Attachment> a = net.Attach("x", {});
  EXPECT_EQ(a.status().code(), Code::kUnavailable) << "attach before Setup";
}

}  // namespace
}  // namespace oak::node::net
