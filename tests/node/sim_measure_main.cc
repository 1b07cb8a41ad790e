// Measures `oak sim` with many nodes against a real mosquitto: time until every node reports, the
// sim process's RSS, threads and CPU while idle (reporting every 2 s), time to deploy one instance
// per node, and the broker's figures beside it. Not a test; run by hand:
//   oak_node_sim_measure [nodes=1000] [idle_seconds=20] [extra oak sim flags...]
//   oak_node_sim_measure node [idle_seconds=20]     (one `oak node --runtime simulated` instead)
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/fs.h"
#include "node/test_cluster.h"
#include "support/process.h"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Sample {
  long rss_kb = 0, hwm_kb = 0, threads = 0;
  double cpu_s = 0;  // utime + stime
  int fds = 0;
};

Sample Read(pid_t pid) {
  Sample s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    std::istringstream in(line);
    std::string key;
    long v = 0;
    in >> key >> v;
    if (key == "VmRSS:") s.rss_kb = v;
    if (key == "VmHWM:") s.hwm_kb = v;
    if (key == "Threads:") s.threads = v;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  s.cpu_s = double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++s.fds;
  return s;
}

double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  const bool single = argc > 1 && std::string(argv[1]) == "node";
  int nodes = single ? 1 : argc > 1 ? std::atoi(argv[1]) : 1000;
  int idle_s = argc > 2 ? std::atoi(argv[2]) : 20;
  oak::node::testing::TestCluster cluster("sim-measure");
  cluster.Start();
  cluster.keep_messages = false;
  oak::testing::TempDir logs("sim-measure-logs");
  std::vector<std::string> args = {OAK_BINARY, "sim", "--cluster", cluster.url(), "--node-token", cluster.token,
                                   "--nodes", std::to_string(nodes), "--seed", "1"};
  if (single) {
    args = {OAK_BINARY, "node", "--cluster", cluster.url(), "--node-token", cluster.token, "--data-dir",
            logs / "data", "--name", "edge-1"};
  }
  for (int i = 3; i < argc; ++i) args.push_back(argv[i]);
  auto t0 = Clock::now();
  oak::testing::Process sim(args, logs / "sim.log");

  auto all_reporting = [&] {
    return cluster.information.size() == size_t(nodes);
  };
  const char* wait_env = std::getenv("OAK_MEASURE_WAIT_S");
  bool up = cluster.Pump(all_reporting, std::chrono::seconds(wait_env ? std::atoi(wait_env) : 300));
  auto t_up = Clock::now();
  std::printf("nodes=%d all_reporting=%s time_to_all_reporting_s=%.2f registrations=%zu\n", nodes, up ? "yes" : "NO",
              Secs(t_up - t0), cluster.registrations.size());
  if (!up) {
    std::printf("reporting=%zu\n--- sim log tail ---\n%s\n", cluster.information.size(),
                sim.Log().substr(sim.Log().size() > 4000 ? sim.Log().size() - 4000 : 0).c_str());
    if (const char* keep = std::getenv("OAK_MEASURE_KEEP")) {
      (void)oak::WriteFileAtomic(std::string(keep) + "/sim.log", sim.Log(), 0644);
      auto bl = oak::ReadFile(cluster.broker->dir() + "/mosquitto.log");
      if (bl.ok()) (void)oak::WriteFileAtomic(std::string(keep) + "/mosquitto.log", *bl, 0644);
    }
    auto broker_log = oak::ReadFile(cluster.broker->dir() + "/mosquitto.log");
    std::string b = broker_log.ok() ? *broker_log : "";
    std::printf("--- broker log tail ---\n%s\n", b.substr(b.size() > 3000 ? b.size() - 3000 : 0).c_str());
    return 1;
  }
  cluster.Pump([] { return false; }, 5s);  // settle
  Sample a = Read(sim.pid()), ba = Read(cluster.broker->pid());
  auto reports0 = 0L;
  for (auto& [id, n] : cluster.information) reports0 += n;
  auto w0 = Clock::now();
  cluster.Pump([] { return false; }, std::chrono::seconds(idle_s));
  double wall = Secs(Clock::now() - w0);
  Sample b = Read(sim.pid()), bb = Read(cluster.broker->pid());
  long reports1 = 0;
  for (auto& [id, n] : cluster.information) reports1 += n;
  std::printf("sim idle: rss_mb=%.1f hwm_mb=%.1f threads=%ld fds=%d cpu_percent_of_one_core=%.2f reports_per_s=%.1f\n",
              b.rss_kb / 1024.0, b.hwm_kb / 1024.0, b.threads, b.fds, 100 * (b.cpu_s - a.cpu_s) / wall,
              (reports1 - reports0) / wall);
  std::printf("broker idle: rss_mb=%.1f cpu_percent_of_one_core=%.2f\n", bb.rss_kb / 1024.0,
              100 * (bb.cpu_s - ba.cpu_s) / wall);

  auto d0 = Clock::now();
  Sample c0 = Read(sim.pid());
  for (auto& [host, id] : cluster.ids) {
    cluster.Publish("nodes/" + id + "/control/deploy",
                    json{{"job_name", "app.ns.svc.ns"}, {"instance_number", 0}, {"memory", 64}, {"vcpus", 1}}.dump());
  }
  bool running = cluster.Pump([&] {
    size_t n = 0;
    for (auto& [host, id] : cluster.ids) n += cluster.job_status[id + " app.ns.svc.ns 0"] == "RUNNING";
    return n == cluster.ids.size();
  }, 120s);
  Sample c1 = Read(sim.pid());
  std::printf("deploy one instance per node: all_running=%s seconds=%.2f sim_cpu_s=%.2f\n", running ? "yes" : "NO",
              Secs(Clock::now() - d0), c1.cpu_s - c0.cpu_s);

  auto s0 = Clock::now();
  int st = sim.Stop(SIGTERM, 60s);
  std::printf("stop: exit_status=%d seconds=%.2f\n", st, Secs(Clock::now() - s0));
  return 0;
}
