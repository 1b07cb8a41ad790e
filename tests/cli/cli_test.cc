// The `oak` client commands against a real `oak root`: the real binary runs as a child process with
// its own HOME and XDG_CONFIG_HOME, and the tests read its exit code, stdout and stderr.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/client.h"
#include "common/fs.h"
#include "support/fake_cluster.h"
#include "support/root_process.h"
#include "support/tier_processes.h"

namespace oak::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

struct CliRun {
  int code = -1;
  std::string out, err;
};

// Runs the `oak` binary with a private configuration directory.
class OakCli {
 public:
  explicit OakCli(std::string api) : home_("cli-home"), api_(std::move(api)) {}

  // `api` empty: OAK_API is left unset.
  CliRun operator()(const std::vector<std::string>& args, const std::string& stdin_text = "") const {
    return RunWith(args, stdin_text, api_);
  }
  CliRun RunWith(const std::vector<std::string>& args, const std::string& stdin_text, const std::string& api) const {
    std::string in = home_ / "stdin", out = home_ / "stdout", err = home_ / "stderr";
    std::ofstream(in) << stdin_text;
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string_view v(*e);
      if (v.starts_with("HOME=") || v.starts_with("XDG_CONFIG_HOME=") || v.starts_with("OAK_API=")) continue;
      env.emplace_back(v);
    }
    env.push_back("HOME=" + home_.path());
    env.push_back("XDG_CONFIG_HOME=" + config_dir());
    if (!api.empty()) env.push_back("OAK_API=" + api);
    std::vector<std::string> argv = {OAK_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_t pid = ::fork();
    if (pid == 0) {
      int fds[3] = {::open(in.c_str(), O_RDONLY), ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644),
                    ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644)};
      for (int i = 0; i < 3; ++i) ::dup2(fds[i], i);
      std::vector<char*> a, e;
      for (auto& s : argv) a.push_back(s.data());
      for (auto& s : env) e.push_back(s.data());
      a.push_back(nullptr);
      e.push_back(nullptr);
      ::execve(a[0], a.data(), e.data());
      ::_exit(127);
    }
    CliRun r;
    int status = 0;
    bool done = WaitFor([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, std::chrono::seconds(30));
    if (!done) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "oak did not finish in 30 s";
    }
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadFile(out).value();
    r.err = ReadFile(err).value();
    return r;
  }

  std::string config_dir() const { return home_ / "cfg"; }
  std::string credentials() const { return config_dir() + "/oak/credentials.json"; }
  json StoredCredentials() const { return ReadJsonFile(credentials()); }

 private:
  TempDir home_;
  std::string api_;
};

std::ostream& operator<<(std::ostream& os, const CliRun& r) {
  return os << "exit " << r.code << "\nstdout:\n" << r.out << "stderr:\n" << r.err;
}

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0;
}

// A project-owned SLA: two applications, and a service name ("web") that both of them use.
const char* kShopSla = R"({
  "sla_version": "v2.0", "customerID": "Admin",
  "applications": [
    {"applicationID": "", "application_name": "shop", "application_namespace": "prod", "application_desc": "web shop",
     "microservices": [
       {"microserviceID": "", "microservice_name": "web", "microservice_namespace": "prod", "virtualization": "container",
        "code": "docker.io/library/nginx:1.25", "memory": 64, "vcpus": 1, "port": "8080:80/tcp"},
       {"microserviceID": "", "microservice_name": "db", "microservice_namespace": "prod", "virtualization": "container",
        "code": "docker.io/library/redis:7", "memory": 128, "vcpus": 1}]},
    {"applicationID": "", "application_name": "blog", "application_namespace": "prod", "application_desc": "",
     "microservices": [
       {"microserviceID": "", "microservice_name": "web", "microservice_namespace": "prod", "virtualization": "container",
        "code": "docker.io/library/nginx:1.25", "memory": 64, "vcpus": 1}]}]})";

class CliTest : public ::testing::Test {
 protected:
  CliTest() : data_("cli-root"), root_(data_ / "root"), oak_(root_.url()) {}

