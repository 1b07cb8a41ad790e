// The client's pure parts: tables, name resolution, the credentials file.
#include <sys/stat.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "cli/credentials.h"
#include "cli/format.h"
#include "cli/resolve.h"
#include "support/process.h"

namespace oak::cli {
namespace {

using nlohmann::json;

TEST(CliTable, AlignsColumnsWithoutTrailingBlanks) {
  Table t({"NAME", "ID", "STATUS"});
  t.Add({"a", "123456", "RUNNING"});
  t.Add({"longer-name", "1", ""});
  EXPECT_EQ(t.Render(),
            "NAME         ID      STATUS\n"
            "a            123456  RUNNING\n"
            "longer-name  1\n");
}

TEST(CliFormat, InstancesSummary) {
  EXPECT_EQ(InstancesSummary(json::array()), "-");
  json few = json::array({{{"instance_number", 0}, {"status", "RUNNING"}},
                          {{"instance_number", 3}, {"status", "FAILED"}}});
  EXPECT_EQ(InstancesSummary(few), "#0 RUNNING, #3 FAILED");
  json many = json::array();
  for (int i = 0; i < 6; ++i) many.push_back({{"instance_number", i}, {"status", i < 5 ? "RUNNING" : "FAILED"}});
  EXPECT_EQ(InstancesSummary(many), "6: 5 RUNNING, 1 FAILED");
}

TEST(CliFormat, ServicesTableShowsEveryService) {
  json svcs = json::array({{{"job_name", "a.b.c.d"}, {"microserviceID", "id1"}, {"status", "RUNNING"},
                            {"instance_list", json::array({{{"instance_number", 0}, {"status", "RUNNING"}}})}}});
  std::string out = ServicesTable(svcs);
  EXPECT_NE(out.find("NAME     ID   STATUS   INSTANCES"), std::string::npos) << out;
  EXPECT_NE(out.find("a.b.c.d  id1  RUNNING  #0 RUNNING"), std::string::npos) << out;
  EXPECT_EQ(ServicesTable(json::array()), "No services.\n");
}

json App(const std::string& id, const std::string& name, const std::string& ns) {
  return {{"applicationID", id}, {"application_name", name}, {"application_namespace", ns}};
}

TEST(CliFormat, NodesTableShowsFreeOverTotal) {
  json nodes = json::array({{{"cluster_name", "munich"}, {"node_name", "edge-1"}, {"id", "abc"}, {"status", "active"},
                             {"architecture", "arm64"}, {"vcpus", 4}, {"memory", 8000}, {"cpu_percent", 12.5},
                             {"free", {{"vcpus", 3}, {"memory", 7000}}}, {"instance_count", 1}}});
  std::string out = NodesTable(nodes);
  EXPECT_NE(out.find("edge-1"), std::string::npos) << out;
  EXPECT_NE(out.find("3/4"), std::string::npos) << out;
  EXPECT_NE(out.find("7000/8000"), std::string::npos) << out;
  EXPECT_NE(out.find("munich"), std::string::npos) << out;
  EXPECT_EQ(NodesTable(json::array()), "No nodes.\n");
}

TEST(CliResolve, MatchAppByIdFullNameOrUniqueName) {
  json apps = json::array({App("1", "shop", "prod"), App("2", "shop", "dev"), App("3", "blog", "prod")});
  EXPECT_EQ((*MatchApp(apps, "2"))["applicationID"], "2");
  EXPECT_EQ((*MatchApp(apps, "shop.dev"))["applicationID"], "2");
  EXPECT_EQ((*MatchApp(apps, "blog"))["applicationID"], "3");
  auto amb = MatchApp(apps, "shop");
  ASSERT_FALSE(amb.ok());
  EXPECT_NE(amb.status().message().find("ambiguous (shop.prod, shop.dev)"), std::string::npos);
  auto none = MatchApp(apps, "nope");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  EXPECT_EQ(none.status().message(), "no application 'nope'");
}

json Svc(const std::string& id, const std::string& app, const std::string& name) {
  return {{"microserviceID", id}, {"job_name", app + ".ns." + name + ".ns"}, {"service_name", name}, {"service_ns", "ns"}};
}

TEST(CliResolve, MatchServiceTiers) {
  json svcs = json::array({Svc("1", "shop", "web"), Svc("2", "blog", "web"), Svc("3", "blog", "db")});
  EXPECT_EQ((*MatchService(svcs, "1"))["microserviceID"], "1");
  EXPECT_EQ((*MatchService(svcs, "blog.ns.web.ns"))["microserviceID"], "2");
  EXPECT_EQ((*MatchService(svcs, "db"))["microserviceID"], "3");
  EXPECT_EQ((*MatchService(svcs, "db.ns"))["microserviceID"], "3");
  auto amb = MatchService(svcs, "web");
  ASSERT_FALSE(amb.ok());
  EXPECT_NE(amb.status().message().find("ambiguous"), std::string::npos);
}

TEST(CliCredentials, PathFollowsXdgThenHome) {
  std::string old_xdg = std::getenv("XDG_CONFIG_HOME") ? std::getenv("XDG_CONFIG_HOME") : "";
  std::string old_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  ::setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
  EXPECT_EQ(CredentialsPath(), "/x/cfg/oak/credentials.json");
  ::setenv("XDG_CONFIG_HOME", "relative", 1);  // invalid per the XDG spec: ignored
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(CredentialsPath(), "/home/u/.config/oak/credentials.json");
  ::unsetenv("XDG_CONFIG_HOME");
  EXPECT_EQ(CredentialsPath(), "/home/u/.config/oak/credentials.json");
  if (old_xdg.empty()) ::unsetenv("XDG_CONFIG_HOME");
  else ::setenv("XDG_CONFIG_HOME", old_xdg.c_str(), 1);
  ::setenv("HOME", old_home.c_str(), 1);
}

TEST(CliCredentials, SaveIsPrivateAndLoadsBack) {
  testing::TempDir dir("cli-creds");
  std::string path = dir / "conf/oak/credentials.json";
  EXPECT_EQ(LoadCredentials(path).status().code(), Code::kNotFound);
  ASSERT_TRUE(SaveCredentials(path, {"http://h:1", "t", "r", "u"}).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir / "conf/oak").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto c = LoadCredentials(path);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->api, "http://h:1");
  EXPECT_EQ(c->token, "t");
  EXPECT_EQ(c->refresh_token, "r");
  EXPECT_EQ(c->user, "u");
}

TEST(CliCredentials, EnvOverridesStoredApi) {
  ::unsetenv("OAK_API");
  EXPECT_EQ(EffectiveApi(""), kDefaultApi);
  EXPECT_EQ(EffectiveApi("http://stored:1"), "http://stored:1");
  ::setenv("OAK_API", "http://env:2", 1);
  EXPECT_EQ(EffectiveApi("http://stored:1"), "http://env:2");
  ::unsetenv("OAK_API");
}

}  // namespace
}  // namespace oak::cli
