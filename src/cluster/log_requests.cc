#include "cluster/log_requests.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "cluster/node_protocol.h"
#include "common/ids.h"

namespace oak::cluster {

namespace asio = boost::asio;

namespace {

Status FromNodeError(const std::string& node_label, const LogsReply& r) {
  std::string what = "node " + node_label + ": " + r.error_message;
  if (r.error_code == "not_found") return Status::NotFound(what);
  if (r.error_code == "invalid") return Status::Invalid(what);
  return Status::Internal(what + " (" + r.error_code + ")");
}

}  // namespace

LogRequests::LogRequests(asio::any_io_executor ex, Bus& bus, std::chrono::milliseconds timeout, size_t max_pending)
    : ex_(std::move(ex)), bus_(bus), timeout_(timeout), max_pending_(max_pending) {}

LogRequests::~LogRequests() {
  for (auto& [id, p] : pending_) p->wake.cancel();
}

asio::awaitable<Result<std::string>> LogRequests::Fetch(const LogQuery* q) {
  std::weak_ptr<int> alive = alive_;
  if (full())
    co_return Status::Unavailable(std::to_string(pending_.size()) + " log requests are waiting for nodes already; try again");
  std::string id = RandomHex(8);
  auto p = std::make_shared<Pending>(ex_);
  p->node_id = q->node_id;
  p->node_label = q->node_label;
  p->wake.expires_after(timeout_);
  pending_.emplace(id, p);
  Status sent = bus_.Publish("nodes/" + q->node_id + "/control/logs",
                             LogsRequestPayload(id, q->job_name, q->instance, q->max_bytes));
  if (!sent.ok()) {
    pending_.erase(id);
    co_return Status::Internal("cannot ask node " + q->node_label + " for logs: " + sent.message());
  }
  co_await p->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  if (alive.expired()) co_return Status::Unavailable("the cluster is stopping");
  pending_.erase(id);
  if (!p->result) {
    co_return Status::Unavailable("node " + q->node_label + " did not answer within " +
                                  std::to_string(timeout_.count()) + " ms");
  }
  if (p->result->ok()) co_return std::move(*p->result);
  co_return p->result->status();
}

void LogRequests::OnReply(std::string_view node_id, std::string_view payload) {
  auto reply = ParseLogsReply(payload);
  if (!reply.ok()) {
    spdlog::warn("msg=\"dropped MQTT message\" topic=\"nodes/{}/logs\" error=\"{}\"", node_id.substr(0, 64),
                 reply.status().message());
    return;
  }
  auto it = pending_.find(reply->request_id);
  if (it == pending_.end()) {
    spdlog::debug("msg=\"late or unknown logs answer\" node={} request_id={}", node_id, reply->request_id);
    return;
  }
  Pending& p = *it->second;
  if (p.node_id != node_id || p.result) {
    spdlog::warn("msg=\"dropped logs answer from another node\" node={} expected={}", node_id, p.node_id);
    return;
  }
  if (reply->logs) {
    p.result = std::move(*reply->logs);
  } else {
    p.result = FromNodeError(p.node_label, *reply);
  }
  p.wake.cancel();
}

}  // namespace oak::cluster
