// The project's own SLA cases: top level, applications and every microservice field.
#include "model/sla.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

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

json Sla(json ms = Ms()) {
  return {{"sla_version", "v2.0"},
          {"customerID", "Admin"},
          {"applications",
           json::array({{{"application_name", "app"}, {"application_namespace", "test"}, {"microservices", json::array({ms})}}})}};
}

json MsWith(const char* key, json value) {
  json ms = Ms();
  ms[key] = std::move(value);
  return Sla(ms);
}

::testing::AssertionResult Accepted(const json& sla) {
  Status st = ValidateSla(sla);
  if (st.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "rejected: " << st.message();
}

// The message starts with `prefix` (path first, then the reason).
::testing::AssertionResult Rejected(const json& sla, const std::string& prefix) {
  Status st = ValidateSla(sla);
  if (st.ok()) return ::testing::AssertionFailure() << "accepted, expected " << prefix;
  if (st.code() != Code::kInvalid) return ::testing::AssertionFailure() << "code is not kInvalid: " << st.ToString();
  if (st.message().rfind(prefix, 0) != 0) {
    return ::testing::AssertionFailure() << "message \"" << st.message() << "\" does not start with \"" << prefix << "\"";
  }
  return ::testing::AssertionSuccess();
}

TEST(SlaTop, MinimalIsAccepted) { EXPECT_TRUE(Accepted(Sla())); }

TEST(SlaTop, RootMustBeAnObject) {
  for (const json& j : {json::array(), json("sla"), json(nullptr), json(3), json(true)}) {
    EXPECT_TRUE(Rejected(j, "(root): must be an object"));
  }
}

TEST(SlaTop, Version) {
  json sla = Sla();
  sla.erase("sla_version");
  EXPECT_TRUE(Rejected(sla, "sla_version: required"));
  sla["sla_version"] = "v1.0";
  EXPECT_TRUE(Rejected(sla, "sla_version: v1.0 is deprecated"));
  sla["sla_version"] = "v3.0";
  EXPECT_TRUE(Rejected(sla, "sla_version: unsupported version \"v3.0\""));
  sla["sla_version"] = "V2.0";
  EXPECT_TRUE(Rejected(sla, "sla_version: unsupported"));
  sla["sla_version"] = "v2.0 ";
  EXPECT_TRUE(Rejected(sla, "sla_version: unsupported"));
  sla["sla_version"] = 2.0;
  EXPECT_TRUE(Rejected(sla, "sla_version: must be a string (got number)"));
}

TEST(SlaTop, CustomerId) {
  json sla = Sla();
  sla.erase("customerID");
  EXPECT_TRUE(Accepted(sla));  // optional: Oakestra's dashboard drops it when empty
  sla["customerID"] = nullptr;
  EXPECT_TRUE(Accepted(sla));
  sla["customerID"] = 10000000001;
  EXPECT_TRUE(Rejected(sla, "customerID: must be a string"));
  sla["customerID"] = "661fde463aa845fa0522c23d";
  EXPECT_TRUE(Accepted(sla));
}

TEST(SlaTop, Applications) {
  json sla = Sla();
  sla.erase("applications");
  EXPECT_TRUE(Rejected(sla, "applications: required"));
  sla["applications"] = json::object();
  EXPECT_TRUE(Rejected(sla, "applications: must be an array (got object)"));
  sla["applications"] = json::array();
  EXPECT_TRUE(Rejected(sla, "applications: must contain at least one application"));
  for (const json& bad : {json(5), json(nullptr), json::array(), json("app")}) {
    sla["applications"] = json::array({Sla()["applications"][0], bad});
    EXPECT_TRUE(Rejected(sla, "applications[1]: must be an object"));
  }
}

TEST(SlaTop, Args) {
  json sla = Sla();
  sla["args"] = json::array({"a", "b"});
  EXPECT_TRUE(Accepted(sla));
  sla["args"] = "a";
  EXPECT_TRUE(Rejected(sla, "args: must be an array"));
  sla["args"] = json::array({"a", 1});
  EXPECT_TRUE(Rejected(sla, "args[1]: must be a string"));
}

TEST(SlaTop, UnknownFieldsAreIgnoredAtEveryLevel) {
  json sla = Sla();
  sla["api_version"] = "v0.3.0";
  sla["applications"][0]["extra"] = json::object({{"x", 1}});
  sla["applications"][0]["microservices"][0]["bandwith_out"] = "typo";
  sla["applications"][0]["microservices"][0]["future_field"] = json::array({nullptr});
  EXPECT_TRUE(Accepted(sla));
}

TEST(SlaApp, ApplicationIdIsAnyString) {
  json sla = Sla();
  for (const char* id : {"", "1000010001", "627527c1a4a5edb43d085f37", "any thing!"}) {
    sla["applications"][0]["applicationID"] = id;
    EXPECT_TRUE(Accepted(sla)) << id;
  }
  sla["applications"][0]["applicationID"] = 1000010001;
  EXPECT_TRUE(Rejected(sla, "applications[0].applicationID: must be a string"));
}

TEST(SlaApp, NamesAndNamespacesFollowThePattern) {
  for (const char* key : {"application_name", "application_namespace"}) {
    SCOPED_TRACE(key);
    const std::string path = std::string("applications[0].") + key;
    json sla = Sla();
    json& app = sla["applications"][0];
    for (const std::string& ok : std::vector<std::string>{"a", "Z9", "ExampleApplication33", std::string(30, 'x')}) {
      app[key] = ok;
      EXPECT_TRUE(Accepted(sla)) << ok;
    }
    for (const std::string& bad : {std::string(31, 'x'), std::string(""), std::string("Example Application"),
                                  std::string("a.b"), std::string("a-b"), std::string("a_b"), std::string("café"),
                                  std::string("名前"), std::string("a\nb"), std::string("ab\0", 3)}) {
      app[key] = bad;
      EXPECT_TRUE(Rejected(sla, path + ": must match ^[a-zA-Z0-9]{1,30}$")) << bad;
    }
    app[key] = 7;
    EXPECT_TRUE(Rejected(sla, path + ": must be a string"));
    app.erase(key);
    EXPECT_TRUE(Rejected(sla, path + ": required"));
  }
}

TEST(SlaApp, DescriptionAndMicroservices) {
  json sla = Sla();
  json& app = sla["applications"][0];
  app["application_desc"] = "Simple demo";
  EXPECT_TRUE(Accepted(sla));
  app["application_desc"] = json::array();
  EXPECT_TRUE(Rejected(sla, "applications[0].application_desc: must be a string"));
  app.erase("application_desc");
  app["microservices"] = json::array();
  EXPECT_TRUE(Accepted(sla));
  app["microservices"] = json::object();
  EXPECT_TRUE(Rejected(sla, "applications[0].microservices: must be an array"));
  app.erase("microservices");
  EXPECT_TRUE(Accepted(sla));  // absent means none: the dashboard drops empty arrays
  app["microservices"] = json::array({Ms(), "web"});
  EXPECT_TRUE(Rejected(sla, "applications[0].microservices[1]: must be an object (got string)"));
}

TEST(SlaMs, MicroserviceIdMustBeEmptyOrAbsent) {
  EXPECT_TRUE(Accepted(MsWith("microserviceID", "")));
  EXPECT_TRUE(Rejected(MsWith("microserviceID", "4"), kMs + "microserviceID: must be empty or absent"));
  EXPECT_TRUE(Rejected(MsWith("microserviceID", 4), kMs + "microserviceID: must be a string"));
  EXPECT_TRUE(Accepted(MsWith("microserviceID", nullptr)));  // null counts as absent
}

TEST(SlaMs, NamesAndNamespacesFollowThePattern) {
  for (const char* key : {"microservice_name", "microservice_namespace"}) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(Accepted(MsWith(key, std::string(30, 'a'))));
    EXPECT_TRUE(Rejected(MsWith(key, std::string(31, 'a')), kMs + key + ": must match"));
    EXPECT_TRUE(Rejected(MsWith(key, "test.special.char"), kMs + key + ": must match"));
    EXPECT_TRUE(Rejected(MsWith(key, "Micro A (4)"), kMs + key + ": must match"));
    EXPECT_TRUE(Rejected(MsWith(key, "ünïcode"), kMs + key + ": must match"));
    EXPECT_TRUE(Rejected(MsWith(key, "\xff\xfe"), kMs + key + ": must match"));
    EXPECT_TRUE(Rejected(MsWith(key, 4), kMs + key + ": must be a string (got number)"));
    json ms = Ms();
    ms.erase(key);
    EXPECT_TRUE(Rejected(Sla(ms), kMs + key + ": required"));
  }
}

