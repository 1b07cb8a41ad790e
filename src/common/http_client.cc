#include "common/http_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

namespace oak {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

Result<Url> ParseUrl(std::string_view text) {
  auto u = boost::urls::parse_uri(boost::core::string_view(text.data(), text.size()));
  if (!u) return Status::Invalid("url '" + std::string(text) + "': " + u.error().message());
  Url out;
  out.scheme = std::string(u->scheme());
  if (out.scheme != "http") return Status::Invalid("url '" + std::string(text) + "': only http:// is supported");
  out.host = std::string(u->host_address());
  if (out.host.empty()) return Status::Invalid("url '" + std::string(text) + "': missing host");
  if (u->has_port()) {
    if (u->port_number() == 0) return Status::Invalid("url '" + std::string(text) + "': bad port");
    out.port = u->port_number();
  }
  out.base_path = std::string(u->encoded_path());
  while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  return out;
}

asio::awaitable<Result<ClientResponse>> HttpFetch(asio::any_io_executor ex, const Url& url, ClientRequest req) {
  constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
  const std::string where = url.host + ":" + std::to_string(url.port);
  tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(url.host, std::to_string(url.port), kNoThrow);
  if (rec) co_return Status::Unavailable("cannot resolve " + url.host + ": " + rec.message());

  beast::tcp_stream stream(ex);
  stream.expires_after(req.timeout);
  auto [cec, ep] = co_await stream.async_connect(results, kNoThrow);
  if (cec) co_return Status::Unavailable("cannot connect to " + where + ": " + cec.message());

  http::request<http::string_body> out{req.method, url.base_path + req.target, 11};
  out.set(http::field::host, url.host);
  out.set(http::field::user_agent, "oak");
  if (!req.bearer.empty()) out.set(http::field::authorization, "Bearer " + req.bearer);
  for (auto& [k, v] : req.headers) out.set(k, v);
  if (!req.body.empty()) out.set(http::field::content_type, "application/json");
  out.body() = std::move(req.body);
  out.keep_alive(false);
  out.prepare_payload();
  auto [wec, nw] = co_await http::async_write(stream, out, kNoThrow);
  if (wec) co_return Status::Unavailable("cannot send to " + where + ": " + wec.message());

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  auto [rdec, nr] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  if (rdec) co_return Status::Unavailable("no answer from " + where + ": " + rdec.message());
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  auto res = parser.release();
  co_return ClientResponse{res.result_int(), std::move(res.body())};
}

Result<ClientResponse> HttpFetchSync(const Url& url, ClientRequest req) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, HttpFetch(io.get_executor(), url, std::move(req)), asio::use_future);
  io.run();
  return fut.get();
}

}  // namespace oak