  void Login() {
    CliRun r = oak_({"login", "-u", "Admin", "-p", root_.config().admin_password});
    ASSERT_EQ(r.code, 0) << r;
  }
  std::string WriteSla(const std::string& name, const std::string& text) {
    std::string path = data_ / name;
    std::ofstream(path) << text;
    return path;
  }
  json ShowJson(const std::string& svc) {
    CliRun r = oak_({"svc", "show", svc, "--json"});
    EXPECT_EQ(r.code, 0) << r;
    return json::parse(r.out, nullptr, false);
  }
  std::string InstanceStatus(const std::string& svc) {
    json j = ShowJson(svc);
    if (!j.is_object() || j["instance_list"].empty()) return "";
    return j["instance_list"][0].value("status", "");
  }

  TempDir data_;
  RootProcess root_;
  OakCli oak_;
};

TEST_F(CliTest, LoginStoresPrivateCredentials) {
  CliRun bad = oak_({"login", "-u", "Admin", "-p", "wrong"});
  EXPECT_EQ(bad.code, 1) << bad;
  EXPECT_EQ(bad.err, "oak: wrong username or password\n");
  EXPECT_FALSE(std::filesystem::exists(oak_.credentials()));

  CliRun good = oak_({"login", "-u", "Admin", "-p", root_.config().admin_password});
  ASSERT_EQ(good.code, 0) << good;
  EXPECT_EQ(good.out, "Logged in to " + root_.url() + " as Admin.\n");
  EXPECT_EQ(ModeOf(oak_.credentials()), 0600u);
  EXPECT_EQ(ModeOf(oak_.config_dir() + "/oak"), 0700u);
  json c = oak_.StoredCredentials();
  EXPECT_EQ(c["api"], root_.url());
  EXPECT_EQ(c["user"], "Admin");
  EXPECT_FALSE(c["token"].get<std::string>().empty());
  EXPECT_FALSE(c["refresh_token"].get<std::string>().empty());
}

TEST_F(CliTest, LoginReadsPasswordFromStdin) {
  CliRun r = oak_({"login", "-u", "Admin", "--json"}, root_.config().admin_password + "\n");
  ASSERT_EQ(r.code, 0) << r;
  json out = json::parse(r.out, nullptr, false);
  EXPECT_EQ(out["user"], "Admin");
  EXPECT_FALSE(out.contains("token")) << "tokens must not be printed";
  CliRun none = oak_({"login", "-u", "Admin"}, "");
  EXPECT_EQ(none.code, 1) << none;
  EXPECT_THAT(none.err, HasSubstr("no password given"));
}

