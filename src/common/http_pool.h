// Keep-alive HTTP/1.1 connections per host:port, for a process that calls the same few peers
// often (the root's calls to its clusters). HttpFetch opens a connection per request; at thousands
// of requests per second the connects, shutdowns and resolver hand-offs cost more than the
// requests themselves.
//
// Single-threaded: every call must come from the executor the pool was made with (the event loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/http_client.h"
#include "common/status.h"

namespace oak {

struct HttpPoolOptions {
  // Connections open at once to one host:port. Further requests wait for one to come free.
  size_t max_per_host = 8;
  // An idle connection older than this is closed instead of reused: servers drop idle
  // connections after a while (Oak's own after 10 s), and a fresh connect beats a failed reuse.
  std::chrono::milliseconds idle_timeout{4'000};
};

class HttpPool {
 public:
  explicit HttpPool(boost::asio::any_io_executor ex, HttpPoolOptions opts = {});
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  // HttpFetch over a kept-alive connection to the URL's host and port. `req.timeout` covers the
  // wait for a free connection as well as the exchange. A request that fails on a reused
  // connection before any byte of an answer arrived (the peer had closed it) is sent once more
  // on a fresh connection, so callers must send only idempotent requests.
  boost::asio::awaitable<Result<ClientResponse>> Fetch(const Url& url, ClientRequest req);

  // Closes idle connections unused for at least `min_idle` (0: all idle ones).
  void CloseIdle(std::chrono::milliseconds min_idle = std::chrono::milliseconds(0));

  uint64_t connections_opened() const { return opened_; }  // since the start, for metrics and tests
  size_t open_connections() const;
  size_t idle_connections() const;

 private:
  struct Conn;
  struct Waiter;
  struct Host {
    size_t open = 0;                            // idle + in use + connecting
    std::vector<std::unique_ptr<Conn>> idle;    // most recently used last
    std::deque<std::shared_ptr<Waiter>> waiters;  // oldest first
  };
  using Clock = std::chrono::steady_clock;

  // Answers a connection to use: an idle one (reused = true) or a fresh one.
  boost::asio::awaitable<Result<std::unique_ptr<Conn>>> Acquire(const Url& url, Host& h, Clock::time_point deadline,
                                                                 bool fresh_only, bool& reused);
  boost::asio::awaitable<Result<std::unique_ptr<Conn>>> Connect(const Url& url, Clock::time_point deadline);
  // Hands a healthy connection back (to the oldest waiter, or the idle list).
  void Release(Host& h, std::unique_ptr<Conn> c);
  // Gives up a connection slot (the connection failed or was closed): a waiter may open one.
  void Discard(Host& h);

  boost::asio::any_io_executor ex_;
  HttpPoolOptions opts_;
  std::map<std::string, Host> hosts_;  // by "host:port"; nodes are stable
  uint64_t opened_ = 0;
  // Expires with the pool; a coroutine resumed after the pool is gone checks it and stops.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace oak
