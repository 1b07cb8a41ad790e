#include "node/runtime/oci_spec.h"

#include <gtest/gtest.h>

namespace oak::node {
namespace {

DeploySpec Spec() {
  DeploySpec d;
  d.key = {"app.ns.svc.ns", 2};
  d.image = "busybox:1";
  return d;
}

TEST(OciSpecTest, CombinesCmdAndArgsLikeDocker) {
  ImageRunConfig img{.entrypoint = {"/entry"}, .cmd = {"--default"}};
  DeploySpec d = Spec();
  EXPECT_EQ(ProcessArgs(d, img), (std::vector<std::string>{"/entry", "--default"}));
  d.args = {"--mine"};
  EXPECT_EQ(ProcessArgs(d, img), (std::vector<std::string>{"/entry", "--mine"}));
  d.cmd = {"sh", "-c"};
  d.args = {"echo hi"};
  EXPECT_EQ(ProcessArgs(d, img), (std::vector<std::string>{"sh", "-c", "echo hi"}));
  d.args.clear();
  EXPECT_EQ(ProcessArgs(d, img), (std::vector<std::string>{"sh", "-c"})) << "the image's cmd goes with its entrypoint only";
}

TEST(OciSpecTest, EnvironmentOverridesTheImageKeyByKey) {
  ImageRunConfig img{.env = {"PATH=/opt/bin", "A=1", "B=2"}};
  DeploySpec d = Spec();
  d.environment = {"B=3", "C=4"};
  EXPECT_EQ(ProcessEnv(d, img),
            (std::vector<std::string>{"PATH=/opt/bin", "A=1", "B=3", "C=4", "HOSTNAME=app.ns.svc.ns.instance.2"}));
}

TEST(OciSpecTest, LimitsNamespacesAndPrivilege) {
  DeploySpec d = Spec();
  d.cmd = {"sleep", "1"};
  d.memory_mb = 64;
  d.vcpus = 0.5;
  OciSpecInput in{.hostname = "h", .netns_path = "/var/run/netns/x", .cgroups_path = "/oak-t/c"};
  auto c = BuildOciConfig(d, {}, in);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const auto& j = *c;
  EXPECT_EQ(j["linux"]["resources"]["memory"]["limit"], 64 * 1024 * 1024);
  EXPECT_EQ(j["linux"]["resources"]["cpu"]["quota"], 50000);
  EXPECT_EQ(j["linux"]["cgroupsPath"], "/oak-t/c");
  bool netns = false;
  for (const auto& ns : j["linux"]["namespaces"]) netns |= ns["type"] == "network" && ns.value("path", "") == "/var/run/netns/x";
  EXPECT_TRUE(netns);
  EXPECT_TRUE(j["process"]["noNewPrivileges"].get<bool>());
  EXPECT_TRUE(j["linux"].contains("maskedPaths"));
  in.privileged = true;
  auto p = BuildOciConfig(d, {}, in);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE((*p)["linux"].contains("maskedPaths"));
  EXPECT_GT((*p)["process"]["capabilities"]["bounding"].size(), (*c)["process"]["capabilities"]["bounding"].size());
}

TEST(OciSpecTest, UsersResolveThroughTheImagesFiles) {
  DeploySpec d = Spec();
  d.cmd = {"true"};
  OciSpecInput in{.passwd = "root:x:0:0::/:/bin/sh\nweb:x:101:102::/:/bin/false\n", .group = "staff:x:50:\n"};
  auto user = [&](const std::string& u) {
    auto c = BuildOciConfig(d, {.user = u}, in);
    return c.ok() ? (*c)["process"]["user"].dump() : c.status().message();
  };
  EXPECT_EQ(user(""), R"({"gid":0,"uid":0})");
  EXPECT_EQ(user("web"), R"({"gid":102,"uid":101})");
  EXPECT_EQ(user("1000"), R"({"gid":1000,"uid":1000})");
  EXPECT_EQ(user("web:staff"), R"({"gid":50,"uid":101})");
  EXPECT_EQ(user("ghost"), "image user 'ghost': no such user in the image's /etc/passwd");
}

TEST(OciSpecTest, ErrorsNameTheField) {
  DeploySpec d = Spec();
  auto none = BuildOciConfig(d, {}, {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message().rfind("cmd:", 0), 0u);
  d.cmd = {"true"};
  d.environment = {"NOEQUALS"};
  auto env = BuildOciConfig(d, {}, {});
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.status().message(), "environment: 'NOEQUALS' is not KEY=VALUE");
}

}  // namespace
}  // namespace oak::node
