#include "root/dispatcher.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/http_client.h"
#include "model/status_names.h"

namespace oak::root {

namespace asio = boost::asio;
using nlohmann::json;
namespace st = model::status;

namespace {

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

std::string MessageOf(const ClientResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  return "HTTP " + std::to_string(r.status);
}

// Fields a cluster may report for an instance, copied into the instance document.
constexpr const char* kReportedFields[] = {"worker_id", "publicip",       "host_ip", "host_port",
                                           "cpu_percent", "memory_percent", "disk",    "cluster_location"};

}  // namespace

Dispatcher::Dispatcher(asio::io_context& io, Store& store, ClusterRegistry& clusters, const Clock& clock,
                       DispatchOptions opts)
    : io_(io), store_(store), clusters_(clusters), clock_(clock), opts_(opts) {}

void Dispatcher::Deploy(const std::string& service_id, int64_t number) {
  if (!in_flight_.emplace(service_id, number).second) return;
  asio::co_spawn(io_, RunDeploy(service_id, number), asio::detached);
}

void Dispatcher::Undeploy(const std::string& cluster_id, const std::string& service_id, int64_t number) {
  if (!undeploying_.emplace(cluster_id, service_id, number).second) return;
  asio::co_spawn(io_, RunUndeploy(cluster_id, service_id, number), asio::detached);
}

Status Dispatcher::Resume() {
  auto pending = store_.ListUnfinishedInstances();
  if (!pending.ok()) return pending.status();
  if (pending->empty()) return Status::Ok();
  spdlog::info("msg=\"resuming instances\" count={} grace_ms={}", pending->size(), opts_.resume_grace.count());
  for (auto& inst : *pending) {
    // Already placed: the cluster is known, send again (deploys are idempotent at the cluster).
    if (inst.status == st::kClusterScheduled) Deploy(inst.service_id, inst.number);
    else resume_pending_.emplace_back(inst.service_id, inst.number);
  }
  auto timer = std::make_shared<asio::steady_timer>(io_, opts_.resume_grace);
  timer->async_wait([this, timer](const boost::system::error_code& ec) {
    if (!ec) ClusterAvailable();
  });
  return Status::Ok();
}

Status Dispatcher::Fail(InstanceRecord& inst, std::string status, std::string detail) {
  inst.status = std::move(status);
  inst.status_detail = std::move(detail);
  inst.updated_ms = clock_.NowMs();
  spdlog::info("msg=\"instance not placed\" service={} instance={} status={} detail=\"{}\"", inst.service_id,
               inst.number, inst.status, inst.status_detail);
  return store_.UpdateInstance(inst);
}

asio::awaitable<void> Dispatcher::RunDeploy(std::string service_id, int64_t number) {
  struct Done {
    Dispatcher* d;
    std::pair<std::string, int64_t> key;
    ~Done() { d->in_flight_.erase(key); }
  } done{this, {service_id, number}};

  auto svc = store_.GetService(service_id);
  auto inst = store_.GetInstance(service_id, number);
  if (!svc.ok() || !inst.ok()) co_return;  // deleted meanwhile
  if (inst->status != st::kRequested && inst->status != st::kClusterScheduled) co_return;

  auto req = scheduler::RequestFromService(svc->doc);
  if (!req.ok()) {
    (void)Fail(*inst, std::string(st::kFailed), req.status().message());
    co_return;
  }

  if (inst->status == st::kRequested) {
    auto candidates = clusters_.Candidates();
    auto decision = scheduler::Schedule(scheduler::Level::kCluster, *req, candidates, opts_.policy);
    if (!decision.ok()) {
      (void)Fail(*inst, decision.status, decision.detail);
      co_return;
    }
    const auto& chosen = candidates[static_cast<size_t>(decision.index)];
    inst->cluster_id = chosen.id;
    inst->status = st::kClusterScheduled;
    inst->status_detail.clear();
    if (const ClusterState* c = clusters_.Find(chosen.id))
      inst->doc["cluster_location"] = LocationText(c->rec.info);
    inst->updated_ms = clock_.NowMs();
    if (Status s = store_.UpdateInstance(*inst); !s.ok()) {
      spdlog::error("msg=\"cannot record placement\" service={} instance={} error=\"{}\"", service_id, number,
                    s.message());
      co_return;
    }
    clusters_.Reserve(chosen.id, req->need);
  }

  json body = svc->doc;
  body["_id"] = {{"$oid", service_id}};
  body["job_id"] = service_id;
  body["microserviceID"] = service_id;
  body["job_name"] = svc->job_name;
  body["instance_number"] = number;
  const std::string target = "/api/service/" + service_id + "/" + std::to_string(number);
  auto backoff = opts_.first_backoff;
  std::string last_error;
  for (int attempt = 1; attempt <= opts_.max_attempts; ++attempt) {
    const ClusterState* c = clusters_.Find(inst->cluster_id);
    if (!c) {
      last_error = "cluster " + inst->cluster_id + " is no longer registered";
      break;
    }
    auto url = ParseUrl(c->rec.manager_url);
    if (!url.ok()) {
      last_error = url.status().message();
      break;
    }
    ClientRequest creq;
    creq.method = boost::beast::http::verb::post;
    creq.target = target;
    creq.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    creq.bearer = c->rec.secret;
    creq.timeout = opts_.request_timeout;
    const std::string cluster_name = c->rec.name;
    auto res = co_await HttpFetch(io_.get_executor(), *url, std::move(creq));
    // The instance may have been undeployed while we waited.
    auto now = store_.GetInstance(service_id, number);
    if (!now.ok() || now->cluster_id != inst->cluster_id) co_return;
    if (res.ok() && res->status / 100 == 2) {
      spdlog::debug("msg=\"instance sent\" service={} instance={} cluster={}", service_id, number, cluster_name);
      co_return;
    }
    if (res.ok() && res->status / 100 == 4) {
      (void)Fail(*now, std::string(st::kFailed), "cluster " + cluster_name + " refused the instance: " + MessageOf(*res));
      co_return;
    }
    last_error = res.ok() ? "cluster " + cluster_name + " answered " + MessageOf(*res)
                          : "cluster " + cluster_name + ": " + res.status().message();
    spdlog::warn("msg=\"deploy attempt failed\" service={} instance={} attempt={} error=\"{}\"", service_id, number,
                 attempt, last_error);
    if (attempt < opts_.max_attempts) {
      co_await Sleep(backoff);
      backoff = std::min(backoff * 2, opts_.max_backoff);
    }
  }
  if (auto now = store_.GetInstance(service_id, number); now.ok() && now->cluster_id == inst->cluster_id)
    (void)Fail(*now, std::string(st::kFailed), "could not hand the instance to its cluster: " + last_error);
}

asio::awaitable<void> Dispatcher::RunUndeploy(std::string cluster_id, std::string service_id, int64_t number) {
  struct Done {
    Dispatcher* d;
    std::tuple<std::string, std::string, int64_t> key;
    ~Done() { d->undeploying_.erase(key); }
  } done{this, {cluster_id, service_id, number}};

  auto backoff = opts_.first_backoff;
  for (int attempt = 1; attempt <= opts_.max_attempts; ++attempt) {
    const ClusterState* c = clusters_.Find(cluster_id);
    if (!c) co_return;
    auto url = ParseUrl(c->rec.manager_url);
    if (!url.ok()) co_return;
    ClientRequest creq;
    creq.method = boost::beast::http::verb::delete_;
    creq.target = "/api/service/" + service_id + "/" + std::to_string(number);
    creq.bearer = c->rec.secret;
    creq.timeout = opts_.request_timeout;
    auto res = co_await HttpFetch(io_.get_executor(), *url, std::move(creq));
    if (res.ok() && (res->status / 100 == 2 || res->status == 404)) co_return;
    spdlog::warn("msg=\"undeploy attempt failed\" service={} instance={} cluster={} attempt={} error=\"{}\"",
                 service_id, number, cluster_id, attempt,
                 res.ok() ? MessageOf(*res) : res.status().message());
    if (attempt < opts_.max_attempts) {
      co_await Sleep(backoff);
      backoff = std::min(backoff * 2, opts_.max_backoff);
    }
  }
  // Not lost: the cluster keeps reporting the instance, and each report asks for its removal again.
}

namespace {

// One reported instance, checked.
struct Report {
  std::string service_id;
  int64_t number = 0;
  const json* fields = nullptr;
};

// Validates the whole report before anything is applied, so a bad entry changes nothing.
Result<std::vector<Report>> ParseJobReports(const json& jobs) {
  if (!jobs.is_array()) return Status::Invalid("jobs: must be an array");
  std::vector<Report> out;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const json& job = jobs[j];
    const std::string path = "jobs[" + std::to_string(j) + "]";
    if (!job.is_object()) return Status::Invalid(path + ": must be an object");
    std::string service_id;
    if (auto it = job.find("_id"); it != job.end()) {
      if (it->is_string()) service_id = it->get<std::string>();
      else if (it->is_object() && it->contains("$oid") && (*it)["$oid"].is_string()) service_id = (*it)["$oid"];
    }
    if (service_id.empty()) return Status::Invalid(path + "._id: required service id");
    auto list = job.find("instance_list");
    if (list == job.end()) continue;
    if (!list->is_array()) return Status::Invalid(path + ".instance_list: must be an array");
    for (size_t i = 0; i < list->size(); ++i) {
      const json& ri = (*list)[i];
      const std::string ipath = path + ".instance_list[" + std::to_string(i) + "]";
      if (!ri.is_object() || !ri.contains("instance_number") || !ri["instance_number"].is_number_integer())
        return Status::Invalid(ipath + ".instance_number: required integer");
      if (auto st = ri.find("status"); st != ri.end()) {
        if (!st->is_string() || !model::IsKnownStatus(st->get<std::string>()))
          return Status::Invalid(ipath + ".status: must be one of the instance statuses");
      }
      if (auto d = ri.find("status_detail"); d != ri.end() && !d->is_string())
        return Status::Invalid(ipath + ".status_detail: must be a string");
      out.push_back({service_id, ri["instance_number"].get<int64_t>(), &ri});
    }
  }
  return out;
}

}  // namespace

