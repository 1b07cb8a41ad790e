// The pure parts of `oak up`: option checks, back-off, the demo SLA, where its files are; and the
// supervisor's process handling with /bin/sleep and /bin/sh as children.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>

#include <gtest/gtest.h>

#include "cli/supervisor.h"
#include "cli/up.h"
#include "common/fs.h"
#include "support/process.h"

namespace oak::cli {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

UpOptions Simulated() {
  UpOptions o;
  o.runtime = "simulated";
  return o;
}

TEST(UpOptions, DefaultsAreValidForRootAndSimulatedForEveryone) {
  EXPECT_TRUE(ValidateUpOptions(UpOptions{}, /*running_as_root=*/true).ok());
  EXPECT_TRUE(ValidateUpOptions(Simulated(), /*running_as_root=*/false).ok());
}

TEST(UpOptions, RuncWithoutRootSaysWhatToDo) {
  Status s = ValidateUpOptions(UpOptions{}, /*running_as_root=*/false);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--runtime runc needs root"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--runtime simulated"), std::string::npos) << s.message();
}

TEST(UpOptions, NamesTheFlagAtFault) {
  UpOptions o = Simulated();
  o.cluster_port = o.port;
  EXPECT_EQ(ValidateUpOptions(o, false).message(), "--cluster-port and --port both name port 10000");
  o = Simulated();
  o.registry_port = 0;
  EXPECT_NE(ValidateUpOptions(o, false).message().find("--registry-port"), std::string::npos);
  o = Simulated();
  o.nodes = 0;
  EXPECT_NE(ValidateUpOptions(o, false).message().find("--nodes"), std::string::npos);
  o = Simulated();
  o.runtime = "qemu";
  EXPECT_NE(ValidateUpOptions(o, false).message().find("--runtime"), std::string::npos);
  o = Simulated();
  o.admin_password = "two\nlines";
  EXPECT_NE(ValidateUpOptions(o, false).message().find("--admin-password"), std::string::npos);
}

TEST(UpOptions, DefaultDataDirFollowsXdg) {
  const char* old_xdg = std::getenv("XDG_DATA_HOME");
  std::string saved = old_xdg ? old_xdg : "";
  ::setenv("XDG_DATA_HOME", "/x/data", 1);
  EXPECT_EQ(DefaultUpDataDir(), "/x/data/oak");
  ::unsetenv("XDG_DATA_HOME");
  const char* home = std::getenv("HOME");
  EXPECT_EQ(DefaultUpDataDir(), std::string(home ? home : ".") + "/.local/share/oak");
  if (old_xdg) ::setenv("XDG_DATA_HOME", saved.c_str(), 1);
}

TEST(UpOptions, BusyPortIsReportedWithItsFlag) {
  auto holder = std::make_unique<oak::testing::HeldPort>();
  uint16_t port = holder->port();
  ASSERT_NE(port, 0);
  Status s = CheckPortFree(port, "root API", "--port");
  holder.reset();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("port " + std::to_string(port) + " (root API) on 127.0.0.1 is in use"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("--port"), std::string::npos);
  EXPECT_TRUE(CheckPortFree(port, "root API", "--port").ok());
}

TEST(UpOptions, FindsTheProjectFiles) {
  auto script = FindProjectFile("scripts/busybox-image.sh");
  ASSERT_TRUE(script.ok()) << script.status().message();
  EXPECT_EQ(::access(script->c_str(), X_OK), 0) << *script;
  EXPECT_TRUE(FindProjectFile("examples/hello.json").ok());
  auto missing = FindProjectFile("scripts/no-such-file");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("OAK_PROJECT_DIR"), std::string::npos);
}

TEST(UpDemo, SlaPointsAtTheRegistryAndPortInUse) {
  auto text = ReadFile(std::string(OAK_SOURCE_DIR) + "/examples/hello.json");
  ASSERT_TRUE(text.ok());
  json sla = DemoSla(json::parse(*text), "127.0.0.1:15000", 18080);
  const json& ms = sla["applications"][0]["microservices"][0];
  EXPECT_EQ(ms["code"], "127.0.0.1:15000/oak/hello:1");
  EXPECT_EQ(ms["port"], "18080:8080/tcp");
  EXPECT_EQ(sla["sla_version"], "v2.0");
}

TEST(UpDemo, SlaLeavesOtherImagesAndMissingFieldsAlone) {
  json sla = {{"applications", json::array({{{"microservices",
                                              json::array({{{"code", "docker.io/library/nginx:1"}}, json::object()})}}})}};
  json out = DemoSla(sla, "127.0.0.1:1", 1);
  EXPECT_EQ(out, sla);
  EXPECT_EQ(DemoSla(json::object(), "127.0.0.1:1", 1), json::object());
}

TEST(UpDemo, FailedStatuses) {
  for (const char* s : {"FAILED", "NO_WORKER_CAPACITY", "NoActiveClusterWithCapacity"}) EXPECT_TRUE(IsFailedStatus(s)) << s;
  for (const char* s : {"REQUESTED", "CLUSTER_SCHEDULED", "NODE_SCHEDULED", "CREATING", "RUNNING", "DEAD"})
    EXPECT_FALSE(IsFailedStatus(s)) << s;
  EXPECT_EQ(NodeNames(3), (std::vector<std::string>{"node-1", "node-2", "node-3"}));
}

