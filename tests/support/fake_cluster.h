// A stand-in for a cluster orchestrator, for testing the root's cluster-facing side: it registers
// with a real `oak root`, serves the deploy/undeploy routes on a loopback port (own thread), and
// sends heartbeats whose aggregates and instance statuses the test chooses.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "common/http_server.h"
#include "common/router.h"
#include "common/status.h"

namespace oak::testing {

struct FakeClusterConfig {
  std::string name = "fake";
  std::string location = "48.1,11.5,50";
  int64_t vcpus = 8;
  int64_t memory_mb = 8192;
  std::vector<std::string> virtualization = {"container"};
  std::vector<std::string> addons;
  unsigned deploy_answer = 200;  // what POST /api/service/... answers (per instance in a batch)
  bool batched = true;           // serves POST /api/instances/deploy (else 404, as a cluster without it)
};

struct ReceivedInstance {
  std::string job_id;
  int64_t number = 0;
  nlohmann::json body;
  std::string status = "RUNNING";  // reported in heartbeats
};

class FakeCluster {
 public:
  FakeCluster(std::string root_url, std::string join_token, FakeClusterConfig cfg);
  ~FakeCluster();

  Status Register();
  // Reports aggregates and every instance it holds; answers the root's HTTP status.
  unsigned Heartbeat();
  unsigned HeartbeatWith(const nlohmann::json& body);

  std::vector<ReceivedInstance> Instances();
  std::vector<std::pair<std::string, int64_t>> Undeploys();
  void SetStatus(const std::string& job_id, int64_t number, const std::string& status);
  size_t unauthorized_calls() const { return unauthorized_; }
  size_t batch_requests() const { return batch_requests_; }  // POST /api/instances/deploy served
  void set_deploy_answer(unsigned code) {
    std::lock_guard lock(mu_);  // read by the server thread
    cfg_.deploy_answer = code;
  }

  const std::string& id() const { return id_; }
  const std::string& secret() const { return secret_; }
  const std::string& url() const { return url_; }
  FakeClusterConfig& config() { return cfg_; }

 private:
  bool Authorized(const HttpRequest& req);

  std::string root_url_, join_token_;
  FakeClusterConfig cfg_;
  std::string id_, secret_, url_;
  boost::asio::io_context io_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::pair<std::string, int64_t>, ReceivedInstance> instances_;
  std::vector<std::pair<std::string, int64_t>> undeploys_;
  std::atomic<size_t> unauthorized_{0};
  std::atomic<size_t> batch_requests_{0};
};

}  // namespace oak::testing
