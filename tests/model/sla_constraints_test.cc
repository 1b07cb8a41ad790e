// Placement constraints, service-to-service connectivity, and the admission rules.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/sla.h"

namespace oak::model {
namespace {

using nlohmann::json;

const std::string kMs = "applications[0].microservices[0].";

json Ms() {
  return {{"microservice_name", "web"},
          {"microservice_namespace", "test"},
          {"virtualization", "container"},
          {"code", "docker.io/library/nginx:latest"}};
}

json Sla(const json& ms) {
  return {{"sla_version", "v2.0"},
          {"customerID", "Admin"},
          {"applications",
           json::array({{{"application_name", "app"}, {"application_namespace", "test"}, {"microservices", json::array({ms})}}})}};
}

json WithConstraints(json constraints) {
  json ms = Ms();
  ms["constraints"] = std::move(constraints);
  return Sla(ms);
}

json WithConstraint(json c) { return WithConstraints(json::array({std::move(c)})); }

json WithConnectivity(json conn) {
  json ms = Ms();
  ms["connectivity"] = std::move(conn);
  return Sla(ms);
}

::testing::AssertionResult Accepted(const json& sla) {
  Status st = ValidateSla(sla);
  if (st.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "rejected: " << st.message();
}

::testing::AssertionResult StartsWith(const Status& st, const std::string& prefix) {
  if (st.ok()) return ::testing::AssertionFailure() << "accepted, expected " << prefix;
  if (st.code() != Code::kInvalid) return ::testing::AssertionFailure() << "not kInvalid: " << st.ToString();
  if (st.message().rfind(prefix, 0) != 0) {
    return ::testing::AssertionFailure() << "message \"" << st.message() << "\" does not start with \"" << prefix << "\"";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Rejected(const json& sla, const std::string& prefix) {
  return StartsWith(ValidateSla(sla), prefix);
}

const std::string kC0 = kMs + "constraints[0]";

TEST(SlaConstraints, ShapeOfTheArray) {
  EXPECT_TRUE(Accepted(WithConstraints(json::array())));
  EXPECT_TRUE(Rejected(WithConstraints(json::object()), kMs + "constraints: must be an array"));
  for (const json& bad : {json("geo"), json(1), json(nullptr), json::array()}) {
    EXPECT_TRUE(Rejected(WithConstraints(json::array({bad})), kC0 + ": must be an object"));
  }
  EXPECT_TRUE(Rejected(WithConstraint(json::object()), kC0 + ".type: required"));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", 1}}), kC0 + ".type: must be a string"));
}

TEST(SlaConstraints, UnknownTypeIsRejectedByName) {
  Status st = ValidateSla(WithConstraint({{"type", "teleport"}}));
  EXPECT_TRUE(StartsWith(st, kC0 + ".type: unknown constraint type \"teleport\""));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "Latency"}}), kC0 + ".type: unknown constraint type \"Latency\""));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", ""}}), kC0 + ".type: unknown constraint type \"\""));
}

TEST(SlaConstraints, Direct) {
  EXPECT_TRUE(Accepted(WithConstraint({{"type", "direct"}, {"cluster", "edge1"}})));
  EXPECT_TRUE(Accepted(WithConstraint({{"type", "direct"}, {"node", "pi-4"}})));
  EXPECT_TRUE(Accepted(WithConstraint({{"type", "direct"}, {"cluster", "edge1"}, {"node", "pi-4"}})));
  EXPECT_TRUE(Accepted(WithConstraint({{"type", "direct"}, {"cluster", ""}, {"node", "pi-4"}})));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "direct"}}), kC0 + ": a direct constraint needs"));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "direct"}, {"cluster", ""}, {"node", ""}}), kC0 + ": a direct constraint needs"));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "direct"}, {"cluster", 1}}), kC0 + ".cluster: must be a string"));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "direct"}, {"cluster", "c"}, {"node", json::array()}}), kC0 + ".node: must be a string"));
}

