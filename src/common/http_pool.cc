#include "common/http_pool.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace oak {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
const Status kClosed = Status::Unavailable("connection pool closed");
}  // namespace

struct HttpPool::Conn {
  explicit Conn(const asio::any_io_executor& ex) : stream(ex) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  Clock::time_point last_used;
};

// A request waiting for a connection. Release or Discard hands it a connection or a free slot and
// cancels the timer; the timer expiring untouched means the wait timed out.
struct HttpPool::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  std::unique_ptr<Conn> conn;
  bool slot = false;
};

HttpPool::HttpPool(asio::any_io_executor ex, HttpPoolOptions opts) : ex_(std::move(ex)), opts_(opts) {}

HttpPool::~HttpPool() {
  alive_.reset();
  for (auto& [key, h] : hosts_)
    for (auto& w : h.waiters) w->timer.cancel();
}

asio::awaitable<Result<ClientResponse>> HttpPool::Fetch(const Url& url, ClientRequest req) {
  std::weak_ptr<int> alive = alive_;
  const auto deadline = Clock::now() + req.timeout;
  const std::string where = url.host + ":" + std::to_string(url.port);
  Host& h = hosts_[where];

  http::request<http::string_body> out{req.method, url.base_path + req.target, 11};
  out.set(http::field::host, url.host);
  out.set(http::field::user_agent, "oak");
  if (!req.bearer.empty()) out.set(http::field::authorization, "Bearer " + req.bearer);
  for (auto& [k, v] : req.headers) out.set(k, v);
  if (!req.body.empty()) out.set(http::field::content_type, "application/json");
  out.body() = std::move(req.body);
  out.keep_alive(true);
  out.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    auto conn = co_await Acquire(url, h, deadline, attempt > 0, reused);
    if (alive.expired()) co_return kClosed;
    if (!conn.ok()) co_return conn.status();
    Conn& c = **conn;
    c.stream.expires_at(deadline);
    auto [wec, nw] = co_await http::async_write(c.stream, out, kNoThrow);
    if (alive.expired()) co_return kClosed;
    boost::system::error_code ec = wec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    if (!ec) {
      auto [rec, nr] = co_await http::async_read(c.stream, c.buffer, parser, kNoThrow);
      if (alive.expired()) co_return kClosed;
      ec = rec;
    }
    if (ec) {
      const bool answered = parser.got_some();
      conn->reset();
      Discard(h);
      // A kept-alive connection the peer had closed meanwhile fails before any answer: the
      // request never reached a handler, so sending it again on a fresh connection is safe.
      if (reused && !answered && ec != beast::error::timeout && attempt == 0) continue;
      if (ec == beast::error::timeout) co_return Status::Unavailable("no answer from " + where + " in time");
      co_return Status::Unavailable((wec ? "cannot send to " : "no answer from ") + where + ": " + ec.message());
    }
    auto res = parser.release();
    ClientResponse answer{res.result_int(), std::move(res.body())};
    if (res.keep_alive()) {
      c.last_used = Clock::now();
      Release(h, std::move(*conn));
    } else {
      conn->reset();
      Discard(h);
    }
    co_return answer;
  }
}

asio::awaitable<Result<std::unique_ptr<HttpPool::Conn>>> HttpPool::Acquire(const Url& url, Host& h,
                                                                           Clock::time_point deadline,
                                                                           bool fresh_only, bool& reused) {
  std::weak_ptr<int> alive = alive_;
  // Stale idle connections go first (oldest are at the front). After a reused connection failed
  // the peer probably restarted, so none of its idle connections is trusted.
  const auto now = Clock::now();
  size_t stale = 0;
  while (stale < h.idle.size() && (fresh_only || now - h.idle[stale]->last_used > opts_.idle_timeout)) ++stale;
  if (stale > 0) {
    h.idle.erase(h.idle.begin(), h.idle.begin() + static_cast<std::ptrdiff_t>(stale));
    h.open -= stale;
  }
  if (!h.idle.empty()) {
    auto c = std::move(h.idle.back());
    h.idle.pop_back();
    reused = true;
    co_return c;
  }
  if (h.open < opts_.max_per_host) {
    ++h.open;
    auto c = co_await Connect(url, deadline);
    if (alive.expired()) co_return kClosed;
    if (!c.ok()) Discard(h);
    co_return c;
  }
  auto w = std::make_shared<Waiter>(ex_);
  w->timer.expires_at(deadline);
  h.waiters.push_back(w);
  co_await w->timer.async_wait(kNoThrow);
  if (alive.expired()) co_return kClosed;
  if (w->conn) {
    reused = true;
    co_return std::move(w->conn);
  }
  if (w->slot) {
    auto c = co_await Connect(url, deadline);
    if (alive.expired()) co_return kClosed;
    if (!c.ok()) Discard(h);
    co_return c;
  }
  h.waiters.erase(std::remove(h.waiters.begin(), h.waiters.end(), w), h.waiters.end());
  co_return Status::Unavailable("no free connection to " + url.host + ":" + std::to_string(url.port) + " in time");
}

asio::awaitable<Result<std::unique_ptr<HttpPool::Conn>>> HttpPool::Connect(const Url& url, Clock::time_point deadline) {
  const std::string where = url.host + ":" + std::to_string(url.port);
  auto c = std::make_unique<Conn>(ex_);
  c->stream.expires_at(deadline);
  boost::system::error_code ec;
  // An address needs no resolver (whose lookups run on a helper thread).
  auto addr = asio::ip::make_address(url.host, ec);
  if (!ec) {
    auto [cec] = co_await c->stream.async_connect(tcp::endpoint(addr, url.port), kNoThrow);
    ec = cec;
  } else {
    tcp::resolver resolver(ex_);
    auto [rec, results] = co_await resolver.async_resolve(url.host, std::to_string(url.port), kNoThrow);
    if (rec) co_return Status::Unavailable("cannot resolve " + url.host + ": " + rec.message());
    auto [cec, ep] = co_await c->stream.async_connect(results, kNoThrow);
    ec = cec;
  }
  if (ec) co_return Status::Unavailable("cannot connect to " + where + ": " + ec.message());
  c->stream.socket().set_option(tcp::no_delay(true), ec);
  ++opened_;
  co_return c;
}

void HttpPool::Release(Host& h, std::unique_ptr<Conn> c) {
  // Invariant: waiters exist only while no connection is idle.
  if (!h.waiters.empty()) {
    auto w = std::move(h.waiters.front());
    h.waiters.pop_front();
    w->conn = std::move(c);
    w->timer.cancel();
    return;
  }
  h.idle.push_back(std::move(c));
}

void HttpPool::Discard(Host& h) {
  --h.open;
  if (!h.waiters.empty()) {
    auto w = std::move(h.waiters.front());
    h.waiters.pop_front();
    w->slot = true;
    ++h.open;
    w->timer.cancel();
  }
}

void HttpPool::CloseIdle(std::chrono::milliseconds min_idle) {
  const auto now = Clock::now();
  for (auto& [key, h] : hosts_) {
    size_t n = 0;
    while (n < h.idle.size() && now - h.idle[n]->last_used >= min_idle) ++n;
    h.idle.erase(h.idle.begin(), h.idle.begin() + static_cast<std::ptrdiff_t>(n));
    h.open -= n;
  }
}

size_t HttpPool::open_connections() const {
  size_t n = 0;
  for (auto& [key, h] : hosts_) n += h.open;
  return n;
}

size_t HttpPool::idle_connections() const {
  size_t n = 0;
  for (auto& [key, h] : hosts_) n += h.idle.size();
  return n;
}

}  // namespace oak
