#include "support/tier_processes.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "common/fs.h"
#include "common/http_client.h"

namespace oak::testing {

ClusterProcess::ClusterProcess(std::string data_dir, std::string root_url, std::string cluster_token, ClusterConfig cfg)
    : data_dir_(std::move(data_dir)),
      root_url_(std::move(root_url)),
      cluster_token_(std::move(cluster_token)),
      cfg_(std::move(cfg)),
      mqtt_port_(FreePort()) {
  Start();
}

ClusterProcess::~ClusterProcess() {
  // SIGTERM first so the cluster stops its mosquitto; SIGKILL would leave that to PDEATHSIG.
  if (proc_) proc_->Stop(SIGTERM, std::chrono::seconds(5));
}

void ClusterProcess::Start() {
  if (proc_) proc_->Stop(SIGTERM, std::chrono::seconds(5));
  std::string ready = data_dir_ + ".ready";
  std::filesystem::remove(ready);
  std::vector<std::string> argv = {OAK_BINARY, "cluster", "--data-dir", data_dir_, "--root", root_url_,
                                   "--cluster-token", cluster_token_, "--name", cfg_.name, "--location",
                                   cfg_.location, "--listen", "127.0.0.1:0", "--mqtt-listen",
                                   "127.0.0.1:" + std::to_string(mqtt_port_), "--node-token", cfg_.node_token,
                                   "--ready-file", ready, "--log-level", "debug", "--report-interval", "1",
                                   "--node-timeout", "3"};
  argv.insert(argv.end(), cfg_.extra_args.begin(), cfg_.extra_args.end());
  proc_ = std::make_unique<Process>(argv, data_dir_ + ".log." + std::to_string(++starts_));
  bool up = WaitFor([&] { return std::filesystem::exists(ready) || !proc_->Running(); }, std::chrono::seconds(15));
  auto addr = ReadFile(ready);
  if (!up || !addr.ok()) {
    ADD_FAILURE() << "oak cluster did not start; log:\n" << proc_->Log();
    return;
  }
  std::string a = *addr;
  while (!a.empty() && a.back() == '\n') a.pop_back();
  url_ = "http://" + a;
}

void ClusterProcess::Kill9() {
  if (proc_) proc_->Stop(SIGKILL);
}

int ClusterProcess::Stop() { return proc_ ? proc_->Stop(SIGTERM) : -1; }

pid_t ClusterProcess::BrokerPid() const {
  const std::string log = Log();
  const std::string mark = "msg=\"mqtt broker up\" pid=";
  size_t at = log.rfind(mark);
  if (at == std::string::npos) return -1;
  return static_cast<pid_t>(std::strtol(log.c_str() + at + mark.size(), nullptr, 10));
}

nlohmann::json ClusterProcess::Nodes() const {
  auto url = ParseUrl(url_);
  if (!url.ok()) return nullptr;
  ClientRequest req;
  req.target = "/api/nodes";
  req.bearer = cfg_.node_token;
  auto res = HttpFetchSync(*url, std::move(req));
  if (!res.ok() || res->status != 200) return nullptr;
  return nlohmann::json::parse(res->body, nullptr, false);
}

NodeProcess::NodeProcess(std::string data_dir, std::string cluster_url, std::string node_token, NodeConfig cfg)
    : data_dir_(std::move(data_dir)),
      cluster_url_(std::move(cluster_url)),
      node_token_(std::move(node_token)),
      cfg_(std::move(cfg)) {
  Start();
}

NodeProcess::~NodeProcess() {
  if (proc_) proc_->Stop(SIGTERM, std::chrono::seconds(5));
}

void NodeProcess::Start() {
  if (proc_) proc_->Stop(SIGTERM, std::chrono::seconds(5));
  std::vector<std::string> argv = {OAK_BINARY, "node", "--data-dir", data_dir_, "--cluster", cluster_url_,
                                   "--node-token", node_token_, "--name", cfg_.name, "--runtime", cfg_.runtime,
                                   "--report-interval", "1", "--log-level", "debug"};
  argv.insert(argv.end(), cfg_.extra_args.begin(), cfg_.extra_args.end());
  proc_ = std::make_unique<Process>(argv, data_dir_ + ".log." + std::to_string(++starts_));
}

void NodeProcess::Kill9() {
  if (proc_) proc_->Stop(SIGKILL);
}

int NodeProcess::Stop() { return proc_ ? proc_->Stop(SIGTERM) : -1; }

}  // namespace oak::testing