TEST_F(CliTest, CommandsNeedALogin) {
  CliRun r = oak_({"app", "ls"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("not logged in"));
}

TEST_F(CliTest, ApplyOakestraExampleSla) {
  std::string dir = CompatDir();
  if (dir.empty()) GTEST_SKIP() << "Oakestra's SLA examples are not available";
  Login();
  CliRun r = oak_({"apply", dir + "/example_curl.json"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("Created application clientserver.test ("));
  EXPECT_THAT(r.out, HasSubstr("clientserver.test.curl.test"));
  EXPECT_THAT(r.out, HasSubstr("clientserver.test.nginx.test"));

  CliRun ls = oak_({"app", "ls"});
  ASSERT_EQ(ls.code, 0) << ls;
  EXPECT_THAT(ls.out, ::testing::StartsWith("NAME               ID                        SERVICES  DESCRIPTION\n"));
  EXPECT_THAT(ls.out, ::testing::MatchesRegex(
                          ".*\nclientserver\\.test  [0-9a-f]{24}  2         Simple demo with curl client and Nginx server\n"));
  CliRun js = oak_({"app", "ls", "--json"});
  json apps = json::parse(js.out, nullptr, false);
  ASSERT_TRUE(apps.is_array()) << js;
  ASSERT_EQ(apps.size(), 1u);
  EXPECT_EQ(apps[0]["application_name"], "clientserver");
  EXPECT_EQ(apps[0]["microservices"].size(), 2u);

  CliRun svcs = oak_({"svc", "ls", "clientserver"});
  ASSERT_EQ(svcs.code, 0) << svcs;
  EXPECT_THAT(svcs.out, HasSubstr("NAME                          ID                        STATUS   INSTANCES\n"));
  EXPECT_THAT(svcs.out, ::testing::ContainsRegex("clientserver\\.test\\.curl\\.test   [0-9a-f]{24}  CREATED  -"));

  // Applying the same SLA again conflicts on name+namespace.
  CliRun again = oak_({"apply", dir + "/example_curl.json"});
  EXPECT_EQ(again.code, 1) << again;
  EXPECT_THAT(again.err, ::testing::StartsWith("oak: "));
}

TEST_F(CliTest, ApplyDeployUndeployWithoutCluster) {
  Login();
  CliRun r = oak_({"apply", WriteSla("shop.json", kShopSla), "--deploy"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("Created application shop.prod"));
  EXPECT_THAT(r.out, HasSubstr("Created application blog.prod"));
  EXPECT_THAT(r.out, HasSubstr("Deployed shop.prod.web.prod instance #0 (REQUESTED)"));
  EXPECT_THAT(r.out, HasSubstr("Deployed shop.prod.db.prod instance #0"));
  EXPECT_THAT(r.out, HasSubstr("Deployed blog.prod.web.prod instance #0"));

  // Without a cluster the root's scheduler refuses the placement by name.
  EXPECT_TRUE(WaitFor([&] { return InstanceStatus("shop.prod.web.prod") == "NoActiveClusterWithCapacity"; }));
  CliRun show = oak_({"svc", "show", "db"});
  ASSERT_EQ(show.code, 0) << show;
  EXPECT_THAT(show.out, HasSubstr("Service:         shop.prod.db.prod\n"));
  EXPECT_THAT(show.out, HasSubstr("Image:           docker.io/library/redis:7\n"));
  EXPECT_THAT(show.out, ::testing::ContainsRegex("\n0 +NoActiveClusterWithCapacity"));

  // "web" names two services; the error says which.
  CliRun amb = oak_({"svc", "show", "web"});
  EXPECT_EQ(amb.code, 1) << amb;
  EXPECT_THAT(amb.err, ::testing::StartsWith("oak: service 'web' is ambiguous ("));
  EXPECT_THAT(amb.err, HasSubstr("shop.prod.web.prod"));
  EXPECT_THAT(amb.err, HasSubstr("blog.prod.web.prod"));

  CliRun second = oak_({"svc", "deploy", "shop.prod.web.prod"});
  ASSERT_EQ(second.code, 0) << second;
  EXPECT_EQ(second.out, "Deployed shop.prod.web.prod instance #1 (REQUESTED)\n");
  CliRun one = oak_({"svc", "undeploy", "shop.prod.web.prod", "0"});
  ASSERT_EQ(one.code, 0) << one;
  EXPECT_EQ(one.out, "Undeployed shop.prod.web.prod instance #0\n");
  CliRun missing = oak_({"svc", "undeploy", "shop.prod.web.prod", "7"});
  EXPECT_EQ(missing.code, 1) << missing;
  EXPECT_EQ(missing.err, "oak: instance_number: service has no instance 7\n");
  CliRun all = oak_({"svc", "undeploy", "shop.prod.web.prod"});
  ASSERT_EQ(all.code, 0) << all;
  EXPECT_EQ(all.out, "Undeployed shop.prod.web.prod instance #1\n");
  EXPECT_TRUE(ShowJson("shop.prod.web.prod")["instance_list"].empty());

  CliRun rm = oak_({"app", "rm", "shop.prod"});
  ASSERT_EQ(rm.code, 0) << rm;
  EXPECT_THAT(rm.out, HasSubstr("Deleted application shop.prod"));
  CliRun ls = oak_({"svc", "ls"});
  EXPECT_THAT(ls.out, ::testing::Not(HasSubstr("shop.prod")));
  EXPECT_THAT(ls.out, HasSubstr("blog.prod.web.prod"));
  CliRun gone = oak_({"app", "show", "shop"});
  EXPECT_EQ(gone.code, 1) << gone;
  EXPECT_EQ(gone.err, "oak: no application 'shop'\n");
}

TEST_F(CliTest, DeployToAFakeCluster) {
  Login();
  FakeClusterConfig cfg;
  cfg.name = "edge1";
  FakeCluster cluster(root_.url(), root_.config().cluster_token, cfg);
  ASSERT_TRUE(cluster.Register().ok());
  ASSERT_EQ(cluster.Heartbeat(), 200u);
  CliRun cl = oak_({"clusters"});
  ASSERT_EQ(cl.code, 0) << cl;
  EXPECT_THAT(cl.out, ::testing::StartsWith("NAME   ID"));
  EXPECT_THAT(cl.out, ::testing::ContainsRegex("\nedge1 +[0-9a-f]{24} +yes +1 "));
  CliRun cj = oak_({"clusters", "--json"});
  EXPECT_EQ(json::parse(cj.out, nullptr, false)[0]["cluster_name"], "edge1") << cj;

  ASSERT_EQ(oak_({"apply", WriteSla("shop.json", kShopSla)}).code, 0);
  CliRun d = oak_({"svc", "deploy", "db"});
  ASSERT_EQ(d.code, 0) << d;
  ASSERT_TRUE(WaitFor([&] { return cluster.Instances().size() == 1; }));
  EXPECT_TRUE(WaitFor([&] { return InstanceStatus("db") == "CLUSTER_SCHEDULED"; }));
  cluster.Heartbeat();  // the fake reports RUNNING for what it holds
  EXPECT_TRUE(WaitFor([&] { return InstanceStatus("db") == "RUNNING"; }));
  CliRun ls = oak_({"svc", "ls", "shop.prod"});
  EXPECT_THAT(ls.out, ::testing::ContainsRegex("shop\\.prod\\.db\\.prod +[0-9a-f]{24} +RUNNING +#0 RUNNING")) << ls;

  CliRun u = oak_({"svc", "undeploy", "db", "all"});
  ASSERT_EQ(u.code, 0) << u;
  EXPECT_TRUE(WaitFor([&] { return !cluster.Undeploys().empty(); }));
}

TEST_F(CliTest, LogsPrintsAnInstancesOutputVerbatim) {
  Login();
  ClusterProcess cluster(data_ / "cluster", root_.url(), root_.config().cluster_token);
  NodeProcess node(data_ / "node", cluster.url(), cluster.config().node_token);  // stopped first
  ASSERT_EQ(oak_({"apply", WriteSla("shop.json", kShopSla)}).code, 0);
  // Deploys are refused until the root has heard of an active cluster with room.
  ASSERT_TRUE(WaitFor([&] {
    CliRun cl = oak_({"clusters", "--json"});
    json j = json::parse(cl.out, nullptr, false);
    return j.is_array() && j.size() == 1 && j[0].value("active_nodes", 0) == 1;
  }, std::chrono::seconds(20))) << cluster.Log();
  ASSERT_EQ(oak_({"svc", "deploy", "db"}).code, 0);
  ASSERT_TRUE(WaitFor([&] { return InstanceStatus("db") == "RUNNING"; }, std::chrono::seconds(15)))
      << ShowJson("db").dump() << cluster.Log();

  CliRun all = oak_({"logs", "db"});
  ASSERT_EQ(all.code, 0) << all;
  EXPECT_EQ(all.out, "simulated: CREATING\nsimulated: RUNNING\n");
  CliRun tail = oak_({"logs", "shop.prod.db.prod", "0", "--max-bytes", "8"});
  ASSERT_EQ(tail.code, 0) << tail;
  EXPECT_EQ(tail.out, "RUNNING\n");
  CliRun j = oak_({"logs", "db", "--json"});
  EXPECT_EQ(json::parse(j.out, nullptr, false).value("logs", ""), all.out) << j;
  CliRun missing = oak_({"logs", "db", "3"});
  EXPECT_EQ(missing.code, 1) << missing;
  EXPECT_THAT(missing.err, HasSubstr("has no instance 3")) << missing;
}

TEST_F(CliTest, ErrorsNameTheCause) {
  Login();
  std::string bad = WriteSla("bad.json", R"({"sla_version":"v2.0","customerID":"x","applications":[
      {"application_name":"bad name","application_namespace":"x","application_desc":"","microservices":[]}]})");
  CliRun r = oak_({"apply", bad});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, ::testing::StartsWith("oak: applications[0].application_name: must match"));
  EXPECT_EQ(r.out, "");

  CliRun broken = oak_({"apply", WriteSla("broken.json", "{nope")});
  EXPECT_EQ(broken.code, 1) << broken;
  EXPECT_THAT(broken.err, HasSubstr("broken.json: not valid JSON: parse error at line 1"));

  CliRun missing = oak_({"apply", data_ / "nowhere.json"});
  EXPECT_EQ(missing.code, 1) << missing;
  EXPECT_THAT(missing.err, HasSubstr("cannot read " + (data_ / "nowhere.json")));

  CliRun badn = oak_({"svc", "undeploy", "x", "two"});
  EXPECT_EQ(badn.code, 1) << badn;
  EXPECT_THAT(badn.err, HasSubstr("instance number 'two'"));

  root_.Stop();
  CliRun down = oak_({"app", "ls"});
  EXPECT_EQ(down.code, 1) << down;
  EXPECT_EQ(down.err, "oak: cannot reach the API at " + root_.url() + ": connection refused\n");
}

