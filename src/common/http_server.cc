#include "common/http_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

namespace oak {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

HttpServer::HttpServer(asio::io_context& io, const Router& router, HttpServerOptions opts)
    : io_(io), router_(router), opts_(std::move(opts)) {}

HttpServer::~HttpServer() { Stop(); }

Result<uint16_t> HttpServer::Listen(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return Status::Invalid("listen: bad address '" + host + "'");
  tcp::endpoint ep(addr, port);
  auto acc = std::make_unique<tcp::acceptor>(io_);
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  uint16_t bound = acc->local_endpoint().port();
  acceptor_ = std::move(acc);
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  return bound;
}

void HttpServer::Stop() {
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
  }
}

asio::awaitable<void> HttpServer::AcceptLoop() {
  while (acceptor_ && acceptor_->is_open()) {
    auto [ec, socket] = co_await acceptor_->async_accept(kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and similar: log and keep serving existing connections.
      spdlog::warn("msg=\"accept failed\" error=\"{}\"", ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
  }
}

void HttpServer::ApplyCors(const HttpRequest& req, HttpResponse& res) const {
  if (opts_.cors_origins.empty()) return;
  std::string_view origin = req.Header(http::field::origin);
  if (origin.empty()) return;
  for (const auto& allowed : opts_.cors_origins) {
    if (allowed == "*" || allowed == origin) {
      res.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
      res.headers.emplace_back("Vary", "Origin");
      return;
    }
  }
}

asio::awaitable<void> HttpServer::Serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  std::string remote;
  {
    boost::system::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string();
  }
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(opts_.body_limit);
    parser.header_limit(static_cast<uint32_t>(opts_.header_limit));
    stream.expires_after(opts_.read_timeout);
    auto [rec, nread] = co_await http::async_read(stream, buffer, parser, kNoThrow);
    HttpResponse res;
    bool keep_alive = false;
    auto started = std::chrono::steady_clock::now();
    const std::string* route = nullptr;
    static const std::string kRejected = "rejected";
    std::string_view method_name = "-";
    if (rec == http::error::end_of_stream || rec == beast::error::timeout || rec == asio::error::eof ||
        rec == asio::error::connection_reset || rec == asio::error::operation_aborted) {
      break;
    } else if (rec == http::error::body_limit) {
      res = HttpResponse::Error(413, "request body larger than " + std::to_string(opts_.body_limit) + " bytes");
      route = &kRejected;
    } else if (rec == http::error::header_limit) {
      res = HttpResponse::Error(431, "request headers larger than " + std::to_string(opts_.header_limit) + " bytes");
      route = &kRejected;
    } else if (rec) {
      res = HttpResponse::Error(400, "malformed HTTP request: " + rec.message());
      route = &kRejected;
    } else {
      const RawRequest& raw = parser.get();
      HttpRequest req;
      req.raw = &raw;
      req.method = raw.method();
      method_name = http::to_string(raw.method());
      req.remote = remote;
      std::string_view target(raw.target().data(), raw.target().size());
      auto q = target.find('?');
      req.path = std::string(target.substr(0, q));
      if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
      keep_alive = raw.keep_alive();
      if (req.method == http::verb::options && !opts_.cors_origins.empty() &&
          !req.Header(http::field::access_control_request_method).empty()) {
        res = HttpResponse::Text(204, "", "text/plain");
        res.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        res.headers.emplace_back("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.headers.emplace_back("Access-Control-Max-Age", "600");
        static const std::string kPreflight = "preflight";
        route = &kPreflight;
      } else {
        try {
          res = co_await router_.Dispatch(req, &route);
        } catch (const std::exception& e) {
          // A handler bug must cost one request, never the process.
          spdlog::error("msg=\"handler threw\" path=\"{}\" error=\"{}\"", req.path, e.what());
          res = HttpResponse::Error(500, "internal error");
        }
      }
      ApplyCors(req, res);
    }

    http::response<http::string_body> out{static_cast<http::status>(res.status), 11};
    out.set(http::field::server, opts_.server_name);
    out.set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) out.set(k, v);
    out.body() = std::move(res.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    stream.expires_after(opts_.write_timeout);
    auto [wec, nw] = co_await http::async_write(stream, out, kNoThrow);
    if (observer_) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      observer_(route ? *route : kRejected, method_name, res.status, secs);
    }
    if (wec || !keep_alive) break;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  // Drain what the peer still sends (e.g. the rest of an oversized body) so that closing does not
  // reset the connection before the peer has read our answer.
  stream.expires_after(std::chrono::seconds(2));
  size_t drained = 0;
  char sink[16384];
  while (drained < (64u << 20)) {
    auto [dec, n] = co_await stream.async_read_some(asio::buffer(sink), kNoThrow);
    if (dec) break;
    drained += n;
  }
}

}  // namespace oak
