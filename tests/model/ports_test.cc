#include "model/ports.h"

#include <string>

#include <gtest/gtest.h>

namespace oak::model {
namespace {

using Proto = PortMapping::Proto;

std::vector<PortMapping> Ok(std::string_view spec) {
  auto r = ParsePortMappings(spec);
  EXPECT_TRUE(r.ok()) << spec << " -> " << r.status().message();
  return r.ok() ? *r : std::vector<PortMapping>{};
}

std::string Err(std::string_view spec) {
  auto r = ParsePortMappings(spec);
  EXPECT_FALSE(r.ok()) << "accepted: " << spec;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  return r.status().message();
}

TEST(Ports, EmptyMeansNone) {
  EXPECT_TRUE(Ok("").empty());
  EXPECT_TRUE(Ok("   ").empty());
  EXPECT_TRUE(Ok(";").empty());
  EXPECT_TRUE(Ok(" ; ;").empty());
}

TEST(Ports, BarePortIsContainerOnly) {
  auto m = Ok("80");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0], (PortMapping{0, 80, Proto::kTcp}));
  EXPECT_EQ(Ok("9080/udp")[0], (PortMapping{0, 9080, Proto::kUdp}));
}

TEST(Ports, HostAndContainer) {
  EXPECT_EQ(Ok("80:80")[0], (PortMapping{80, 80, Proto::kTcp}));
  EXPECT_EQ(Ok("6080:60/tcp")[0], (PortMapping{6080, 60, Proto::kTcp}));
  EXPECT_EQ(Ok("5353:53/udp")[0], (PortMapping{5353, 53, Proto::kUdp}));
  EXPECT_EQ(Ok(" 8080 : 80 / udp ")[0], (PortMapping{8080, 80, Proto::kUdp}));
}

TEST(Ports, SeveralEntries) {
  auto m = Ok("80:80;443:443/tcp;53:53/udp;9000");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0], (PortMapping{80, 80, Proto::kTcp}));
  EXPECT_EQ(m[1], (PortMapping{443, 443, Proto::kTcp}));
  EXPECT_EQ(m[2], (PortMapping{53, 53, Proto::kUdp}));
  EXPECT_EQ(m[3], (PortMapping{0, 9000, Proto::kTcp}));
  EXPECT_EQ(Ok("80:80;").size(), 1u);
}

TEST(Ports, Bounds) {
  EXPECT_EQ(Ok("1:65535")[0], (PortMapping{1, 65535, Proto::kTcp}));
  EXPECT_EQ(Ok("00080")[0].container_port, 80);
  EXPECT_NE(Err("0").find("container port"), std::string::npos);
  EXPECT_NE(Err("0:80").find("host port"), std::string::npos);
  EXPECT_NE(Err("80:0").find("container port"), std::string::npos);
  EXPECT_NE(Err("65536").find("1..65535"), std::string::npos);
  Err("99999999999999999999");
  Err("80:123456");
}

TEST(Ports, RejectsMalformedNumbers) {
  for (const char* bad : {"abc", "-80", "+80", "8 0", "0x50", "80.0", "80:", ":80", ":", "80::80", "1e3",
                          "80:80:80", "127.0.0.1:80:80", "\t\x01"}) {
    std::string msg = Err(bad);
    EXPECT_NE(msg.find("port entry"), std::string::npos) << bad << " -> " << msg;
  }
}

TEST(Ports, RejectsUnknownProtocols) {
  EXPECT_NE(Err("80/sctp").find("tcp or udp"), std::string::npos);
  Err("80/TCP");
  Err("80/");
  Err("80:80/tcp/udp");
  Err("/tcp");
}

TEST(Ports, DuplicateHostPortPerProtocol) {
  std::string msg = Err("8080:80;8080:81");
  EXPECT_NE(msg.find("8080/tcp is already mapped"), std::string::npos) << msg;
  EXPECT_NE(Err("53:53/udp;53:54/udp").find("53/udp"), std::string::npos);
  EXPECT_EQ(Ok("53:53/tcp;53:53/udp").size(), 2u);
  EXPECT_EQ(Ok("80;80").size(), 2u);  // unpublished ports take no host port
  EXPECT_EQ(Ok("8080:80;8081:80").size(), 2u);
}

TEST(Ports, ErrorNamesTheEntry) {
  std::string msg = Err("80:80;81:x;82:82");
  EXPECT_NE(msg.find("\"81:x\""), std::string::npos) << msg;
}

TEST(Ports, HostileInputsStayBounded) {
  std::string many;
  for (int i = 0; i < 1024; ++i) many += "80;";
  EXPECT_EQ(Ok(many).size(), 1024u);
  many += "80";
  EXPECT_NE(Err(many).find("too many"), std::string::npos);

  std::string huge(100000, '9');
  std::string msg = Err(huge);
  EXPECT_LT(msg.size(), 200u);

  std::string with_nul("80\0", 3);
  msg = Err(with_nul);
  EXPECT_EQ(msg.find('\0'), std::string::npos);
}

}  // namespace
}  // namespace oak::model
