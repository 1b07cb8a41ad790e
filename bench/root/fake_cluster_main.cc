// oak_bench_fake_cluster: a stand-in cluster orchestrator for the root benchmarks.
//
// It registers with a running `oak root` (retrying until the root answers), accepts every deploy on
// its loopback port, and sends a heartbeat every second with a very large capacity, so that the
// root's dispatcher always finds a place and never waits for capacity. Each heartbeat reports the
// instances received since the previous one as RUNNING, once: a real cluster pushes status changes,
// and re-reporting tens of thousands of unchanged instances every second would measure the fake,
// not the root.
//
//   oak_bench_fake_cluster --root http://127.0.0.1:PORT --token JOIN_TOKEN
//                          [--name bench] [--ready-file F] [--stats-file F]
//
// The ready file receives the cluster id once registered; the stats file is rewritten after every
// heartbeat with `received=N reported=N heartbeats=N failed_heartbeats=N`. Stops on SIGTERM/SIGINT.
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "support/fake_cluster.h"

namespace {

using nlohmann::json;

struct Args {
  std::string root, token, name = "bench", ready_file, stats_file;
};

bool Parse(int argc, char** argv, Args& a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--root") a.root = v;
    else if (k == "--token") a.token = v;
    else if (k == "--name") a.name = v;
    else if (k == "--ready-file") a.ready_file = v;
    else if (k == "--stats-file") a.stats_file = v;
    else return false;
  }
  return !a.root.empty() && !a.token.empty() && argc % 2 == 1;
}

// Waits up to `ms` for SIGTERM/SIGINT (blocked in every thread); answers true when one arrived.
bool StopRequested(const sigset_t& set, long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1'000'000};
  for (;;) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) return true;
    if (errno == EAGAIN) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!Parse(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: %s --root URL --token JOIN_TOKEN [--name N] [--ready-file F] [--stats-file F]\n", argv[0]);
    return 2;
  }
  // Block the stop signals before FakeCluster starts its thread, so only sigtimedwait sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  oak::testing::FakeClusterConfig cfg;
  cfg.name = a.name;
  cfg.vcpus = 1'000'000;
  cfg.memory_mb = 1'000'000'000;
  oak::testing::FakeCluster cluster(a.root, a.token, cfg);

  for (;;) {
    auto s = cluster.Register();
    if (s.ok()) break;
    std::fprintf(stderr, "fake cluster: register: %s (retrying)\n", s.message().c_str());
    if (StopRequested(stop, 500)) return 1;
  }
  std::fprintf(stderr, "fake cluster: registered as %s, serving %s\n", cluster.id().c_str(), cluster.url().c_str());
  if (!a.ready_file.empty()) (void)oak::WriteFileAtomic(a.ready_file, cluster.id() + "\n", 0644);

  std::set<std::pair<std::string, int64_t>> reported;
  size_t heartbeats = 0, failed = 0, received = 0;
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    next += std::chrono::seconds(1);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
    if (StopRequested(stop, std::max<long>(0, wait.count()))) break;

    json jobs = json::object();
    std::vector<std::pair<std::string, int64_t>> fresh;
    auto all = cluster.Instances();
    received = all.size();
    for (const auto& inst : all) {
      if (!reported.emplace(inst.job_id, inst.number).second) continue;
      fresh.emplace_back(inst.job_id, inst.number);
      json& job = jobs[inst.job_id];
      job["_id"] = inst.job_id;
      job["job_name"] = inst.body.value("job_name", std::string());
      job["instance_list"].push_back({{"instance_number", inst.number},
                                      {"status", "RUNNING"},
                                      {"worker_id", a.name + "-worker"},
                                      {"publicip", "127.0.0.1"}});
    }
    json list = json::array();
    for (auto& [id, job] : jobs.items()) list.push_back(std::move(job));
    unsigned code = cluster.HeartbeatWith({{"cpu_percent", 1.0},
                                           {"memory_percent", 1.0},
                                           {"vcpus", cfg.vcpus},
                                           {"memory", cfg.memory_mb},
                                           {"vgpus", 0},
                                           {"virtualization", cfg.virtualization},
                                           {"supported_addons", json::array()},
                                           {"active_nodes", 1},
                                           {"jobs", list}});
    ++heartbeats;
    if (code != 200) {
      ++failed;
      for (const auto& k : fresh) reported.erase(k);  // report them again next time
      std::fprintf(stderr, "fake cluster: heartbeat answered %u\n", code);
    }
    if (!a.stats_file.empty())
      (void)oak::WriteFileAtomic(a.stats_file,
                                 "received=" + std::to_string(received) + " reported=" + std::to_string(reported.size()) +
                                     " heartbeats=" + std::to_string(heartbeats) +
                                     " failed_heartbeats=" + std::to_string(failed) + "\n",
                                 0644);
  }
  std::printf("received=%zu reported=%zu heartbeats=%zu failed_heartbeats=%zu\n", received, reported.size(), heartbeats,
              failed);
  return 0;
}
