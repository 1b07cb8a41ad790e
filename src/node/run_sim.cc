// `oak sim`: many simulated nodes in one process. They share the event loop; each has its own
// identity, synthetic machine, simulated runtime and MQTT session, exactly like N `oak node
// --runtime simulated` processes would, minus the per-process overhead.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <random>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "common/log.h"
#include "node/agent.h"
#include "node/registration_gate.h"
#include "node/run.h"
#include "node/synthetic_probe.h"

namespace oak::node {

namespace asio = boost::asio;

namespace {

struct SimNode {
  SimNode(asio::any_io_executor ex, const SyntheticSpec& spec, SimulatedOptions so, AgentOptions ao,
          RegistrationGate& gate)
      : probe(spec),
        runtime(ex, [&] {
          so.node_memory_mb = probe.Describe().memory_mb;
          return so;
        }()),
        agent(ex, std::move(ao), probe, runtime, &gate) {}

  SyntheticProbe probe;
  SimulatedRuntime runtime;
  NodeAgent agent;  // declared last: destroyed first, while probe and runtime still exist
};

// Every few seconds, logs how many nodes are registered and connected when that has changed.
void LogProgress(asio::steady_timer& timer, const std::vector<std::unique_ptr<SimNode>>& nodes,
                 std::pair<size_t, size_t> last = {}) {
  timer.expires_after(std::chrono::seconds(5));
  timer.async_wait([&timer, &nodes, last](const boost::system::error_code& ec) {
    if (ec) return;
    std::pair<size_t, size_t> now{0, 0};
    for (const auto& n : nodes) {
      now.first += n->agent.registrations() > 0;
      now.second += n->agent.connected();
    }
    if (now != last) {
      spdlog::info("msg=progress nodes={} registered={} connected={}", nodes.size(), now.first, now.second);
    }
    LogProgress(timer, nodes, now);
  });
}

// Each node holds four descriptors (its MQTT socket, our watch on it, libmosquitto's wake-up pair):
// raise the soft limit to the hard one and say so when that is still too few.
void RaiseDescriptorLimit(int nodes) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  rlim_t need = static_cast<rlim_t>(nodes) * 4 + 64;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
    spdlog::warn("msg=\"descriptor limit too low for this many nodes\" limit={} need={}", lim.rlim_cur, need);
  }
}

}  // namespace

int RunSim(const SimOptions& o) {
  if (Status s = InitLogging(o.common.log_level, "sim"); !s.ok()) {
    std::fprintf(stderr, "oak sim: %s\n", s.message().c_str());
    return 2;
  }
  auto fail = [](const Status& s) {
    spdlog::critical("msg=\"cannot start\" error=\"{}\"", s.message());
    return 2;
  };
  auto so = SimulatedFromFlags(o.common);
  if (!so.ok()) return fail(so.status());
  if (o.nodes < 1) return fail(Status::Invalid("--nodes must be at least 1"));
  uint64_t seed = o.common.seed ? o.common.seed : std::random_device{}();
  RaiseDescriptorLimit(o.nodes);

  asio::io_context io;
  RegistrationGate gate(io.get_executor(), o.concurrency);
  std::vector<std::unique_ptr<SimNode>> nodes;
  nodes.reserve(static_cast<size_t>(o.nodes));
  int exit_code = 0;
  auto stop_all = [&] {
    for (auto& n : nodes) {
      n->agent.Stop();
      n->runtime.Shutdown();
    }
    io.stop();
  };
  for (int i = 0; i < o.nodes; ++i) {
    SyntheticSpec spec;
    spec.host = o.name_prefix + "-" + std::to_string(i);
    spec.seed = seed + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;  // distinct streams per node
    SimulatedOptions rs = *so;
    rs.seed = spec.seed ^ 0x5bd1e995;
    AgentOptions ao;
    ao.cluster_url = o.common.cluster_url;
    ao.node_token = o.common.node_token;
    ao.report_interval = ReportInterval(o.common.report_interval_s);
    ao.seed = spec.seed;
    ao.passing_hold = std::chrono::milliseconds(o.common.status_hold_ms);
    ao.routine_log_level = spdlog::level::debug;
    ao.mqtt_driver = o.mqtt_driver == "thread" ? MqttDriver::kThread : MqttDriver::kExecutor;
    nodes.push_back(std::make_unique<SimNode>(io.get_executor(), spec, rs, ao, gate));
    // One refused token means all are refused: stop the whole process.
    nodes.back()->agent.OnFatal([&](const Status&) {
      exit_code = 1;
      asio::post(io, stop_all);
    });
  }
  for (auto& n : nodes) {
    if (Status s = n->agent.Start(); !s.ok()) return fail(s);
  }
  spdlog::info("msg=\"sim started\" nodes={} prefix={} concurrency={} seed={}", o.nodes, o.name_prefix, o.concurrency,
               seed);
  asio::steady_timer progress(io);
  LogProgress(progress, nodes);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("msg=\"stopping\" signal={} nodes={}", sig, nodes.size());
    stop_all();
  });
  io.run();
  stop_all();
  return exit_code;
}

}  // namespace oak::node