TEST(SlaMs, VirtualizationAndCode) {
  for (const char* v : {"container", "unikernel", "wasm"}) EXPECT_TRUE(Accepted(MsWith("virtualization", v)));
  EXPECT_TRUE(Rejected(MsWith("virtualization", ""), kMs + "virtualization: must not be empty"));
  EXPECT_TRUE(Rejected(MsWith("virtualization", true), kMs + "virtualization: must be a string"));
  json ms = Ms();
  ms.erase("virtualization");
  EXPECT_TRUE(Rejected(Sla(ms), kMs + "virtualization: required"));

  EXPECT_TRUE(Accepted(MsWith("code", "https://a/k_amd64.tar.gz,https://a/k_arm64.tar.gz")));
  EXPECT_TRUE(Accepted(MsWith("code", "")));  // Oakestra's schema requires a string, not a non-empty one
  EXPECT_TRUE(Rejected(MsWith("code", json::array({"img"})), kMs + "code: must be a string (got array)"));
  ms = Ms();
  ms.erase("code");
  EXPECT_TRUE(Rejected(Sla(ms), kMs + "code: required"));
}

TEST(SlaMs, ResourcesAreNonNegativeIntegers) {
  for (const char* key : {"memory", "vcpus", "vgpus", "vtpus", "storage", "bandwidth_in", "bandwidth_out"}) {
    SCOPED_TRACE(key);
    const std::string path = kMs + key;
    EXPECT_TRUE(Accepted(MsWith(key, 0)));
    EXPECT_TRUE(Accepted(MsWith(key, 4096)));
    EXPECT_TRUE(Accepted(MsWith(key, INT64_MAX)));
    EXPECT_TRUE(Rejected(MsWith(key, static_cast<uint64_t>(INT64_MAX) + 1), path + ": must be at most"));
    EXPECT_TRUE(Rejected(MsWith(key, UINT64_MAX), path + ": must be at most"));
    EXPECT_TRUE(Rejected(MsWith(key, -1), path + ": must not be negative"));
    EXPECT_TRUE(Rejected(MsWith(key, INT64_MIN), path + ": must not be negative"));
    EXPECT_TRUE(Rejected(MsWith(key, 1.5), path + ": must be an integer (got number)"));
    EXPECT_TRUE(Rejected(MsWith(key, json::parse("100.0")), path + ": must be an integer"));
    EXPECT_TRUE(Rejected(MsWith(key, json::parse("1e3")), path + ": must be an integer"));
    EXPECT_TRUE(Rejected(MsWith(key, "100"), path + ": must be an integer (got string)"));
    EXPECT_TRUE(Rejected(MsWith(key, true), path + ": must be an integer (got boolean)"));
    EXPECT_TRUE(Accepted(MsWith(key, nullptr))) << "null counts as absent";
  }
}

