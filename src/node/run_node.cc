// `oak node`: one agent for this machine.
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <random>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/http_client.h"
#include "common/log.h"
#include "node/agent.h"
#include "node/host_probe.h"
#include "node/run.h"
#include "node/runc_stack.h"

namespace oak::node {

namespace asio = boost::asio;

Result<SimulatedOptions> SimulatedFromFlags(const CommonNodeOptions& o) {
  if (o.runtime != "simulated" && o.runtime != "runc") return Status::Invalid("unknown runtime '" + o.runtime + "' (runc, simulated)");
  SimulatedOptions s;
  s.failure_rate = o.sim_failure_rate;
  s.start_delay = std::chrono::milliseconds(o.sim_start_delay_ms);
  s.one_shot_run = std::chrono::milliseconds(o.sim_run_ms);
  s.seed = o.seed ? o.seed : std::random_device{}();
  OAK_RETURN_IF_ERROR(SimulatedRuntime::Validate(s));
  return s;
}

namespace {

// The address this machine uses to reach the cluster: what the cluster (and other nodes) can
// reach us on. A connected UDP socket sends nothing; the kernel just picks the route.
std::string LocalAddressFor(const Url& cluster) {
  asio::io_context io;
  boost::system::error_code ec;
  asio::ip::udp::resolver resolver(io);
  auto eps = resolver.resolve(cluster.host, std::to_string(cluster.port), ec);
  if (ec || eps.empty()) return "";
  asio::ip::udp::socket sock(io);
  sock.connect(*eps.begin(), ec);
  if (ec) return "";
  auto local = sock.local_endpoint(ec);
  return ec ? "" : local.address().to_string();
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "node";
  return buf;
}

}  // namespace

std::chrono::milliseconds ReportInterval(double seconds) {
  if (seconds <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::max<int64_t>(10, std::llround(seconds * 1000)));
}

int RunNode(const NodeOptions& o) {
  if (Status s = InitLogging(o.common.log_level, "node"); !s.ok()) {
    std::fprintf(stderr, "oak node: %s\n", s.message().c_str());
    return 2;
  }
  auto fail = [](const Status& s) {
    spdlog::critical("msg=\"cannot start\" error=\"{}\"", s.message());
    return 2;
  };
  auto sim = SimulatedFromFlags(o.common);
  if (!sim.ok()) return fail(sim.status());
  const bool runc = o.common.runtime == "runc";
  if (runc && ::geteuid() != 0) {
    return fail(Status::Invalid("the runc runtime needs root (it creates containers, mounts and network "
                                "namespaces); run as root or use --runtime simulated"));
  }
  if (!o.reset && o.common.cluster_url.empty()) return fail(Status::Invalid("--cluster is required"));
  if (!o.reset && o.common.node_token.empty()) return fail(Status::Invalid("--node-token is required"));
  auto url = ParseUrl(o.reset && o.common.cluster_url.empty() ? "http://127.0.0.1:1" : o.common.cluster_url);
  if (!url.ok()) return fail(Status::Invalid("--cluster: " + url.status().message()));
  if (o.data_dir.empty()) return fail(Status::Invalid("--data-dir is required"));
  if (Status s = EnsureDir(o.data_dir, 0700); !s.ok()) return fail(s);

  asio::io_context io;
  std::string ip = LocalAddressFor(*url);
  if (ip.empty()) spdlog::warn("msg=\"cannot tell this node's address towards the cluster\" cluster={}", url->host);
  auto probe = HostProbe::Create(io.get_executor(), o.data_dir, o.name.empty() ? HostName() : o.name, ip, o.location);
  if (!probe.ok()) return fail(probe.status());
  sim->node_memory_mb = std::max<int64_t>(1, (*probe)->Describe().memory_mb);
  std::unique_ptr<SimulatedRuntime> simulated;
  std::unique_ptr<RuncStack> stack;
  if (runc) {
    auto tag = RuncStack::LoadTag(o.data_dir);
    if (!tag.ok()) return fail(tag.status());
    stack = std::make_unique<RuncStack>(io.get_executor(), RuncStackOptions{o.data_dir, o.insecure_registries, o.subnet},
                                        *tag);
    if (o.reset) {
      Status s = stack->runtime().Start();
      if (s.ok()) s = stack->runtime().RemoveAll();
      if (Status t = stack->network().Teardown(); s.ok()) s = t;
      if (!s.ok()) return fail(s);
      spdlog::info("msg=\"removed every container and the network of this node\" data_dir={}", o.data_dir);
      return 0;
    }
    if (Status s = stack->runtime().Start(); !s.ok()) return fail(s);
  } else {
    simulated = std::make_unique<SimulatedRuntime>(io.get_executor(), *sim);
  }
  Runtime& runtime = runc ? static_cast<Runtime&>(stack->runtime()) : *simulated;

  AgentOptions ao;
  ao.cluster_url = o.common.cluster_url;
  ao.node_token = o.common.node_token;
  ao.data_dir = o.data_dir;
  ao.report_interval = ReportInterval(o.common.report_interval_s);
  ao.seed = o.common.seed;
  ao.passing_hold = std::chrono::milliseconds(o.common.status_hold_ms);
  if (runc && o.subnet.empty()) ao.on_subnet = [&stack](const std::string& subnet) { stack->network().SetAssignedSubnet(subnet); };
  NodeAgent agent(io.get_executor(), ao, **probe, runtime);
  int exit_code = 0;
  agent.OnFatal([&](const Status&) {
    exit_code = 1;
    io.stop();
  });
  if (Status s = agent.Start(); !s.ok()) return fail(s);
  spdlog::info("msg=\"node agent started\" runtime={} data_dir={}", runtime.name(), o.data_dir);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("msg=\"stopping\" signal={}", sig);
    agent.Stop();  // DISCONNECT: the broker drops the last will
    runtime.Shutdown();
    io.stop();
  });
  io.run();
  agent.Stop();
  runtime.Shutdown();
  return exit_code;
}

}  // namespace oak::node