TEST(SlaConstraints, Clusters) {
  EXPECT_TRUE(Accepted(WithConstraint({{"type", "clusters"}, {"allowed", {"a", "b"}}})));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "clusters"}}), kC0 + ".allowed: required"));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "clusters"}, {"allowed", "a"}}), kC0 + ".allowed: must be an array"));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "clusters"}, {"allowed", {"a", 2}}}), kC0 + ".allowed[1]: must be a string"));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "clusters"}, {"allowed", json::array()}}), kC0 + ".allowed: must list at least one"));
}

TEST(SlaConstraints, Addons) {
  EXPECT_TRUE(Accepted(WithConstraint({{"type", "addons"}, {"needs", {"gpu-driver"}}})));
  EXPECT_TRUE(Accepted(WithConstraint({{"type", "addons"}, {"needs", json::array()}})));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "addons"}}), kC0 + ".needs: required"));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "addons"}, {"needs", json::array({json::object({{"a", 1}})})}}), kC0 + ".needs[0]: must be a string"));
}

json Geo(json location, json threshold) {
  return {{"type", "geo"}, {"location", std::move(location)}, {"threshold", std::move(threshold)}};
}

TEST(SlaConstraints, Geo) {
  for (const char* ok : {"48.137,11.575", " 48.137 , 11.575 ", "-90,-180", "90,180", "0,0", "-33.9,151.2", "1e1,2E1"}) {
    EXPECT_TRUE(Accepted(WithConstraint(Geo(ok, 10)))) << ok;
  }
  for (const char* bad : {"", "48.1", "48.1;11.5", "a,b", "1,2,3", "90.0001,0", "-91,0", "0,180.5", "0,-181",
                          "nan,0", "inf,0", "0x10,0", "48.1,", ",11.5", "48 .1,11", "1,2 x"}) {
    EXPECT_TRUE(Rejected(WithConstraint(Geo(bad, 10)), kC0 + ".location: must be \"lat,long\"")) << bad;
  }
  EXPECT_TRUE(Rejected(WithConstraint(Geo(48.1, 10)), kC0 + ".location: must be a string"));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "geo"}, {"threshold", 10}}), kC0 + ".location: required"));
  EXPECT_TRUE(Accepted(WithConstraint(Geo("1,2", 0.5))));
  EXPECT_TRUE(Rejected(WithConstraint(Geo("1,2", 0)), kC0 + ".threshold: must be a distance in km greater than 0"));
  EXPECT_TRUE(Rejected(WithConstraint(Geo("1,2", -5)), kC0 + ".threshold: must be a distance"));
  EXPECT_TRUE(Rejected(WithConstraint(Geo("1,2", "10")), kC0 + ".threshold: must be a number (got string)"));
  EXPECT_TRUE(Rejected(WithConstraint({{"type", "geo"}, {"location", "1,2"}}), kC0 + ".threshold: required"));
}

json Latency() {
  return {{"type", "latency"}, {"area", "munich-1"}, {"threshold", 100}, {"rigidness", 0.99}, {"convergence_time", 300}};
}