TEST(SlaMs, StringArrays) {
  for (const char* key : {"cmd", "args", "added_files", "arch"}) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(Accepted(MsWith(key, json::array())));
    EXPECT_TRUE(Accepted(MsWith(key, json::array({"sh", "-c", "tail -f /dev/null"}))));
    EXPECT_TRUE(Rejected(MsWith(key, "ls -al"), kMs + key + ": must be an array (got string)"));
    EXPECT_TRUE(Rejected(MsWith(key, json::array({"ls", 1})), kMs + key + "[1]: must be a string (got number)"));
    EXPECT_TRUE(Rejected(MsWith(key, json::array({json::object()})), kMs + key + "[0]: must be a string"));
  }
  // Arguments and commands reach exec(2), where NUL cannot be represented.
  EXPECT_TRUE(Rejected(MsWith("cmd", json::array({std::string("a\0b", 3)})), kMs + "cmd[0]: must not contain a NUL"));
  EXPECT_TRUE(Rejected(MsWith("args", json::array({std::string("\0", 1)})), kMs + "args[0]: must not contain a NUL"));
}

TEST(SlaMs, Environment) {
  EXPECT_TRUE(Accepted(MsWith("environment", json::array({"A=1", "EMPTY=", "URL=a=b", "lower_case=ü x"}))));
  EXPECT_TRUE(Rejected(MsWith("environment", "A=1"), kMs + "environment: must be an array"));
  EXPECT_TRUE(Rejected(MsWith("environment", json::array({"A=1", "noequals"})), kMs + "environment[1]: must be KEY=VALUE"));
  EXPECT_TRUE(Rejected(MsWith("environment", json::array({"=value"})), kMs + "environment[0]: must be KEY=VALUE"));
  EXPECT_TRUE(Rejected(MsWith("environment", json::array({""})), kMs + "environment[0]: must be KEY=VALUE"));
  EXPECT_TRUE(Rejected(MsWith("environment", json::array({"A B=1"})), kMs + "environment[0]: variable name"));
  EXPECT_TRUE(Rejected(MsWith("environment", json::array({"A\t=1"})), kMs + "environment[0]: variable name"));
  EXPECT_TRUE(Rejected(MsWith("environment", json::array({std::string("A=\0", 3)})), kMs + "environment[0]: must not contain a NUL"));
  EXPECT_TRUE(Rejected(MsWith("environment", json::array({json::object({{"A", "1"}})})), kMs + "environment[0]: must be a string"));
}