Status Dispatcher::ApplyJobReports(const ClusterState& cluster, const json& jobs) {
  auto reports = ParseJobReports(jobs);
  if (!reports.ok()) return reports.status();
  for (const Report& r : *reports) {
    const json& ri = *r.fields;
    auto inst = store_.GetInstance(r.service_id, r.number);
    if (!inst.ok() || inst->cluster_id != cluster.rec.id) {
      if (inst.ok() || inst.status().code() == Code::kNotFound) Undeploy(cluster.rec.id, r.service_id, r.number);
      continue;
    }
    std::string status = ri.contains("status") ? ri["status"].get<std::string>() : inst->status;
    std::string detail = ri.contains("status_detail") ? ri["status_detail"].get<std::string>()
                         : status == inst->status   ? inst->status_detail
                                                    : std::string();
    json doc = inst->doc;
    for (const char* f : kReportedFields)
      if (auto it = ri.find(f); it != ri.end()) doc[f] = *it;
    if (status == inst->status && detail == inst->status_detail && doc == inst->doc) continue;
    inst->status = std::move(status);
    inst->status_detail = std::move(detail);
    inst->doc = std::move(doc);
    inst->updated_ms = clock_.NowMs();
    OAK_RETURN_IF_ERROR(store_.UpdateInstance(*inst));
  }
  return Status::Ok();
}

void Dispatcher::ClusterAvailable() {
  if (resume_pending_.empty()) return;
  auto pending = std::move(resume_pending_);
  resume_pending_.clear();
  for (auto& [sid, n] : pending) Deploy(sid, n);
}

}  // namespace oak::root
