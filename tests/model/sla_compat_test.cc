// Oakestra's own SLA cases (SPEC §2), read in place from the shared compat folder; never copied.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/sla.h"

namespace oak::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::optional<fs::path> CompatDir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("OAK_COMPAT_DIR"); env != nullptr && *env != '\0') {
    candidates.emplace_back(fs::path(env) / "oakestra-sla");
    candidates.emplace_back(env);
  }
  candidates.emplace_back(fs::path(OAK_SOURCE_DIR) / ".." / "shared" / "compat" / "oakestra-sla");
  for (const fs::path& p : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(p / "sla_correct_1.json", ec)) return p;
  }
  return std::nullopt;
}

#define REQUIRE_COMPAT_DIR(var)                                                                 \
  auto var##_opt = CompatDir();                                                                 \
  if (!var##_opt) GTEST_SKIP() << "compat folder ../shared/compat/oakestra-sla absent (set OAK_COMPAT_DIR)"; \
  const fs::path var = *var##_opt

json Load(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << p << " is not JSON";
  return j;
}

std::vector<fs::path> Matching(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && e.path().extension() == ".json") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// "<path>: <reason>", the path made of field names, indexes and dots.
const std::regex kPathFirst(R"(^[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])?)*: .+)");

TEST(SlaCompat, EveryCorrectFileIsAccepted) {
  REQUIRE_COMPAT_DIR(dir);
  auto files = Matching(dir, "sla_correct_");
  ASSERT_GE(files.size(), 4u);
  for (const fs::path& f : files) {
    Status st = ValidateSla(Load(f));
    EXPECT_TRUE(st.ok()) << f.filename() << ": " << st.message();
  }
}

TEST(SlaCompat, ExampleCurlIsAcceptedAndAdmitted) {
  REQUIRE_COMPAT_DIR(dir);
  json sla = Load(dir / "example_curl.json");
  Status st = ValidateSla(sla);
  ASSERT_TRUE(st.ok()) << st.message();
  const json& services = sla["applications"][0]["microservices"];
  ASSERT_EQ(services.size(), 2u);
  for (std::size_t i = 0; i < services.size(); ++i) {
    Status adm = AdmitMicroservice(services[i], "applications[0].microservices[" + std::to_string(i) + "]");
    EXPECT_TRUE(adm.ok()) << adm.message();
  }
}

TEST(SlaCompat, EveryFlawedFileIsRejectedNamingTheField) {
  REQUIRE_COMPAT_DIR(dir);
  // The first fault in field order for each of Oakestra's flawed cases.
  const std::map<std::string, std::string> expected = {
      {"sla_flawed_1.json", "sla_version: required"},
      {"sla_flawed_2.json", "applications[0].application_name: must match"},
      {"sla_flawed_3.json", "sla_version: required"},
      {"sla_flawed_4.json", "applications[0].application_name: must match"},
      {"sla_flawed_5.json", "applications[0].microservices[0].microservice_name: must match"},
  };
  auto files = Matching(dir, "sla_flawed_");
  ASSERT_GE(files.size(), 5u);
  for (const fs::path& f : files) {
    const std::string name = f.filename().string();
    Status st = ValidateSla(Load(f));
    ASSERT_FALSE(st.ok()) << name << " was accepted";
    EXPECT_EQ(st.code(), Code::kInvalid) << name;
    EXPECT_TRUE(std::regex_match(st.message(), kPathFirst)) << name << ": " << st.message();
    if (auto it = expected.find(name); it != expected.end()) {
      EXPECT_EQ(st.message().rfind(it->second, 0), 0u) << name << ": " << st.message();
    }
  }
}

// Flawed files break several rules; repairing one fault at a time must surface the next.
TEST(SlaCompat, FlawedTwoRevealsEachFaultInTurn) {
  REQUIRE_COMPAT_DIR(dir);
  json sla = Load(dir / "sla_flawed_2.json");
  json& app = sla["applications"][0];
  json& ms = app["microservices"][0];
  auto first = [&] { return ValidateSla(sla).message(); };
  const std::string p = "applications[0].microservices[0].";

  EXPECT_EQ(first().rfind("applications[0].application_name: must match", 0), 0u) << first();
  app["application_name"] = "ExampleApplication";
  EXPECT_EQ(first(), "applications[0].application_namespace: required");
  app["application_namespace"] = "test";
  EXPECT_EQ(first(), p + "microserviceID: must be empty or absent when deploying");
  ms.erase("microserviceID");
  EXPECT_EQ(first(), p + "microservice_name: must be a string (got number)");
  ms["microservice_name"] = "MicroA4";
  EXPECT_EQ(first(), p + "microservice_namespace: required");
  ms["microservice_namespace"] = "test";
  EXPECT_EQ(first(), p + "port: must be a string (got number)");
  ms["port"] = "80";
  Status st = ValidateSla(sla);
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST(SlaCompat, FlawedOneAndFourRevealEachFaultInTurn) {
  REQUIRE_COMPAT_DIR(dir);
  for (const char* file : {"sla_flawed_1.json", "sla_flawed_4.json"}) {
    SCOPED_TRACE(file);
    json sla = Load(dir / file);
    sla["sla_version"] = "v2.0";
    json& app = sla["applications"][0];
    json& ms = app["microservices"][0];
    auto first = [&] { return ValidateSla(sla).message(); };
    const std::string p = "applications[0].microservices[0].";
    EXPECT_EQ(first().rfind("applications[0].application_name: must match", 0), 0u) << first();
    app["application_name"] = "ExampleApplication";
    app["application_namespace"] = "test";
    ms["microserviceID"] = "";
    EXPECT_EQ(first().rfind(p + "microservice_name: must match", 0), 0u) << first();
    ms["microservice_name"] = "MicroA4";
    EXPECT_EQ(first(), p + "microservice_namespace: required");
    ms["microservice_namespace"] = "test";
    if (std::string(file) == "sla_flawed_1.json") {
      EXPECT_EQ(first(), p + "connectivity[0].target_microservice_id: must be a string (got number)");
      ms["connectivity"][0]["target_microservice_id"] = "1";
      ms["connectivity"][1]["target_microservice_id"] = "2";
    } else {
      EXPECT_EQ(first(), p + "connectivity[0].con_constraints[0].type: required");
      ms["connectivity"][0]["con_constraints"][0]["type"] = "latency";
    }
    Status st = ValidateSla(sla);
    EXPECT_TRUE(st.ok()) << st.message();
  }
}

TEST(SlaCompat, CorrectOneIsRefusedAtAdmissionForItsAddress) {
  REQUIRE_COMPAT_DIR(dir);
  json sla = Load(dir / "sla_correct_1.json");
  ASSERT_TRUE(ValidateSla(sla).ok());
  Status st = AdmitMicroservice(sla["applications"][0]["microservices"][0], "applications[0].microservices[0]");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().rfind("applications[0].microservices[0].addresses.rr_ip: ", 0), 0u) << st.message();
  EXPECT_NE(st.message().find("10.30.0.0/16"), std::string::npos);
}

TEST(SlaCompat, OtherCorrectFilesAreAdmitted) {
  REQUIRE_COMPAT_DIR(dir);
  for (const char* file : {"sla_correct_2.json", "sla_correct_3.json", "sla_correct_4.json"}) {
    json sla = Load(dir / file);
    for (const json& ms : sla["applications"][0]["microservices"]) {
      Status st = AdmitMicroservice(ms, "ms");
      EXPECT_TRUE(st.ok()) << file << ": " << st.message();
    }
  }
}

}  // namespace
}  // namespace oak::model