TEST(SlaMs, Port) {
  for (const char* ok : {"", "80", "80:80", "6080:60/tcp", "9080;53:53/udp"}) EXPECT_TRUE(Accepted(MsWith("port", ok))) << ok;
  EXPECT_TRUE(Rejected(MsWith("port", 80), kMs + "port: must be a string (got number)"));
  EXPECT_TRUE(Rejected(MsWith("port", "http"), kMs + "port: port entry \"http\""));
  EXPECT_TRUE(Rejected(MsWith("port", "70000"), kMs + "port: port entry"));
  EXPECT_TRUE(Rejected(MsWith("port", "80:80/sctp"), kMs + "port: port entry"));
  EXPECT_TRUE(Rejected(MsWith("port", "80:80;80:81"), kMs + "port: port entry \"80:81\": host port 80/tcp is already mapped"));
}

TEST(SlaMs, Booleans) {
  for (const char* key : {"one_shot", "privileged"}) {
    EXPECT_TRUE(Accepted(MsWith(key, true)));
    EXPECT_TRUE(Accepted(MsWith(key, false)));
    EXPECT_TRUE(Rejected(MsWith(key, "true"), kMs + key + ": must be a boolean (got string)"));
    EXPECT_TRUE(Rejected(MsWith(key, 1), kMs + key + ": must be a boolean (got number)"));
  }
}

TEST(SlaMs, PlainStrings) {
  for (const char* key : {"state", "sla_violation_strategy", "target_node"}) {
    EXPECT_TRUE(Accepted(MsWith(key, "")));
    EXPECT_TRUE(Accepted(MsWith(key, "anything goes")));
    EXPECT_TRUE(Rejected(MsWith(key, 1), kMs + key + ": must be a string"));
    EXPECT_TRUE(Rejected(MsWith(key, json::object()), kMs + key + ": must be a string (got object)"));
  }
}

TEST(SlaMs, Volumes) {
  const json vol = {{"volume_id", "v1"}, {"csi_driver", "csi.example"}, {"mount_path", "/data"},
                    {"config", {{"size", "1Gi"}, {"nested", {{"deep", json::array({1, 2})}}}}}};
  EXPECT_TRUE(Accepted(MsWith("volumes", json::array({vol}))));
  json no_config = vol;
  no_config.erase("config");
  EXPECT_TRUE(Accepted(MsWith("volumes", json::array({no_config}))));
  EXPECT_TRUE(Rejected(MsWith("volumes", vol), kMs + "volumes: must be an array (got object)"));
  EXPECT_TRUE(Rejected(MsWith("volumes", json::array({vol, "v2"})), kMs + "volumes[1]: must be an object"));
  for (const char* key : {"volume_id", "csi_driver", "mount_path"}) {
    json v = vol;
    v.erase(key);
    EXPECT_TRUE(Rejected(MsWith("volumes", json::array({v})), kMs + "volumes[0]." + key + ": required"));
    v[key] = 3;
    EXPECT_TRUE(Rejected(MsWith("volumes", json::array({v})), kMs + "volumes[0]." + key + ": must be a string"));
  }
  json v = vol;
  v["mount_path"] = "data";
  EXPECT_TRUE(Rejected(MsWith("volumes", json::array({v})), kMs + "volumes[0].mount_path: must be an absolute path"));
  v["mount_path"] = "";
  EXPECT_TRUE(Rejected(MsWith("volumes", json::array({v})), kMs + "volumes[0].mount_path: must be an absolute path"));
  v = vol;
  v["config"] = "size=1Gi";
  EXPECT_TRUE(Rejected(MsWith("volumes", json::array({v})), kMs + "volumes[0].config: must be an object (got string)"));
}

