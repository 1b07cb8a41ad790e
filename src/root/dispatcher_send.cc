// Handing instances over to their clusters, and asking clusters to drop them.
#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "model/status_names.h"
#include "root/dispatcher.h"

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

}  // namespace

void Dispatcher::Send(const std::string& service_id, int64_t number, const std::string& cluster_id) {
  if (!in_flight_.emplace(service_id, number).second) return;
  Enqueue(cluster_id, Delivery{service_id, number, 1, opts_.first_backoff});
}

void Dispatcher::Enqueue(const std::string& cluster_id, Delivery d) {
  Outbox& box = outboxes_[cluster_id];
  box.queue.push_back(std::move(d));
  const bool batched = opts_.max_batch > 1 && !box.single_only;
  if (box.workers >= (batched ? opts_.batch_connections_per_cluster : opts_.max_connections_per_cluster)) return;
  ++box.workers;
  asio::co_spawn(io_, SendWorker(cluster_id), asio::detached);
}

std::vector<Dispatcher::Delivery> Dispatcher::Take(Outbox& box, size_t n) {
  std::vector<Delivery> out;
  n = std::min(n, box.queue.size());
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(std::move(box.queue.front()));
    box.queue.pop_front();
  }
  for (size_t i = 0; i < n && !box.room_waiters.empty() && box.queue.size() < opts_.max_queued_per_cluster; ++i) {
    box.room_waiters.front()->cancel();  // room for one more
    box.room_waiters.pop_front();
  }
  return out;
}

size_t Dispatcher::queued() const {
  size_t n = 0;
  for (auto& [id, box] : outboxes_) n += box.queue.size();
  return n;
}

asio::awaitable<void> Dispatcher::WaitForRoom(const std::string& cluster_id) {
  std::weak_ptr<int> alive = alive_;
  {
    Outbox& box = outboxes_[cluster_id];
    // First come, first served: nobody passes the ones already waiting.
    if (box.queue.size() < opts_.max_queued_per_cluster && box.room_waiters.empty()) co_return;
  }
  for (;;) {
    // A worker taking a delivery off the queue wakes the oldest waiter by cancelling its timer,
    // which lets it pass; the timeout only bounds a wake-up that never comes.
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(1));
    outboxes_[cluster_id].room_waiters.push_back(timer);
    auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (alive.expired() || ec == asio::error::operation_aborted) co_return;
    Outbox& box = outboxes_[cluster_id];
    box.room_waiters.erase(std::remove(box.room_waiters.begin(), box.room_waiters.end(), timer), box.room_waiters.end());
    if (box.queue.size() < opts_.max_queued_per_cluster) co_return;
  }
}

asio::awaitable<void> Dispatcher::SendWorker(std::string cluster_id) {
  std::weak_ptr<int> alive = alive_;
  for (;;) {
    Outbox& box = outboxes_[cluster_id];  // nodes are stable, but look it up after every wait anyway
    if (box.queue.empty()) {
      --box.workers;
      co_return;
    }
    if (opts_.max_batch > 1 && !box.single_only) {
      co_await AttemptBatch(cluster_id, Take(box, opts_.max_batch));
    } else {
      auto one = Take(box, 1);
      co_await Attempt(cluster_id, std::move(one.front()));
    }
    if (alive.expired()) co_return;
  }
}

