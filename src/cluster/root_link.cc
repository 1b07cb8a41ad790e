#include "cluster/root_link.h"

#include <algorithm>
#include <map>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/json_text.h"
#include "model/status_names.h"

namespace oak::cluster {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

constexpr const char* kMetaId = "root.cluster_id";
constexpr const char* kMetaSecret = "root.secret";

namespace st = model::status;

// Statuses an instance passes on its way from the cluster's hands to RUNNING.
bool InPassing(std::string_view s) { return s == st::kNodeScheduled || s == st::kCreating || s == st::kCreated; }

asio::awaitable<void> Sleep(asio::steady_timer& t, std::chrono::milliseconds d) {
  t.expires_after(d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace

RootLink::RootLink(asio::io_context& io, Store& store, NodeRegistry& nodes, Manager& manager, RootLinkOptions opts)
    : io_(io),
      store_(store),
      nodes_(nodes),
      manager_(manager),
      opts_(std::move(opts)),
      wake_(io),
      push_timer_(io),
      pool_(io.get_executor(), HttpPoolOptions{.max_per_host = 1}) {}

void RootLink::Start() {
  auto url = ParseUrl(opts_.root_url);
  if (!url.ok()) {
    spdlog::error("msg=\"bad root URL; running without a root\" error=\"{}\"", url.status().message());
    return;
  }
  url_ = *url;
  if (auto id = store_.GetMeta(kMetaId); id.ok() && *id) cluster_id_ = **id;
  if (auto s = store_.GetMeta(kMetaSecret); s.ok() && *s) secret_ = **s;
  asio::co_spawn(io_, Run(), asio::detached);
}

void RootLink::Stop() {
  stopped_ = true;
  wake_.cancel();
  push_timer_.cancel();
  // Each woken waiter finds stopped_ and releases in turn.
  for (auto& w : send_waiters_) w->cancel();
  send_waiters_.clear();
}

asio::awaitable<void> RootLink::AcquireSend() {
  if (!sending_) {
    sending_ = true;
    co_return;
  }
  // Handed over by ReleaseSend in arrival order (sending_ stays set), so that a push loop with
  // changes to send all the time cannot keep the heartbeat waiting.
  auto t = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
  send_waiters_.push_back(t);
  co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
}

void RootLink::ReleaseSend() {
  if (send_waiters_.empty()) {
    sending_ = false;
    return;
  }
  send_waiters_.front()->cancel();
  send_waiters_.pop_front();
}

void RootLink::MarkDirty(const InstanceKey& key) {
  dirty_.insert(key);
  if (push_armed_ || stopped_ || !registered()) return;
  push_armed_ = true;
  asio::co_spawn(io_, PushLoop(), asio::detached);
}

asio::awaitable<Result<unsigned>> RootLink::Post(std::string target, std::string bearer, std::string body) {
  ClientRequest req;
  req.method = http::verb::post;
  req.target = std::move(target);
  req.bearer = std::move(bearer);
  req.body = std::move(body);
  req.timeout = std::chrono::seconds(10);
  // Reports are idempotent: the pool may send one again on a fresh connection.
  auto res = co_await pool_.Fetch(url_, std::move(req));
  if (!res.ok()) {
    if (root_reachable_) spdlog::warn("msg=\"root unreachable; working on\" error=\"{}\"", res.status().message());
    root_reachable_ = false;
    co_return res.status();
  }
  if (!root_reachable_) spdlog::info("msg=\"root reachable again\"");
  root_reachable_ = true;
  if (res->status == 401 || res->status == 404) {
    spdlog::warn("msg=\"root no longer knows this cluster; registering again\" status={}", res->status);
    secret_.clear();
  } else if (res->status / 100 != 2) {
    spdlog::warn("msg=\"root refused a report\" status={} body=\"{}\"", res->status, res->body.substr(0, 300));
  } else if (res->body.find("\"resync\"") != std::string::npos) {
    auto answer = json::parse(res->body, nullptr, false);
    if (answer.is_object() && answer.value("resync", false)) {
      spdlog::info("msg=\"root asks for every instance\"");
      resync_wanted_ = true;
      wake_.cancel();
    }
  }
  co_return res->status;
}

asio::awaitable<Status> RootLink::Register() {
  json body{{"cluster_name", opts_.name},
            {"cluster_location", opts_.location},
            {"virtualization", json::array()},
            {"supported_addons", json::array()}};
  if (!opts_.manager_url.empty()) body["manager_url"] = opts_.manager_url;
  else body["manager_port"] = opts_.manager_port;
  Aggregates a = nodes_.Aggregate();
  body["virtualization"] = a.virtualization;
  body["supported_addons"] = a.addons;
  ClientRequest req;
  req.method = http::verb::post;
  req.target = "/api/clusters/register";
  req.bearer = opts_.cluster_token;
  req.body = body.dump();
  auto res = co_await HttpFetch(io_.get_executor(), url_, std::move(req));
  if (!res.ok()) co_return res.status();
  if (res->status == 401 || res->status == 403)
    co_return Status::Unauthorized("root refused the cluster token (" + std::to_string(res->status) + ")");
  json j = json::parse(res->body, nullptr, false);
  if (res->status != 200 || !j.is_object() || !j.contains("id") || !j["id"].is_string() || !j.contains("secret") ||
      !j["secret"].is_string())
    co_return Status::Unavailable("registration answered " + std::to_string(res->status) + ": " + res->body.substr(0, 300));
  cluster_id_ = j["id"].get<std::string>();
  secret_ = j["secret"].get<std::string>();
  if (auto it = j.find("heartbeat_interval_s"); it != j.end() && it->is_number_integer() && it->get<int64_t>() > 0)
    opts_.heartbeat = std::chrono::seconds(std::min<int64_t>(it->get<int64_t>(), 3600));
  Status saved = store_.SetMeta(kMetaId, cluster_id_);
  if (saved.ok()) saved = store_.SetMeta(kMetaSecret, secret_);
  if (!saved.ok()) co_return saved;
  spdlog::info("msg=\"registered with the root\" cluster_id={} heartbeat_s={}", cluster_id_,
               std::chrono::duration_cast<std::chrono::seconds>(opts_.heartbeat).count());
  co_return Status::Ok();
}

void RootLink::HeartbeatIfNodesChanged() {
  if (registered() && nodes_.Aggregate().active_nodes != sent_active_nodes_) wake_.cancel();
}

json RootLink::AggregatesJson() {
  Aggregates a = nodes_.Aggregate();
  sent_active_nodes_ = a.active_nodes;
  return json{{"cpu_percent", a.cpu_percent},     {"memory_percent", a.memory_percent},
              {"vcpus", a.free.vcpus},            {"memory", a.free.memory_mb},
              {"storage", a.free.storage_mb},     {"vgpus", a.free.vgpus},
              {"vram", 0},                        {"virtualization", a.virtualization},
              {"supported_addons", a.addons},     {"csi_drivers", json::array()},
              {"architectures", a.architectures}, {"active_nodes", a.active_nodes}};
}

asio::awaitable<bool> RootLink::SendJobs(const InstanceSet* keys, json aggregates) {
  // Keys, not pointers, cross the awaits: an instance may be removed while a chunk is in flight.
  std::vector<InstanceKey> list;
  if (keys) list.assign(keys->begin(), keys->end());
  co_await AcquireSend();
  if (stopped_) {
    ReleaseSend();
    co_return false;
  }
  if (!keys) {
    list.reserve(manager_.instances().size());
    for (const auto& [k, inst] : manager_.instances()) list.push_back(k);
  }
  bool ok = co_await SendJobsNow(list, std::move(aggregates));
  ReleaseSend();
  co_return ok;
}

asio::awaitable<bool> RootLink::SendJobsNow(const std::vector<InstanceKey>& list, json aggregates) {
  // Groups instances by service, in chunks of about push_chunk instances per request. Rendered as
  // text: {"jobs":[{"_id","job_name","instance_list":[...]}], <aggregates>}.
  size_t pos = 0;
  std::string body;
  do {
    body.clear();
    body += "{\"jobs\":[";
    const std::string* current = nullptr;
    size_t end = std::min(list.size(), pos + opts_.push_chunk);
    for (; pos < end; ++pos) {
      const Instance* found = manager_.Find(list[pos]);
      if (!found) continue;
      const Instance& inst = *found;
      if (!current || *current != inst.job_id) {
        if (current) body += "]},";
        body += "{\"_id\":";
        AppendJsonString(body, inst.job_id);
        body += ",\"job_name\":";
        AppendJsonString(body, inst.job_name);
        body += ",\"instance_list\":[";
        current = &inst.job_id;
      } else {
        body += ',';
      }
      manager_.AppendInstanceJson(body, inst);
    }
    if (current) body += "]}";
    body += ']';
    if (aggregates.is_object() && !aggregates.empty()) {
      std::string rest = aggregates.dump(-1, ' ', false, json::error_handler_t::replace);
      body += ',';
      body.append(rest, 1, std::string::npos);  // its members and closing brace
    } else {
      body += '}';
    }
    aggregates = nullptr;
    auto status = co_await Post("/api/information/" + cluster_id_, secret_, std::move(body));
    // A 5xx (e.g. 507, the root's disk full) is a report not taken: kept and sent again. Other
    // 4xx answers say the report itself is wrong, so sending it again would not help.
    if (!status.ok() || *status == 401 || *status == 404 || *status >= 500) co_return false;
  } while (pos < list.size());
  co_return true;
}

std::chrono::milliseconds RootLink::HoldBackPassing(InstanceSet& batch) {
  using std::chrono::milliseconds;
  const auto now = std::chrono::steady_clock::now();
  milliseconds first_due{0};
  for (auto it = batch.begin(); it != batch.end();) {
    const Instance* inst = manager_.Find(*it);
    // One moved off a lost node goes at once: the root would show it RUNNING there meanwhile.
    if (!inst || !InPassing(inst->status) || !inst->moved_from.empty()) {
      passing_since_.erase(*it);
      ++it;
      continue;
    }
    auto since = passing_since_.try_emplace(*it, now).first->second;
    auto left = std::chrono::ceil<milliseconds>(opts_.passing_hold - (now - since));
    if (left <= milliseconds(0)) {
      passing_since_.erase(*it);
      ++it;
      continue;
    }
    if (first_due == milliseconds(0) || left < first_due) first_due = left;
    dirty_.insert(*it);
    it = batch.erase(it);
  }
  return first_due;
}

asio::awaitable<void> RootLink::PushLoop() {
  // Pushes are at least push_delay apart, so a burst of changes goes in few requests; a change
  // after a quiet spell goes at once instead of waiting out a window.
  auto since = std::chrono::steady_clock::now() - last_push_;
  if (since < opts_.push_delay) {
    co_await Sleep(push_timer_, std::chrono::duration_cast<std::chrono::milliseconds>(opts_.push_delay - since));
  }
  while (!stopped_ && registered() && !dirty_.empty()) {
    InstanceSet batch;
    batch.swap(dirty_);
    auto due = HoldBackPassing(batch);
    if (batch.empty()) {
      // Only statuses in passing are left: wake when the first is due, or sooner (push_delay) to
      // send a change that comes meanwhile.
      co_await Sleep(push_timer_, std::min(due, std::max(opts_.push_delay, std::chrono::milliseconds(1))));
      continue;
    }
    last_push_ = std::chrono::steady_clock::now();
    bool ok = co_await SendJobs(&batch, nullptr);
    if (!ok) {
      dirty_.merge(batch);  // kept for the next heartbeat
      break;
    }
  }
  push_armed_ = false;
}

asio::awaitable<void> RootLink::Run() {
  auto backoff = opts_.backoff_min;
  int beats = 0;
  while (!stopped_) {
    if (!registered() || !registered_this_run_) {
      Status s = co_await Register();
      if (!s.ok()) {
        spdlog::warn("msg=\"cannot register with the root; retrying\" retry_ms={} error=\"{}\"", backoff.count(),
                     s.message());
        co_await Sleep(wake_, backoff);
        backoff = std::min(backoff * 2, opts_.backoff_max);
        continue;
      }
      backoff = opts_.backoff_min;
      registered_this_run_ = true;
      beats = 0;  // a fresh registration gets the full list first
    }
    if (std::exchange(resync_wanted_, false)) beats = 0;
    bool full = beats % std::max(1, opts_.full_sync_every) == 0;
    InstanceSet pending;
    pending.swap(dirty_);
    bool ok = co_await SendJobs(full ? nullptr : &pending, AggregatesJson());
    if (!ok) {
      dirty_.merge(pending);
      beats = 0;  // the root may have missed anything: resend everything once it answers
    } else {
      ++beats;
      if (full) passing_since_.clear();
      else
        for (const auto& k : pending) passing_since_.erase(k);
    }
    if (!dirty_.empty() && registered()) MarkDirty(*dirty_.begin());
    co_await Sleep(wake_, registered() ? opts_.heartbeat : backoff);
  }
}

}  // namespace oak::cluster
