// An HTTP/1.1 server on one io_context: one coroutine per connection, keep-alive, body and header
// limits, read timeouts, CORS, and a hook that observes every request (for metrics and logs).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "common/router.h"
#include "common/status.h"

namespace oak {

struct HttpServerOptions {
  size_t body_limit = 1 << 20;
  size_t header_limit = 16 << 10;
  // Budget for reading one whole request, and for an idle keep-alive connection.
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
  // Origins allowed by CORS; "*" allows any. Empty disables CORS headers.
  std::vector<std::string> cors_origins{"*"};
  std::string server_name = "oak";
};

class HttpServer {
 public:
  using Observer =
      std::function<void(const std::string& route, std::string_view method, unsigned status, double seconds)>;

  HttpServer(boost::asio::io_context& io, const Router& router, HttpServerOptions opts);
  ~HttpServer();

  // Binds and starts accepting; answers the bound port (useful with port 0).
  Result<uint16_t> Listen(const std::string& host, uint16_t port);
  void Stop();
  void SetObserver(Observer o) { observer_ = std::move(o); }

 private:
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);
  void ApplyCors(const HttpRequest& req, HttpResponse& res) const;

  boost::asio::io_context& io_;
  const Router& router_;
  HttpServerOptions opts_;
  Observer observer_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
};

}  // namespace oak
