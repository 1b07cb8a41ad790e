// RequestFromService on Oakestra's SLA examples and on crafted documents, including wrong types.
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "scheduler/scheduler.h"

namespace oak::scheduler {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::filesystem::path kSlaDir = std::filesystem::path(OAK_SOURCE_DIR) / ".." / "shared" / "compat" / "oakestra-sla";

json LoadSla(const std::string& file) {
  std::ifstream in(kSlaDir / file);
  if (!in) return json();
  return json::parse(in);
}

json Service(json extra = json::object()) {
  json s = {{"microservice_name", "web"}, {"microservice_namespace", "test"},
            {"virtualization", "container"}, {"code", "docker.io/library/nginx:latest"}};
  s.update(extra);
  return s;
}

// The message of the error RequestFromService gives for `extra` merged into a valid service.
std::string ErrorFor(json extra) {
  auto r = RequestFromService(Service(std::move(extra)));
  if (r.ok()) return "<accepted>";
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  return r.status().message();
}

TEST(RequestFromSla, OakestraCorrectExamples) {
  const json one = LoadSla("sla_correct_1.json");
  if (one.is_null()) GTEST_SKIP() << "Oakestra SLA examples not found at " << kSlaDir;
  auto r = RequestFromService(one["applications"][0]["microservices"][0]);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->need.memory_mb, 4096);
  EXPECT_EQ(r->need.vcpus, 2);
  EXPECT_EQ(r->need.vgpus, 0);
  EXPECT_EQ(r->need.storage_mb, 1000);
  EXPECT_EQ(r->virtualization, "container");
  EXPECT_FALSE(r->geo.has_value());  // its latency constraints are accepted and ignored

  // sla_correct_2 leaves memory, vcpus and vgpus out: they mean 0.
  auto two = RequestFromService(LoadSla("sla_correct_2.json")["applications"][0]["microservices"][0]);
  ASSERT_TRUE(two.ok()) << two.status().message();
  EXPECT_EQ(two->need.memory_mb, 0);
  EXPECT_EQ(two->need.vcpus, 0);
  EXPECT_EQ(two->need.storage_mb, 0);

  const json demo = LoadSla("example_curl.json");
  for (const json& ms : demo["applications"][0]["microservices"]) {
    auto d = RequestFromService(ms);
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d->need.memory_mb, 100);
    EXPECT_EQ(d->need.vcpus, 1);
    EXPECT_TRUE(d->arch.empty());
    EXPECT_TRUE(d->target_node.empty());
  }
}

TEST(RequestFromSla, EveryConstraintType) {
  const json s = Service({{"memory", 2048}, {"vcpus", 2}, {"vgpus", 1}, {"storage", 500},
                          {"arch", {"amd64", "arm64"}}, {"target_node", "worker-3"},
                          {"constraints",
                           {{{"type", "direct"}, {"cluster", "munich"}, {"node", "worker-3"}},
                            {{"type", "clusters"}, {"allowed", {"munich", "berlin", "paris"}}},
                            {{"type", "clusters"}, {"allowed", {"paris", "munich"}}},
                            {{"type", "addons"}, {"needs", {"gpu"}}},
                            {{"type", "addons"}, {"needs", {"psql", "gpu"}}},
                            {{"type", "geo"}, {"location", "48.1, 11.5"}, {"threshold", 50}},
                            {{"type", "latency"}, {"area", "munich-1"}, {"threshold", 100}}}}});
  auto r = RequestFromService(s);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->need.memory_mb, 2048);
  EXPECT_EQ(r->need.vcpus, 2);
  EXPECT_EQ(r->need.vgpus, 1);
  EXPECT_EQ(r->need.storage_mb, 500);
  EXPECT_EQ(r->arch, (std::vector<std::string>{"amd64", "arm64"}));
  EXPECT_EQ(r->target_node, "worker-3");
  EXPECT_EQ(r->direct_cluster, "munich");
  EXPECT_EQ(r->direct_node, "worker-3");
  EXPECT_EQ(r->allowed_clusters, (std::vector<std::string>{"munich", "paris"}));  // intersection
  EXPECT_EQ(r->needs_addons, (std::vector<std::string>{"gpu", "psql"}));
  ASSERT_TRUE(r->geo.has_value());
  EXPECT_DOUBLE_EQ(r->geo->lat, 48.1);
  EXPECT_DOUBLE_EQ(r->geo->lon, 11.5);
  EXPECT_DOUBLE_EQ(r->geo_threshold_km, 50);
}

