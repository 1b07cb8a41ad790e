#include "support/fake_cluster.h"

#include <boost/asio/executor_work_guard.hpp>

#include "common/http_client.h"

namespace oak::testing {

using nlohmann::json;
namespace http = boost::beast::http;

FakeCluster::FakeCluster(std::string root_url, std::string join_token, FakeClusterConfig cfg)
    : root_url_(std::move(root_url)), join_token_(std::move(join_token)), cfg_(std::move(cfg)) {
  router_.Add(http::verb::post, "/api/service/{}/{}", [this](HttpRequest& req) {
    if (!Authorized(req)) return HttpResponse::Error(401, "not the root");
    auto body = json::parse(req.body(), nullptr, false);
    std::lock_guard lock(mu_);
    if (cfg_.deploy_answer / 100 != 2) return HttpResponse::Error(cfg_.deploy_answer, "fake refusal");
    int64_t n = std::stoll(req.params[1]);
    auto& inst = instances_[{req.params[0], n}];
    inst.job_id = req.params[0];
    inst.number = n;
    inst.body = body;
    return HttpResponse::Json(200, {{"message", "accepted"}});
  });
  router_.Add(http::verb::post, "/api/instances/deploy", [this](HttpRequest& req) {
    {
      std::lock_guard lock(mu_);
      if (!cfg_.batched) return HttpResponse::Error(404, "no route");
    }
    if (!Authorized(req)) return HttpResponse::Error(401, "not the root");
    ++batch_requests_;
    auto body = json::parse(req.body(), nullptr, false);
    std::lock_guard lock(mu_);
    json results = json::array();
    for (auto& job : body["jobs"]) {
      const std::string id = job["job_id"];
      for (auto& num : job["instance_numbers"]) {
        int64_t n = num.get<int64_t>();
        json r{{"job_id", id}, {"instance_number", n}, {"code", cfg_.deploy_answer}};
        if (cfg_.deploy_answer / 100 == 2) {
          auto& inst = instances_[{id, n}];
          inst.job_id = id;
          inst.number = n;
          inst.body = job["service"];
          inst.body["instance_number"] = n;
        } else {
          r["message"] = "fake refusal";
        }
        results.push_back(std::move(r));
      }
    }
    return HttpResponse::Json(200, {{"results", std::move(results)}});
  });
  router_.Add(http::verb::delete_, "/api/service/{}/{}", [this](HttpRequest& req) {
    if (!Authorized(req)) return HttpResponse::Error(401, "not the root");
    std::lock_guard lock(mu_);
    int64_t n = std::stoll(req.params[1]);
    undeploys_.emplace_back(req.params[0], n);
    for (auto it = instances_.begin(); it != instances_.end();) {
      if (it->first.first == req.params[0] && (n == -1 || it->first.second == n)) it = instances_.erase(it);
      else ++it;
    }
    return HttpResponse::Json(200, {{"message", "removed"}});
  });
  server_ = std::make_unique<HttpServer>(io_, router_, HttpServerOptions{});
  auto port = server_->Listen("127.0.0.1", 0);
  url_ = "http://127.0.0.1:" + std::to_string(port.ok() ? *port : 0);
  thread_ = std::thread([this] {
    auto guard = boost::asio::make_work_guard(io_);
    io_.run();
  });
}

FakeCluster::~FakeCluster() {
  io_.stop();
  thread_.join();
}

bool FakeCluster::Authorized(const HttpRequest& req) {
  std::lock_guard lock(mu_);
  bool ok = !secret_.empty() && req.BearerToken() == secret_;
  if (!ok) ++unauthorized_;
  return ok;
}

Status FakeCluster::Register() {
  auto url = ParseUrl(root_url_);
  if (!url.ok()) return url.status();
  ClientRequest req;
  req.method = http::verb::post;
  req.target = "/api/clusters/register";
  req.bearer = join_token_;
  req.body = json{{"cluster_name", cfg_.name},
                  {"cluster_location", cfg_.location},
                  {"manager_url", url_},
                  {"virtualization", cfg_.virtualization},
                  {"supported_addons", cfg_.addons}}
                 .dump();
  auto res = HttpFetchSync(*url, std::move(req));
  if (!res.ok()) return res.status();
  if (res->status != 200) return Status::Unauthorized("register answered " + std::to_string(res->status) + ": " + res->body);
  auto j = json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("id") || !j.contains("secret")) return Status::Internal("bad register answer " + res->body);
  std::lock_guard lock(mu_);
  id_ = j["id"];
  secret_ = j["secret"];
  return Status::Ok();
}

unsigned FakeCluster::Heartbeat() {
  json jobs = json::object();
  {
    std::lock_guard lock(mu_);
    for (auto& [key, inst] : instances_) {
      json& job = jobs[inst.job_id];
      job["_id"] = inst.job_id;
      job["job_name"] = inst.body.value("job_name", std::string());
      job["instance_list"].push_back({{"instance_number", inst.number},
                                      {"status", inst.status},
                                      {"worker_id", cfg_.name + "-worker"},
                                      {"publicip", "127.0.0.1"}});
    }
  }
  json list = json::array();
  for (auto& [id, job] : jobs.items()) list.push_back(job);
  return HeartbeatWith({{"cpu_percent", 10.0},
                        {"memory_percent", 20.0},
                        {"vcpus", cfg_.vcpus},
                        {"memory", cfg_.memory_mb},
                        {"vgpus", 0},
                        {"virtualization", cfg_.virtualization},
                        {"supported_addons", cfg_.addons},
                        {"active_nodes", 1},
                        {"jobs", list}});
}

unsigned FakeCluster::HeartbeatWith(const json& body) {
  auto url = ParseUrl(root_url_);
  if (!url.ok()) return 0;
  ClientRequest req;
  req.method = http::verb::post;
  {
    std::lock_guard lock(mu_);
    req.target = "/api/information/" + id_;
    req.bearer = secret_;
  }
  req.body = body.dump();
  auto res = HttpFetchSync(*url, std::move(req));
  return res.ok() ? res->status : 0;
}

std::vector<ReceivedInstance> FakeCluster::Instances() {
  std::lock_guard lock(mu_);
  std::vector<ReceivedInstance> out;
  for (auto& [k, v] : instances_) out.push_back(v);
  return out;
}

std::vector<std::pair<std::string, int64_t>> FakeCluster::Undeploys() {
  std::lock_guard lock(mu_);
  return undeploys_;
}

void FakeCluster::SetStatus(const std::string& job_id, int64_t number, const std::string& status) {
  std::lock_guard lock(mu_);
  auto it = instances_.find({job_id, number});
  if (it != instances_.end()) it->second.status = status;
}

}  // namespace oak::testing