TEST(SlaMs, Addresses) {
  const json full = {{"rr_ip", "10.30.30.30"},
                     {"rr_ip_v6", "fdff:2000::30"},
                     {"closest_ip", "10.30.30.31"},
                     {"closest_ip_v6", "fdff:2000::31"},
                     {"instances", json::array({{{"from", "a"}, {"to", "b"}, {"start", "c"}}, json::object()})}};
  EXPECT_TRUE(Accepted(MsWith("addresses", full)));
  // Structure only: the address ranges are an admission rule.
  EXPECT_TRUE(Accepted(MsWith("addresses", {{"rr_ip", "192.168.178.4"}})));
  EXPECT_TRUE(Rejected(MsWith("addresses", "10.30.0.1"), kMs + "addresses: must be an object"));
  for (const char* key : {"rr_ip", "rr_ip_v6", "closest_ip", "closest_ip_v6"}) {
    EXPECT_TRUE(Rejected(MsWith("addresses", {{key, 10}}), kMs + "addresses." + key + ": must be a string"));
  }
  EXPECT_TRUE(Rejected(MsWith("addresses", {{"instances", json::object()}}), kMs + "addresses.instances: must be an array"));
  EXPECT_TRUE(Rejected(MsWith("addresses", {{"instances", json::array({1})}}), kMs + "addresses.instances[0]: must be an object"));
  for (const char* key : {"from", "to", "start"}) {
    json inst = json::array({json::object(), {{key, 1}}});
    EXPECT_TRUE(Rejected(MsWith("addresses", {{"instances", inst}}), kMs + "addresses.instances[1]." + key + ": must be a string"));
  }
}

TEST(SlaOrder, FirstFaultInFieldOrderIsReported) {
  json ms = Ms();
  ms["microservice_name"] = "bad name";
  ms["memory"] = -1;
  EXPECT_TRUE(Rejected(Sla(ms), kMs + "microservice_name"));
  ms["microservice_name"] = "ok";
  EXPECT_TRUE(Rejected(Sla(ms), kMs + "memory"));

  json sla = Sla();
  json& services = sla["applications"][0]["microservices"];
  services.push_back(Ms());
  services.push_back(Ms());
  services[2]["vcpus"] = "2";
  services[1]["port"] = "x";
  EXPECT_TRUE(Rejected(sla, "applications[0].microservices[1].port"));

  sla = Sla();
  sla["applications"].push_back(sla["applications"][0]);
  sla["applications"][1]["application_namespace"] = "";
  sla["args"] = 1;
  EXPECT_TRUE(Rejected(sla, "applications[1].application_namespace: must match"));
}

TEST(SlaNames, IsValidName) {
  EXPECT_TRUE(IsValidName("a"));
  EXPECT_TRUE(IsValidName("ABCxyz0189"));
  EXPECT_TRUE(IsValidName(std::string(30, '7')));
  EXPECT_FALSE(IsValidName(std::string(31, '7')));
  EXPECT_FALSE(IsValidName(""));
  for (const char* bad : {"a b", "a.b", "a-b", "a_b", "a/b", "é", "ä1", "a\n", " a", "\xff"}) EXPECT_FALSE(IsValidName(bad)) << bad;
  EXPECT_FALSE(IsValidName(std::string_view("ab\0", 3)));
  EXPECT_EQ(kNamePattern, "^[a-zA-Z0-9]{1,30}$");
}

}  // namespace
}  // namespace oak::model
