// `oak up` as a real process: root, cluster, mosquitto, two simulated nodes and docker-registry on
// loopback ports this test picked; the demo deployed; a killed node restarted; SIGTERM stops all.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "cli/client.h"
#include "common/fs.h"
#include "common/http_client.h"
#include "support/process.h"

namespace oak::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

std::string Slurp(const std::string& path) {
  auto text = ReadFile(path);
  return text.ok() ? *text : std::string();
}

std::string Cmdline(pid_t pid) {
  std::string s = Slurp("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& ch : s)
    if (ch == '\0') ch = ' ';
  return s;
}

bool Gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// The children of `parent` (from /proc/*/stat), e.g. the cluster's mosquitto.
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

// Every PID the test saw under `marker` (the unique data dir) is SIGKILLed at the end if it is
// still one of ours, also when an assertion failed half-way.
class PidGuard {
 public:
  explicit PidGuard(std::string marker) : marker_(std::move(marker)) {}
  ~PidGuard() {
    for (pid_t p : pids_)
      if (!Gone(p) && Cmdline(p).find(marker_) != std::string::npos) ::kill(p, SIGKILL);
  }
  void Add(pid_t p) { pids_.insert(p); }

 private:
  std::string marker_;
  std::set<pid_t> pids_;
};

Result<ClientResponse> Get(uint16_t port, const std::string& target, const std::string& bearer = "") {
  Url url{.scheme = "http", .host = "127.0.0.1", .port = port, .base_path = ""};
  ClientRequest req;
  req.target = target;
  req.bearer = bearer;
  req.timeout = std::chrono::milliseconds(3000);
  return HttpFetchSync(url, std::move(req));
}

json GetJson(uint16_t port, const std::string& target, const std::string& bearer = "") {
  auto res = Get(port, target, bearer);
  if (!res.ok() || res->status != 200) return nullptr;
  return json::parse(res->body, nullptr, false);
}

int ActiveNodes(uint16_t port, const std::string& token) {
  json clusters = GetJson(port, "/api/clusters/", token);
  if (!clusters.is_array()) return -1;
  for (const auto& c : clusters)
    if (c.is_object() && c.value("cluster_name", "") == "local" && c.value("active", false))
      return c.value("active_nodes", 0);
  return -1;
}

std::string DemoStatus(uint16_t port, const std::string& token) {
  json services = GetJson(port, "/api/services/", token);
  if (!services.is_array()) return "";
  for (const auto& s : services)
    if (s.value("job_name", "") == "hello.demo.web.demo" && s.contains("instance_list") &&
        s["instance_list"].is_array() && !s["instance_list"].empty())
      return s["instance_list"][0].value("status", "");
  return "";
}

TEST(Up, RunsTheWholeSystemRestartsACrashedNodeAndStopsEverything) {
  TempDir tmp("up");
  std::string data = tmp / "data";
  PidGuard guard(data);
  uint16_t port = FreePort(), cluster_port = FreePort(), mqtt_port = FreePort(), registry_port = FreePort();
  std::set<uint16_t> distinct{port, cluster_port, mqtt_port, registry_port};
  ASSERT_EQ(distinct.size(), 4u) << "FreePort answered one port twice";
  std::vector<std::string> env = {"XDG_CONFIG_HOME=" + tmp.path() + "/cfg", "HOME=" + tmp.path()};
  Process up({OAK_BINARY, "up", "--runtime", "simulated", "--nodes", "2", "--data-dir", data, "--port",
              std::to_string(port), "--cluster-port", std::to_string(cluster_port), "--mqtt-port",
              std::to_string(mqtt_port), "--registry-port", std::to_string(registry_port), "--demo-port",
              std::to_string(FreePort()), "--startup-timeout", "60", "--deploy-timeout", "60"},
             tmp / "up.out", env);
  guard.Add(up.pid());
  auto up_log = [&] { return Slurp(tmp / "up.out"); };
  ASSERT_TRUE(WaitFor([&] { return up_log().find("Oak is up") != std::string::npos || !up.Running(); }, seconds(120)))
      << up_log();
  ASSERT_TRUE(up.Running()) << up_log();

  json pids = json::parse(Slurp(data + "/up.pids.json"), nullptr, false);
  ASSERT_TRUE(pids.is_object()) << Slurp(data + "/up.pids.json");
  for (const char* role : {"supervisor", "root", "cluster", "node-1", "node-2", "registry"}) {
    ASSERT_TRUE(pids.contains(role)) << role << " missing in " << pids.dump();
    guard.Add(pids[role].get<pid_t>());
  }
  EXPECT_EQ(pids["supervisor"].get<pid_t>(), up.pid());
  std::vector<pid_t> mosquitto;
  for (pid_t p : ChildrenOf(pids["cluster"].get<pid_t>()))
    if (Cmdline(p).find("mosquitto") != std::string::npos) mosquitto.push_back(p);
  ASSERT_EQ(mosquitto.size(), 1u) << "the cluster's mosquitto not found";
  guard.Add(mosquitto[0]);

  // The API: demo RUNNING, both nodes active; the registry holds the demo image.
  auto password = ReadFile(data + "/admin.password");
  ASSERT_TRUE(password.ok());
  while (!password->empty() && password->back() == '\n') password->pop_back();
  EXPECT_NE(up_log().find("Admin / " + *password), std::string::npos) << up_log();
  auto login = cli::ApiClient::Login("http://127.0.0.1:" + std::to_string(port), "Admin", *password);
  ASSERT_TRUE(login.ok()) << login.status().message();
  std::string token = login->token;
  EXPECT_TRUE(WaitFor([&] { return DemoStatus(port, token) == "RUNNING"; }, seconds(30))) << DemoStatus(port, token);
  EXPECT_TRUE(WaitFor([&] { return ActiveNodes(port, token) == 2; }, seconds(30))) << ActiveNodes(port, token);
  json tags = GetJson(registry_port, "/v2/oak/hello/tags/list");
  ASSERT_TRUE(tags.is_object()) << "registry answered no tag list";
  EXPECT_EQ(tags["tags"], json::array({"1"}));
  // The CLI tour works at once: `oak up` stored the Admin session for this user.
  auto creds = ReadFile(tmp.path() + "/cfg/oak/credentials.json");
  EXPECT_TRUE(creds.ok());

  // A crashed node is reported and restarted.
  pid_t node1 = pids["node-1"].get<pid_t>();
  ASSERT_EQ(::kill(node1, SIGKILL), 0);
  std::string report = "node-1 (pid " + std::to_string(node1) + ") was killed by signal 9";
  EXPECT_TRUE(WaitFor([&] { return up_log().find("restarted node-1") != std::string::npos; }, seconds(20))) << up_log();
  EXPECT_NE(up_log().find(report), std::string::npos) << up_log();
  json after = json::parse(Slurp(data + "/up.pids.json"), nullptr, false);
  ASSERT_TRUE(after.is_object() && after.contains("node-1"));
  pid_t node1_again = after["node-1"].get<pid_t>();
  guard.Add(node1_again);
  EXPECT_NE(node1_again, node1);
  EXPECT_FALSE(Gone(node1_again));
  std::string node_token = Slurp(data + "/cluster/node.token");
  while (!node_token.empty() && node_token.back() == '\n') node_token.pop_back();
  EXPECT_TRUE(WaitFor(
      [&] {
        json nodes = GetJson(cluster_port, "/api/nodes", node_token);
        if (!nodes.is_array()) return false;
        for (const auto& n : nodes)
          if (n.value("node_name", "") == "node-1" && n.value("active", false)) return true;
        return false;
      },
      seconds(30)))
      << "node-1 did not come back at the cluster";

  // SIGTERM stops every child, then the supervisor exits 0.
  int status = up.Stop(SIGTERM, seconds(60));
  ASSERT_NE(status, -1) << "oak up did not stop in 60 s:\n" << up_log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status << "\n" << up_log();
  std::vector<pid_t> all = {pids["root"].get<pid_t>(), pids["cluster"].get<pid_t>(), pids["node-2"].get<pid_t>(),
                            pids["registry"].get<pid_t>(), node1_again, mosquitto[0]};
  for (pid_t p : all) EXPECT_TRUE(WaitFor([&] { return Gone(p); }, seconds(5))) << "pid " << p << " survived: " << Cmdline(p);
  // In reverse start order.
  std::string out = up_log();
  size_t last = 0;
  for (const char* name : {"registry", "node-2", "node-1", "cluster", "root"}) {
    size_t at = out.find(std::string("stopped ") + name + " (pid");
    EXPECT_NE(at, std::string::npos) << name << " not stopped:\n" << out;
    if (at == std::string::npos) continue;
    EXPECT_GT(at, last) << name << " stopped out of order:\n" << out;
    last = at;
  }
  EXPECT_FALSE(ReadFile(data + "/up.pids.json").ok());
}

TEST(Up, BusyPortFailsAtOnceNamingTheFlag) {
  TempDir tmp("up-busy");
  // Any listener makes the port busy, as the registry of a first `oak up` would.
  oak::testing::HeldPort holder;
  ASSERT_NE(holder.port(), 0);
  uint16_t busy_port = holder.port();
  Process up({OAK_BINARY, "up", "--runtime", "simulated", "--data-dir", tmp / "data", "--port", std::to_string(FreePort()),
              "--cluster-port", std::to_string(FreePort()), "--mqtt-port", std::to_string(FreePort()),
              "--registry-port", std::to_string(busy_port)},
             tmp / "up.out", {"XDG_CONFIG_HOME=" + tmp.path() + "/cfg"});
  int status = up.Stop(0, seconds(20));  // signal 0: only wait
  ASSERT_NE(status, -1) << Slurp(tmp / "up.out");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  std::string out = Slurp(tmp / "up.out");
  EXPECT_NE(out.find("(image registry) on 127.0.0.1 is in use"), std::string::npos) << out;
  EXPECT_NE(out.find("--registry-port"), std::string::npos) << out;
  EXPECT_EQ(out.find("started root"), std::string::npos) << "nothing may start when a port is busy:\n" << out;
}

}  // namespace
}  // namespace oak::testing