TEST(SlaConstraints, Latency) {
  EXPECT_TRUE(Accepted(WithConstraints(json::array({Latency(), Latency()}))));
  EXPECT_TRUE(Accepted(WithConstraint({{"type", "latency"}, {"area", "berlin-1"}, {"threshold", 20.5}})));
  for (const char* key : {"area", "threshold"}) {
    json c = Latency();
    c.erase(key);
    EXPECT_TRUE(Rejected(WithConstraint(c), kC0 + "." + key + ": required"));
  }
  auto with = [](const char* key, json v) {
    json c = Latency();
    c[key] = std::move(v);
    return WithConstraint(c);
  };
  EXPECT_TRUE(Rejected(with("area", 1), kC0 + ".area: must be a string"));
  EXPECT_TRUE(Rejected(with("threshold", -1), kC0 + ".threshold: must not be negative"));
  EXPECT_TRUE(Rejected(with("threshold", "100"), kC0 + ".threshold: must be a number"));
  EXPECT_TRUE(Accepted(with("rigidness", 0)));
  EXPECT_TRUE(Accepted(with("rigidness", 1)));
  EXPECT_TRUE(Rejected(with("rigidness", 1.01), kC0 + ".rigidness: must be between 0 and 1"));
  EXPECT_TRUE(Rejected(with("rigidness", -0.1), kC0 + ".rigidness: must be between 0 and 1"));
  EXPECT_TRUE(Rejected(with("rigidness", "0.5"), kC0 + ".rigidness: must be a number"));
  EXPECT_TRUE(Accepted(with("convergence_time", 0.5)));
  EXPECT_TRUE(Rejected(with("convergence_time", -300), kC0 + ".convergence_time: must not be negative"));
  // null counts as absent (the dashboard sends null for cleared fields); convergence_time is optional.
  EXPECT_TRUE(Accepted(with("convergence_time", nullptr)));
  EXPECT_TRUE(Rejected(with("threshold", nullptr), kC0 + ".threshold: required"));
  // NaN cannot come from parsed JSON but can from a document built in code.
  EXPECT_TRUE(Rejected(with("threshold", std::nan("")), kC0 + ".threshold: must be a finite number"));
}

TEST(SlaConstraints, SecondConstraintIsNamedByIndex) {
  EXPECT_TRUE(Rejected(WithConstraints(json::array({Latency(), {{"type", "geo"}}})), kMs + "constraints[1].location: required"));
}

json Link(json cons) { return {{"target_microservice_id", "2"}, {"con_constraints", std::move(cons)}}; }

json Con() { return {{"type", "latency"}, {"threshold", 50}, {"rigidness", 0.9}, {"convergence_time", 300}}; }

TEST(SlaConnectivity, Shapes) {
  const std::string l0 = kMs + "connectivity[0]";
  EXPECT_TRUE(Accepted(WithConnectivity(json::array())));
  EXPECT_TRUE(Accepted(WithConnectivity(json::array({Link(json::array()), Link(json::array({Con()}))}))));
  EXPECT_TRUE(Rejected(WithConnectivity(Link(json::array())), kMs + "connectivity: must be an array"));
  EXPECT_TRUE(Rejected(WithConnectivity(json::array({"2"})), l0 + ": must be an object (got string)"));
  json link = Link(json::array());
  link["target_microservice_id"] = 2;
  EXPECT_TRUE(Rejected(WithConnectivity(json::array({link})), l0 + ".target_microservice_id: must be a string"));
  link.erase("target_microservice_id");
  EXPECT_TRUE(Rejected(WithConnectivity(json::array({link})), l0 + ".target_microservice_id: required"));
  link = Link(json::array());
  link.erase("con_constraints");
  EXPECT_TRUE(Rejected(WithConnectivity(json::array({link})), l0 + ".con_constraints: required"));
  EXPECT_TRUE(Rejected(WithConnectivity(json::array({Link(Con())})), l0 + ".con_constraints: must be an array"));
  EXPECT_TRUE(Rejected(WithConnectivity(json::array({Link(json::array({1}))})), l0 + ".con_constraints[0]: must be an object"));
}

TEST(SlaConnectivity, EveryConstraintFieldIsRequired) {
  const std::string c0 = kMs + "connectivity[0].con_constraints[0]";
  for (const char* key : {"type", "threshold", "rigidness", "convergence_time"}) {
    json c = Con();
    c.erase(key);
    EXPECT_TRUE(Rejected(WithConnectivity(json::array({Link(json::array({c}))})), c0 + "." + key + ": required"));
  }
  auto with = [](const char* key, json v) {
    json c = Con();
    c[key] = std::move(v);
    return WithConnectivity(json::array({Link(json::array({c}))}));
  };
  EXPECT_TRUE(Rejected(with("type", ""), c0 + ".type: must not be empty"));
  EXPECT_TRUE(Rejected(with("type", 1), c0 + ".type: must be a string"));
  EXPECT_TRUE(Rejected(with("threshold", "50"), c0 + ".threshold: must be a number"));
  EXPECT_TRUE(Rejected(with("threshold", -50), c0 + ".threshold: must not be negative"));
  EXPECT_TRUE(Rejected(with("rigidness", 2), c0 + ".rigidness: must be between 0 and 1"));
  EXPECT_TRUE(Rejected(with("convergence_time", -1), c0 + ".convergence_time: must not be negative"));
  EXPECT_TRUE(Accepted(with("convergence_time", 0)));
}