TEST(RestartBackoff, DoublesUpToTheCapAndGivesUp) {
  RestartBackoff b({.first = milliseconds(100), .max = milliseconds(500), .stable = milliseconds(10'000), .max_attempts = 5});
  std::vector<int64_t> delays;
  for (int i = 0; i < 5; ++i) delays.push_back(b.OnExit(milliseconds(10))->count());
  EXPECT_EQ(delays, (std::vector<int64_t>{100, 200, 400, 500, 500}));
  EXPECT_FALSE(b.OnExit(milliseconds(10)).has_value());
}

TEST(RestartBackoff, AStableRunStartsOver) {
  RestartBackoff b({.first = milliseconds(100), .max = milliseconds(1000), .stable = milliseconds(5000), .max_attempts = 3});
  EXPECT_EQ(b.OnExit(milliseconds(1))->count(), 100);
  EXPECT_EQ(b.OnExit(milliseconds(1))->count(), 200);
  EXPECT_EQ(b.OnExit(milliseconds(5000))->count(), 100);
  EXPECT_EQ(b.attempts(), 1);
}

TEST(Supervisor, DescribesHowAChildEnded) {
  EXPECT_EQ(DescribeWaitStatus(2 << 8), "exited with code 2");
  EXPECT_EQ(DescribeWaitStatus(SIGKILL), "was killed by signal 9 (Killed)");
}

std::string Slurp(const std::string& path) {
  auto text = ReadFile(path);
  return text.ok() ? *text : std::string();
}

bool Gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

TEST(Supervisor, RestartsACrashedChildAndStopsAllByPid) {
  testing::TempDir dir("supervisor");
  std::vector<std::string> news;
  Supervisor sup(dir / "pids.json", [&](const std::string& l) { news.push_back(l); },
                 {.first = milliseconds(50), .max = milliseconds(100), .stable = milliseconds(60'000), .max_attempts = 3});
  sup.EnableRestarts(true);
  auto a = sup.Start({"a", {"/bin/sleep", "600"}, dir / "a.log", {}});
  auto b = sup.Start({"b", {"/bin/sh", "-c", "echo hello from b; exec sleep 600"}, dir / "b.log", {}});
  ASSERT_TRUE(a.ok() && b.ok());
  auto pids = ReadFile(dir / "pids.json");
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(json::parse(*pids)["b"], *b);
  ASSERT_TRUE(testing::WaitFor([&] { return Slurp(dir / "b.log").find("hello from b") != std::string::npos; }));
  ::kill(*b, SIGKILL);
  ASSERT_TRUE(testing::WaitFor([&] {
    EXPECT_TRUE(sup.Poll().ok());
    return sup.Pid("b") > 0 && sup.Pid("b") != *b;
  }));
  ASSERT_GE(news.size(), 2u);
  EXPECT_NE(news[0].find("b (pid " + std::to_string(*b) + ") was killed by signal 9"), std::string::npos) << news[0];
  EXPECT_NE(news[0].find("hello from b"), std::string::npos) << news[0];
  EXPECT_NE(news[1].find("restarted b"), std::string::npos) << news[1];
  pid_t b2 = sup.Pid("b");
  sup.StopAll(milliseconds(2000));
  EXPECT_TRUE(Gone(*a));
  EXPECT_TRUE(Gone(b2));
  EXPECT_FALSE(ReadFile(dir / "pids.json").ok());
}

TEST(Supervisor, GivesUpOnAChildThatKeepsDying) {
  testing::TempDir dir("supervisor-dies");
  std::vector<std::string> news;
  Supervisor sup(dir / "pids.json", [&](const std::string& l) { news.push_back(l); },
                 {.first = milliseconds(10), .max = milliseconds(20), .stable = milliseconds(60'000), .max_attempts = 2});
  sup.EnableRestarts(true);
  ASSERT_TRUE(sup.Start({"bad", {"/bin/sh", "-c", "echo broken config >&2; exit 3"}, dir / "bad.log", {}}).ok());
  Status failed;
  ASSERT_TRUE(testing::WaitFor([&] {
    failed = sup.Poll();
    return !failed.ok();
  }));
  EXPECT_NE(failed.message().find("cannot keep bad running"), std::string::npos) << failed.message();
  ASSERT_FALSE(news.empty());
  EXPECT_NE(news.back().find("exited with code 3"), std::string::npos) << news.back();
  EXPECT_NE(news.back().find("broken config"), std::string::npos) << news.back();
}

TEST(Supervisor, KillsAChildThatIgnoresSigterm) {
  testing::TempDir dir("supervisor-term");
  std::vector<std::string> news;
  Supervisor sup("", [&](const std::string& l) { news.push_back(l); });
  auto pid = sup.Start({"stubborn", {"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"},
                        dir / "s.log", {}});
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(testing::WaitFor([&] { return Slurp(dir / "s.log").find("ready") != std::string::npos; }));
  sup.StopAll(milliseconds(300));
  EXPECT_TRUE(Gone(*pid));
  ASSERT_FALSE(news.empty());
  EXPECT_NE(news.back().find("ignored SIGTERM"), std::string::npos) << news.back();
}

}  // namespace
}  // namespace oak::cli