asio::awaitable<void> Dispatcher::Attempt(std::string cluster_id, Delivery d) {
  std::weak_ptr<int> alive = alive_;
  auto svc = Service(d.service_id);  // placed moments ago: usually cached
  if (!svc.ok()) {
    Done(d.service_id, d.number);  // deleted meanwhile
    co_return;
  }
  std::shared_ptr<const ServiceInfo> info = std::move(*svc);

  std::string error;
  const ClusterState* c = clusters_.Find(cluster_id);
  Result<Url> url = c ? ParseUrl(c->rec.manager_url) : Result<Url>(Status::NotFound("cluster gone"));
  if (!c) {
    error = "cluster " + cluster_id + " is no longer registered";
  } else if (!url.ok()) {
    error = url.status().message();
  } else {
    ClientRequest creq;
    creq.method = boost::beast::http::verb::post;
    creq.target = "/api/service/" + d.service_id + "/" + std::to_string(d.number);
    creq.body = info->body_head + std::to_string(d.number) + "}";
    creq.bearer = c->rec.secret;
    creq.timeout = opts_.request_timeout;
    const std::string cluster_name = c->rec.name;
    auto res = co_await pool_.Fetch(*url, std::move(creq));
    if (alive.expired()) co_return;
    if (res.ok()) clusters_.NoteAnswer(cluster_id);
    if (res.ok() && res->status / 100 == 2) {
      spdlog::debug("msg=\"instance sent\" service={} instance={} cluster={}", d.service_id, d.number, cluster_name);
      Done(d.service_id, d.number);
      co_return;
    }
    if (res.ok() && res->status / 100 == 4) {
      std::string why = "cluster " + cluster_name + " refused the instance: " + MessageOf(*res);
      co_await Refused(cluster_id, d, std::move(why));
      co_return;
    }
    error = res.ok() ? "cluster " + cluster_name + " answered " + MessageOf(*res)
                     : "cluster " + cluster_name + ": " + res.status().message();
    co_await Retry(cluster_id, std::move(d), std::move(error));
    co_return;
  }
  d.attempt = opts_.max_attempts;  // the cluster is gone: no retry
  co_await Retry(cluster_id, std::move(d), std::move(error));
}

asio::awaitable<void> Dispatcher::Refused(const std::string& cluster_id, const Delivery& d, std::string why) {
  std::weak_ptr<int> alive = alive_;
  co_await Fail(d.service_id, d.number, std::string(st::kClusterScheduled), cluster_id, std::string(st::kFailed), why);
  if (!alive.expired()) Done(d.service_id, d.number);
}

asio::awaitable<void> Dispatcher::Retry(const std::string& cluster_id, Delivery d, std::string error) {
  std::weak_ptr<int> alive = alive_;
  if (d.attempt < opts_.max_attempts) {
    spdlog::warn("msg=\"deploy attempt failed\" service={} instance={} attempt={} error=\"{}\"", d.service_id,
                 d.number, d.attempt, error);
    // Undeployed, or reported by its cluster, while we waited: nothing left to hand over.
    if (!StillScheduled(d.service_id, d.number, cluster_id)) {
      Done(d.service_id, d.number);
      co_return;
    }
    // The retry waits on a timer, not in a worker, and joins the queue again when it fires.
    auto timer = std::make_shared<asio::steady_timer>(io_, d.backoff);
    d.attempt += 1;
    d.backoff = std::min(d.backoff * 2, opts_.max_backoff);
    timer->async_wait([this, timer, alive, cluster_id, d = std::move(d)](const boost::system::error_code& ec) mutable {
      if (!ec && !alive.expired()) Enqueue(cluster_id, std::move(d));
    });
    co_return;
  }
  if (!StillScheduled(d.service_id, d.number, cluster_id)) {
    Done(d.service_id, d.number);
    co_return;
  }
  const std::string why = std::string(kHandOverFailedPrefix) + error;
  co_await Fail(d.service_id, d.number, std::string(st::kClusterScheduled), cluster_id, std::string(st::kFailed), why);
  if (!alive.expired()) Done(d.service_id, d.number);
}

asio::awaitable<void> Dispatcher::RunUndeploy(std::string cluster_id, std::string service_id, int64_t number) {
  std::weak_ptr<int> alive = alive_;
  struct Guard {
    Dispatcher* d;
    std::weak_ptr<int> alive;
    std::tuple<std::string, std::string, int64_t> key;
    ~Guard() {
      if (!alive.expired()) d->undeploying_.erase(key);
    }
  } guard{this, alive, {cluster_id, service_id, number}};

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
    auto res = co_await pool_.Fetch(*url, std::move(creq));
    if (alive.expired()) co_return;
    if (res.ok()) clusters_.NoteAnswer(cluster_id);
    if (res.ok() && (res->status / 100 == 2 || res->status == 404)) co_return;
    spdlog::warn("msg=\"undeploy attempt failed\" service={} instance={} cluster={} attempt={} error=\"{}\"",
                 service_id, number, cluster_id, attempt, res.ok() ? MessageOf(*res) : res.status().message());
    if (attempt < opts_.max_attempts) {
      co_await Sleep(backoff);
      if (alive.expired()) co_return;
      backoff = std::min(backoff * 2, opts_.max_backoff);
    }
  }
  // Not lost: the cluster keeps reporting the instance, and each report asks for its removal again.
}

}  // namespace oak::root
