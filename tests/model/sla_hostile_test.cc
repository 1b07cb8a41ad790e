// Inputs built to hurt: huge arrays, deep nesting, wrong entry kinds, odd bytes. The validator must
// answer with a bounded message, never throw and never recurse into what it does not understand.
#include <string>

#include <gtest/gtest.h>

#include "model/sla.h"

namespace oak::model {
namespace {

using nlohmann::json;

json Ms() {
  return {{"microservice_name", "web"},
          {"microservice_namespace", "test"},
          {"virtualization", "container"},
          {"code", "docker.io/library/nginx:latest"}};
}

json Sla(const json& services) {
  return {{"sla_version", "v2.0"},
          {"customerID", "Admin"},
          {"applications",
           json::array({{{"application_name", "app"}, {"application_namespace", "test"}, {"microservices", services}}})}};
}

// Nested arrays built iteratively; nlohmann destroys them without recursion.
json Deep(std::size_t depth) {
  json j = 1;
  for (std::size_t i = 0; i < depth; ++i) {
    json outer = json::array();
    outer.push_back(std::move(j));
    j = std::move(outer);
  }
  return j;
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(SlaHostile, HugeArraysAreWalkedAndTheBadIndexNamed) {
  json services = json::array();
  for (int i = 0; i < 20000; ++i) services.push_back(Ms());
  EXPECT_TRUE(ValidateSla(Sla(services)).ok());
  services[19999]["memory"] = -1;
  Status st = ValidateSla(Sla(services));
  EXPECT_EQ(st.message(), "applications[0].microservices[19999].memory: must not be negative");

  json ms = Ms();
  ms["cmd"] = json::array();
  for (int i = 0; i < 100000; ++i) ms["cmd"].push_back("x");
  EXPECT_TRUE(ValidateSla(Sla(json::array({ms}))).ok());
  ms["cmd"].push_back(nullptr);
  EXPECT_EQ(ValidateSla(Sla(json::array({ms}))).message(),
            "applications[0].microservices[0].cmd[100000]: must be a string (got null)");
}

// Deep values are moved into place: copying a json value recurses, validating must not.
TEST(SlaHostile, DeepNestingInUnknownFieldsIsIgnored) {
  json sla = Sla(json::array({Ms()}));
  sla["applications"][0]["microservices"][0]["unknown"] = Deep(100000);
  sla["also_unknown"] = Deep(100000);
  EXPECT_TRUE(ValidateSla(sla).ok());
}

TEST(SlaHostile, DeepNestingInsideVolumeConfigIsOpaque) {
  json sla = Sla(json::array({Ms()}));
  json& ms = sla["applications"][0]["microservices"][0];
  ms["volumes"] = json::array({{{"volume_id", "v"}, {"csi_driver", "d"}, {"mount_path", "/m"}, {"config", json::object()}}});
  ms["volumes"][0]["config"]["x"] = Deep(100000);
  EXPECT_TRUE(ValidateSla(sla).ok());
}

TEST(SlaHostile, DeepNestingWhereAStringBelongs) {
  json sla = Sla(json::array({Ms()}));
  json& ms = sla["applications"][0]["microservices"][0];
  ms["cmd"] = Deep(100000);
  EXPECT_EQ(ValidateSla(sla).message(), "applications[0].microservices[0].cmd[0]: must be a string (got array)");
  ms.erase("cmd");
  ms["constraints"] = Deep(100000);
  EXPECT_EQ(ValidateSla(sla).message(), "applications[0].microservices[0].constraints[0]: must be an object (got array)");
  ms.erase("constraints");
  ms["connectivity"] = json::array({{{"target_microservice_id", "x"}, {"con_constraints", json::array()}}});
  ms["connectivity"][0]["con_constraints"] = Deep(100000);
  EXPECT_EQ(ValidateSla(sla).message(),
            "applications[0].microservices[0].connectivity[0].con_constraints[0]: must be an object (got array)");
  sla["args"] = Deep(100000);
  ms.erase("connectivity");
  EXPECT_EQ(ValidateSla(sla).message(), "args[0]: must be a string (got array)");
}

TEST(SlaHostile, NonObjectEntriesEverywhere) {
  const std::string p = "applications[0].microservices[0].";
  for (const char* key : {"constraints", "connectivity", "volumes"}) {
    for (const json& bad : {json(nullptr), json(1), json("x"), json(true), json::array()}) {
      json ms = Ms();
      ms[key] = json::array({bad});
      Status st = ValidateSla(Sla(json::array({ms})));
      EXPECT_TRUE(StartsWith(st.message(), p + key + "[0]: must be an object")) << st.message();
    }
  }
  EXPECT_TRUE(StartsWith(ValidateSla(Sla(json::array({nullptr}))).message(), "applications[0].microservices[0]: must be an object"));
  EXPECT_TRUE(StartsWith(ValidateSla(Sla(json::array({json::array({Ms()})}))).message(), "applications[0].microservices[0]: must be an object"));
}

TEST(SlaHostile, EchoedTextIsBoundedAndEscaped) {
  json sla = Sla(json::array());
  sla["sla_version"] = std::string(1 << 20, 'v');
  Status st = ValidateSla(sla);
  EXPECT_TRUE(StartsWith(st.message(), "sla_version: unsupported version \"vvv"));
  EXPECT_LT(st.message().size(), 200u);

  // Invalid UTF-8 and control bytes must not make the message builder throw or leak raw bytes.
  sla["sla_version"] = std::string("\xff\xfe\n\x01\0v2.0", 9);
  st = ValidateSla(sla);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(StartsWith(st.message(), "sla_version: unsupported version"));
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
  EXPECT_EQ(st.message().find('\0'), std::string::npos);

  json ms = Ms();
  ms["constraints"] = json::array({{{"type", std::string(5000, 'z') + "\x80"}}});
  st = ValidateSla(Sla(json::array({ms})));
  EXPECT_TRUE(StartsWith(st.message(), "applications[0].microservices[0].constraints[0].type: unknown constraint type"));
  EXPECT_LT(st.message().size(), 300u);
}

TEST(SlaHostile, UnicodeAndLookalikesInNames) {
  for (const char* name : {"ｗｅｂ", "web\u200b", "wеb" /* Cyrillic e */, "web\u0301", "😀", "Ωmega"}) {
    json ms = Ms();
    ms["microservice_name"] = name;
    EXPECT_TRUE(StartsWith(ValidateSla(Sla(json::array({ms}))).message(),
                           "applications[0].microservices[0].microservice_name: must match"))
        << name;
  }
  // Unicode is fine where no pattern applies.
  json ms = Ms();
  ms["environment"] = json::array({"GREETING=grüß dich 👋"});
  json sla = Sla(json::array({ms}));
  sla["applications"][0]["application_desc"] = "Beschreibung — ünïcödé";
  EXPECT_TRUE(ValidateSla(sla).ok());
}

TEST(SlaHostile, DuplicateKeysCollapseOnParse) {
  // nlohmann keeps the last duplicate; the validator sees only that one.
  json sla = json::parse(R"({"sla_version":"v1.0","sla_version":"v2.0","customerID":"a",
      "applications":[{"application_name":"a","application_namespace":"b","microservices":[]}]})");
  EXPECT_TRUE(ValidateSla(sla).ok());
}

TEST(SlaHostile, ManyApplicationsAndLongPaths) {
  json sla = Sla(json::array());
  for (int i = 0; i < 5000; ++i) sla["applications"].push_back(sla["applications"][0]);
  EXPECT_TRUE(ValidateSla(sla).ok());
  sla["applications"][4321]["microservices"] = json::array({Ms(), Ms()});
  sla["applications"][4321]["microservices"][1]["constraints"] =
      json::array({{{"type", "latency"}, {"area", "a"}, {"threshold", 1}}, {{"type", "geo"}, {"location", "0,0"}, {"threshold", 0}}});
  EXPECT_EQ(ValidateSla(sla).message(),
            "applications[4321].microservices[1].constraints[1].threshold: must be a distance in km greater than 0");
}

}  // namespace
}  // namespace oak::model