TEST_F(CliTest, OakApiOverridesTheStoredUrl) {
  CliRun login = oak_.RunWith({"login", "--api", root_.url(), "-u", "Admin", "-p", root_.config().admin_password}, "", "");
  ASSERT_EQ(login.code, 0) << login;
  EXPECT_EQ(oak_.RunWith({"app", "ls"}, "", "").code, 0);
  CliRun other = oak_.RunWith({"app", "ls"}, "", "http://127.0.0.1:1");
  EXPECT_EQ(other.code, 1) << other;
  EXPECT_THAT(other.err, HasSubstr("cannot reach the API at http://127.0.0.1:1: connection refused"));
}

TEST_F(CliTest, CorruptedTokenIsRefreshed) {
  Login();
  json c = oak_.StoredCredentials();
  c["token"] = "garbage";
  ASSERT_TRUE(WriteFileAtomic(oak_.credentials(), c.dump()).ok());
  CliRun r = oak_({"app", "ls"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "No applications.\n");
  json after = oak_.StoredCredentials();
  EXPECT_NE(after["token"], "garbage");
  EXPECT_EQ(after["refresh_token"], c["refresh_token"]);
  EXPECT_EQ(ModeOf(oak_.credentials()), 0600u);

  // With the refresh token broken too, the user is told to log in again.
  after["token"] = "garbage";
  after["refresh_token"] = "garbage";
  ASSERT_TRUE(WriteFileAtomic(oak_.credentials(), after.dump()).ok());
  CliRun expired = oak_({"app", "ls"});
  EXPECT_EQ(expired.code, 1) << expired;
  EXPECT_THAT(expired.err, HasSubstr("run `oak login` again"));
}

TEST_F(CliTest, ClientClassRefreshesOnceAndReportsTheNewToken) {
  auto login = cli::ApiClient::Login(root_.url(), "Admin", root_.config().admin_password);
  ASSERT_TRUE(login.ok()) << login.status().message();
  std::string saved;
  cli::ApiClient api(root_.url(), "not-a-jwt", login->refresh_token, [&](const std::string& t) { saved = t; });
  auto apps = api.Get("/api/applications/");
  ASSERT_TRUE(apps.ok()) << apps.status().message();
  EXPECT_TRUE(apps->is_array());
  EXPECT_EQ(api.refreshes(), 1);
  EXPECT_FALSE(saved.empty());
  EXPECT_EQ(saved, api.token());

  auto missing = api.Get("/api/application/000000000000000000000000");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(api.refreshes(), 1);

  cli::ApiClient no_refresh(root_.url(), "not-a-jwt", "");
  auto denied = no_refresh.Get("/api/applications/");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), Code::kUnauthorized);
}

}  // namespace
}  // namespace oak::testing
