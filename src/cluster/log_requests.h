// Instance logs fetched from nodes: a request on `nodes/<id>/control/logs`, the answer awaited on
// `nodes/<id>/logs` (docs/mqtt.md). Requests are keyed by a random request id; one that gets no
// answer within the timeout is forgotten, and a late answer is dropped.
// Lives on the cluster's event loop thread, like the Manager.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cluster/manager.h"
#include "common/status.h"

namespace oak::cluster {

struct LogQuery {
  std::string node_id;
  std::string node_label;  // how messages name the node, e.g. "edge-7 (<id>)"
  std::string job_name;
  int64_t instance = 0;
  size_t max_bytes = 0;
};

class LogRequests {
 public:
  LogRequests(boost::asio::any_io_executor ex, Bus& bus, std::chrono::milliseconds timeout, size_t max_pending = 64);
  ~LogRequests();

  // Asks the node and waits for its answer: the logs; kUnavailable when the node did not answer in
  // time, or at once when full(); kNotFound when the node does not have the instance; kInternal
  // when the request could not be published or for another error of the node. Messages name the
  // node. `q` lives in the caller's frame (no by-value coroutine parameters: see root/api_users.cc).
  boost::asio::awaitable<Result<std::string>> Fetch(const LogQuery* q);

  // A message on nodes/<node_id>/logs. Malformed, unknown (late) or misdirected answers are dropped.
  void OnReply(std::string_view node_id, std::string_view payload);

  size_t pending() const { return pending_.size(); }
  bool full() const { return pending_.size() >= max_pending_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  struct Pending {
    std::string node_id, node_label;
    std::optional<Result<std::string>> result;
    boost::asio::steady_timer wake;
    explicit Pending(boost::asio::any_io_executor ex) : wake(std::move(ex)) {}
  };

  boost::asio::any_io_executor ex_;
  Bus& bus_;
  std::chrono::milliseconds timeout_;
  size_t max_pending_;
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending_;  // by request id
  // Expires with this object; a Fetch resumed afterwards touches nothing of it.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace oak::cluster
