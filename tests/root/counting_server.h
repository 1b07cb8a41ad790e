// A small HTTP/1.1 server for tests of outgoing calls: it counts the connections it accepts and
// the requests it serves, and can answer slowly or drop connections silently.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "common/http_client.h"

namespace oak::testing {

// Answers every request with its target as the body. `close_after` > 0: closes each connection
// after that many answers without saying so (as a server whose idle timeout struck would).
// `delay`: waits that long before answering.
class CountingServer {
  using tcp = boost::asio::ip::tcp;

 public:
  explicit CountingServer(boost::asio::io_context& io, int close_after = 0, std::chrono::milliseconds delay = {})
      : acceptor_(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)), close_after_(close_after), delay_(delay) {
    boost::asio::co_spawn(io, Accept(), boost::asio::detached);
  }
  Url url() const { return *ParseUrl("http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port())); }
  int connections = 0;
  int requests = 0;
  int max_concurrent = 0;
  // When set, answers instead of the echo: (status, body) for the request's target and body.
  std::function<std::pair<unsigned, std::string>(const std::string& target, const std::string& body)> handler;

 private:
  static constexpr auto kNoThrow = boost::asio::as_tuple(boost::asio::use_awaitable);

  boost::asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (ec) co_return;
      ++connections;
      boost::asio::co_spawn(acceptor_.get_executor(), Serve(std::move(socket)), boost::asio::detached);
    }
  }
  boost::asio::awaitable<void> Serve(tcp::socket socket) {
    namespace http = boost::beast::http;
    boost::beast::tcp_stream stream(std::move(socket));
    boost::beast::flat_buffer buffer;
    for (int answered = 0;;) {
      http::request<http::string_body> req;
      auto [rec, n] = co_await http::async_read(stream, buffer, req, kNoThrow);
      if (rec) co_return;
      ++requests;
      max_concurrent = std::max(max_concurrent, ++busy_);
      if (delay_.count() > 0) {
        boost::asio::steady_timer t(stream.get_executor(), delay_);
        co_await t.async_wait(kNoThrow);
      }
      --busy_;
      http::response<http::string_body> res{http::status::ok, 11};
      res.body() = std::string(req.target());
      if (handler) {
        auto [code, body] = handler(std::string(req.target()), req.body());
        res.result(code);
        res.body() = std::move(body);
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, w] = co_await http::async_write(stream, res, kNoThrow);
      if (wec || !req.keep_alive() || (close_after_ > 0 && ++answered >= close_after_)) co_return;
    }
  }

  tcp::acceptor acceptor_;
  int close_after_;
  std::chrono::milliseconds delay_;
  int busy_ = 0;
};

}  // namespace oak::testing
