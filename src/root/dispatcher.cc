#include "root/dispatcher.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "model/status_names.h"

namespace oak::root {

namespace asio = boost::asio;
using nlohmann::json;
namespace st = model::status;

namespace {
// Documents derived per service are kept for this many services; beyond, the cache starts over.
constexpr size_t kMaxCachedServices = 512;
}  // namespace

Dispatcher::Dispatcher(asio::io_context& io, Store& store, GroupCommit& commit, ClusterRegistry& clusters,
                       const Clock& clock, DispatchOptions opts)
    : io_(io),
      store_(store),
      commit_(commit),
      clusters_(clusters),
      clock_(clock),
      opts_(opts),
      pool_(io.get_executor(), HttpPoolOptions{.max_per_host = opts.max_connections_per_cluster}) {}

Dispatcher::~Dispatcher() { alive_.reset(); }

std::shared_ptr<const Dispatcher::ServiceInfo> Dispatcher::Info(const StoredService& svc) {
  // Parsing the document and rendering the deploy body are done again only when the stored text
  // changed (PUT /api/service/<id>), not per instance.
  if (auto it = services_.find(svc.id);
      it != services_.end() && it->second->doc_text == svc.doc_text && it->second->job_name == svc.job_name)
    return it->second;
  auto info = std::make_shared<ServiceInfo>();
  json doc = json::parse(svc.doc_text, nullptr, false);
  if (!doc.is_object()) doc = json::object();
  info->id = svc.id;
  info->owner_id = svc.owner_id;
  info->doc_text = svc.doc_text;
  info->job_name = svc.job_name;
  info->request = scheduler::RequestFromService(doc);
  doc["_id"] = {{"$oid", svc.id}};
  doc["job_id"] = svc.id;
  doc["microserviceID"] = svc.id;
  doc["job_name"] = svc.job_name;
  doc.erase("instance_number");
  std::string head = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  info->doc_json = head;
  head.pop_back();  // the closing brace: the instance number follows
  if (head.size() > 1) head += ',';
  head += "\"instance_number\":";
  info->body_head = std::move(head);
  if (services_.size() >= kMaxCachedServices) services_.clear();
  services_[svc.id] = info;
  return info;
}

Result<std::shared_ptr<const Dispatcher::ServiceInfo>> Dispatcher::Service(const std::string& id) {
  if (auto it = services_.find(id); it != services_.end()) return it->second;
  auto svc = store_.GetStoredService(id);
  if (!svc.ok()) return svc.status();
  return Info(*svc);
}

void Dispatcher::Forget(const std::string& service_id) { services_.erase(service_id); }

Placement Dispatcher::Place(const ServiceInfo& info) {
  if (!info.request.ok()) return {std::string(st::kFailed), info.request.status().message(), "", ""};
  const scheduler::Request& req = *info.request;
  auto candidates = clusters_.Candidates();
  auto decision = scheduler::Schedule(scheduler::Level::kCluster, req, candidates, opts_.policy);
  if (!decision.ok()) return {std::move(decision.status), std::move(decision.detail), "", ""};
  const auto& chosen = candidates[static_cast<size_t>(decision.index)];
  clusters_.Reserve(chosen.id, req.need);
  const ClusterState* c = clusters_.Find(chosen.id);
  return {std::string(st::kClusterScheduled), "", chosen.id, c ? LocationText(c->rec.info) : std::string(),
          c ? c->rec.name : chosen.id};
}

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
    if (inst.status == st::kClusterScheduled) Send(inst.service_id, inst.number, inst.cluster_id);
    else resume_pending_.emplace_back(inst.service_id, inst.number);
  }
  auto timer = std::make_shared<asio::steady_timer>(io_, opts_.resume_grace);
  timer->async_wait([this, timer, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
    if (!ec && !alive.expired()) ClusterAvailable();
  });
  return Status::Ok();
}

void Dispatcher::ClusterAvailable() {
  if (resume_pending_.empty()) return;
  auto pending = std::move(resume_pending_);
  resume_pending_.clear();
  for (auto& [sid, n] : pending) Deploy(sid, n);
}

void Dispatcher::Maintain() { pool_.CloseIdle(HttpPoolOptions{}.idle_timeout); }

asio::awaitable<Result<bool>> Dispatcher::Transition(InstanceTransition t) {
  bool applied = false;
  Status s = co_await commit_.Write(
      [this, &t, &applied]() -> Status {
        auto r = store_.TransitionInstance(t);
        if (!r.ok()) return r.status();
        applied = *r;
        return Status::Ok();
      },
      asio::use_awaitable);
  if (!s.ok()) co_return s;
  co_return applied;
}

asio::awaitable<void> Dispatcher::Fail(const std::string& service_id, int64_t number, const std::string& from_status,
                                       const std::string& from_cluster, const std::string& status,
                                       const std::string& detail) {
  spdlog::info("msg=\"instance not placed\" service={} instance={} status={} detail=\"{}\"", service_id, number,
               status, detail);
  // A named transition, not a braced temporary: GCC 12 destroys such coroutine arguments twice.
  InstanceTransition t{service_id, number, from_status, from_cluster, status, detail, "", "", clock_.NowMs()};
  auto r = co_await Transition(std::move(t));
  if (!r.ok())
    spdlog::error("msg=\"cannot record failure\" service={} instance={} error=\"{}\"", service_id, number,
                  r.status().message());
}

bool Dispatcher::StillScheduled(const std::string& service_id, int64_t number, const std::string& cluster_id) {
  auto now = store_.GetInstance(service_id, number);
  return now.ok() && now->cluster_id == cluster_id && now->status == st::kClusterScheduled;
}

asio::awaitable<void> Dispatcher::RunDeploy(std::string service_id, int64_t number) {
  std::weak_ptr<int> alive = alive_;
  bool handed_over = false;
  struct Guard {
    Dispatcher* d;
    std::weak_ptr<int> alive;
    const std::string& sid;
    int64_t n;
    const bool& handed_over;
    ~Guard() {
      if (!handed_over && !alive.expired()) d->Done(sid, n);
    }
  } guard{this, alive, service_id, number, handed_over};

  auto svc = Service(service_id);
  if (!svc.ok()) co_return;  // deleted meanwhile
  Placement p = Place(**svc);
  const std::string requested(st::kRequested);
  if (p.cluster_id.empty()) {
    co_await Fail(service_id, number, requested, "", p.status, p.status_detail);
    co_return;
  }
  InstanceTransition t{service_id, number,       requested, "", p.status, "", p.cluster_id, p.cluster_location,
                       clock_.NowMs()};
  auto placed = co_await Transition(std::move(t));
  if (alive.expired()) co_return;
  if (!placed.ok()) {
    spdlog::error("msg=\"cannot record placement\" service={} instance={} error=\"{}\"", service_id, number,
                  placed.status().message());
    co_return;
  }
  if (!*placed) co_return;  // removed (or moved on) while the placement waited for its commit
  handed_over = true;
  Enqueue(p.cluster_id, Delivery{service_id, number, 1, opts_.first_backoff});
}

}  // namespace oak::root