TEST(RequestFromSla, MissingNullAndFractionalAmounts) {
  auto r = RequestFromService(Service({{"memory", nullptr}, {"vcpus", 0.5}, {"storage", 10.0}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->need.memory_mb, 0);
  EXPECT_EQ(r->need.vcpus, 1);  // rounded up: half a core still needs a core free
  EXPECT_EQ(r->need.storage_mb, 10);
  EXPECT_EQ(r->need.vgpus, 0);
  auto empty_lists = RequestFromService(Service({{"arch", json::array()}, {"constraints", json::array()},
                                                 {"target_node", ""}}));
  ASSERT_TRUE(empty_lists.ok());
  EXPECT_TRUE(empty_lists->arch.empty());
  EXPECT_TRUE(empty_lists->allowed_clusters.empty());
}

TEST(RequestFromSla, WrongResourceTypesNameTheField) {
  EXPECT_EQ(ErrorFor({{"memory", "4096"}}), "memory: expected a number");
  EXPECT_EQ(ErrorFor({{"vcpus", true}}), "vcpus: expected a number");
  EXPECT_EQ(ErrorFor({{"vgpus", json::array()}}), "vgpus: expected a number");
  EXPECT_EQ(ErrorFor({{"storage", -1}}), "storage: must not be negative");
  EXPECT_EQ(ErrorFor({{"memory", 18446744073709551615ULL}}), "memory: too large");
}

TEST(RequestFromSla, WrongTopLevelTypesNameTheField) {
  EXPECT_EQ(RequestFromService(json::array()).status().message(), "service: expected an object");
  json no_virt = Service();
  no_virt.erase("virtualization");
  EXPECT_EQ(RequestFromService(no_virt).status().message(), "virtualization: required");
  EXPECT_EQ(ErrorFor({{"virtualization", 1}}), "virtualization: expected a string");
  EXPECT_EQ(ErrorFor({{"virtualization", ""}}), "virtualization: must not be empty");
  EXPECT_EQ(ErrorFor({{"arch", "amd64"}}), "arch: expected an array of strings");
  EXPECT_EQ(ErrorFor({{"arch", {"amd64", 64}}}), "arch[1]: expected a string");
  EXPECT_EQ(ErrorFor({{"target_node", 7}}), "target_node: expected a string");
  EXPECT_EQ(ErrorFor({{"constraints", json::array({"geo"})}}), "constraints[0]: expected an object");
  EXPECT_EQ(ErrorFor({{"constraints", "geo"}}), "constraints: expected an array");
}

TEST(RequestFromSla, WrongConstraintsNameTheField) {
  auto one = [](json c) { return ErrorFor({{"constraints", json::array({{{"type", "latency"}}, c})}}); };
  EXPECT_EQ(one({{"cluster", "x"}}), "constraints[1].type: required");
  EXPECT_EQ(one({{"type", 3}}), "constraints[1].type: expected a string");
  EXPECT_EQ(one({{"type", "affinity"}}), "constraints[1].type: unknown constraint type 'affinity'");
  EXPECT_EQ(one({{"type", "direct"}}), "constraints[1]: a direct constraint needs a cluster or a node");
  EXPECT_EQ(one({{"type", "direct"}, {"cluster", 5}}), "constraints[1].cluster: expected a string");
  EXPECT_EQ(one({{"type", "direct"}, {"node", {"a"}}}), "constraints[1].node: expected a string");
  EXPECT_EQ(one({{"type", "clusters"}, {"allowed", "munich"}}),
            "constraints[1].allowed: expected an array of strings");
  EXPECT_EQ(one({{"type", "addons"}, {"needs", {"gpu", false}}}), "constraints[1].needs[1]: expected a string");
  EXPECT_EQ(one({{"type", "geo"}, {"threshold", 5}}), "constraints[1].location: required");
  EXPECT_EQ(one({{"type", "geo"}, {"location", 48.1}, {"threshold", 5}}),
            "constraints[1].location: expected a string \"lat,long\"");
  EXPECT_EQ(one({{"type", "geo"}, {"location", "48.1;11.5"}, {"threshold", 5}}),
            "constraints[1].location: expected \"lat,long\" in degrees");
  EXPECT_EQ(one({{"type", "geo"}, {"location", "98.1,11.5"}, {"threshold", 5}}),
            "constraints[1].location: expected \"lat,long\" in degrees");
  EXPECT_EQ(one({{"type", "geo"}, {"location", "48.1,11.5x"}, {"threshold", 5}}),
            "constraints[1].location: expected \"lat,long\" in degrees");
  EXPECT_EQ(one({{"type", "geo"}, {"location", "48.1,11.5"}}), "constraints[1].threshold: required");
  EXPECT_EQ(one({{"type", "geo"}, {"location", "48.1,11.5"}, {"threshold", "50km"}}),
            "constraints[1].threshold: expected a number (km)");
  EXPECT_EQ(one({{"type", "geo"}, {"location", "48.1,11.5"}, {"threshold", -1}}),
            "constraints[1].threshold: must not be negative");
}

TEST(RequestFromSla, ConflictingConstraints) {
  const json geo = {{"type", "geo"}, {"location", "48.1,11.5"}, {"threshold", 5}};
  EXPECT_EQ(ErrorFor({{"constraints", {geo, geo}}}), "constraints[1]: only one geo constraint is supported");
  EXPECT_THAT(ErrorFor({{"constraints",
                         {{{"type", "direct"}, {"cluster", "a"}}, {{"type", "direct"}, {"cluster", "b"}}}}}),
              StartsWith("constraints[1].cluster: conflicts"));
  EXPECT_THAT(ErrorFor({{"constraints",
                         {{{"type", "direct"}, {"node", "a"}}, {{"type", "direct"}, {"node", "b"}}}}}),
              StartsWith("constraints[1].node: conflicts"));
  EXPECT_EQ(ErrorFor({{"constraints",
                       {{{"type", "clusters"}, {"allowed", {"a"}}}, {{"type", "clusters"}, {"allowed", {"b"}}}}}}),
            "constraints[1].allowed: no cluster is allowed by every clusters constraint");
}

TEST(RequestFromSla, ParsedRequestSchedules) {
  auto r = RequestFromService(Service({{"memory", 1024}, {"vcpus", 1},
                                       {"constraints", {{{"type", "geo"}, {"location", "48.1,11.5"},
                                                         {"threshold", 50}}}}}));
  ASSERT_TRUE(r.ok());
  Candidate near, far;
  near.name = "garching";
  near.location = GeoPoint{48.25, 11.65};
  far.name = "berlin";
  far.location = GeoPoint{52.52, 13.405};
  for (Candidate* c : {&near, &far}) {
    c->free = {4, 4096, 0, 0};
    c->virtualization = {"container"};
  }
  std::vector<Candidate> cs{far, near};
  const Decision d = Schedule(Level::kNode, *r, cs, Policy::kSpread);
  EXPECT_EQ(d.index, 1);
  cs.pop_back();
  EXPECT_THAT(Schedule(Level::kNode, *r, cs, Policy::kSpread).detail, HasSubstr("geo: no node within 50 km"));
}

}  // namespace
}  // namespace oak::scheduler