json Addr(json addresses) {
  json ms = Ms();
  ms["addresses"] = std::move(addresses);
  return ms;
}

TEST(SlaAdmission, NoAddressesIsFine) {
  EXPECT_TRUE(AdmitMicroservice(Ms(), "ms").ok());
  EXPECT_TRUE(AdmitMicroservice(Addr(json::object()), "ms").ok());
  EXPECT_TRUE(AdmitMicroservice(Addr({{"rr_ip", ""}, {"closest_ip", ""}, {"rr_ip_v6", ""}}), "ms").ok());
}

TEST(SlaAdmission, ServiceIpsLieIn10_30_0_0_16) {
  for (const char* key : {"rr_ip", "closest_ip"}) {
    SCOPED_TRACE(key);
    for (const char* ok : {"10.30.0.0", "10.30.0.1", "10.30.30.30", "10.30.255.255"}) {
      Status st = AdmitMicroservice(Addr({{key, ok}}), "ms");
      EXPECT_TRUE(st.ok()) << ok << ": " << st.message();
    }
    for (const std::string& bad : std::vector<std::string>{"192.168.178.4", "10.31.0.1", "10.29.255.255", "11.30.0.1", "10.30.1", "10.30.0.256",
                                  "10.30.0.1 ", " 10.30.0.1", "10.30.0.1/16", "10.30.0.x", "fdff::1", "",
                                  std::string("10.30.0.1\0junk", 14)}) {
      if (bad.empty()) continue;
      EXPECT_TRUE(StartsWith(AdmitMicroservice(Addr({{key, bad}}), "ms"),
                             std::string("ms.addresses.") + key + ": must be an IPv4 address inside 10.30.0.0/16"))
          << bad;
    }
    EXPECT_TRUE(StartsWith(AdmitMicroservice(Addr({{key, 1}}), "ms"), std::string("ms.addresses.") + key + ": must be a string"));
  }
}

TEST(SlaAdmission, V6AddressesMustParse) {
  for (const char* key : {"rr_ip_v6", "closest_ip_v6"}) {
    for (const char* ok : {"fdff:2000::1", "::1", "2001:db8::ffff:10.30.0.1"}) {
      EXPECT_TRUE(AdmitMicroservice(Addr({{key, ok}}), "ms").ok()) << ok;
    }
    for (const char* bad : {"10.30.0.1", "zz::1", "1:2:3:4:5:6:7:8:9", "fdff:2000::1/64"}) {
      EXPECT_TRUE(StartsWith(AdmitMicroservice(Addr({{key, bad}}), "ms"), std::string("ms.addresses.") + key + ": must be an IPv6 address"))
          << bad;
    }
  }
}

TEST(SlaAdmission, PathPrefixing) {
  EXPECT_TRUE(StartsWith(AdmitMicroservice(Addr({{"rr_ip", "1.2.3.4"}}), ""), "addresses.rr_ip: "));
  EXPECT_TRUE(StartsWith(AdmitMicroservice(Addr({{"rr_ip", "1.2.3.4"}}), "applications[2].microservices[5]"),
                         "applications[2].microservices[5].addresses.rr_ip: "));
  EXPECT_TRUE(StartsWith(AdmitMicroservice(json::array(), "ms"), "ms: must be an object"));
  EXPECT_TRUE(StartsWith(AdmitMicroservice(Addr("10.30.0.1"), "ms"), "ms.addresses: must be an object"));
}

}  // namespace
}  // namespace oak::model
