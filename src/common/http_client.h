// A small HTTP/1.1 client (one request per connection) for tier-to-tier calls and the CLI.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include "common/status.h"

namespace oak {

struct Url {
  std::string scheme;  // only "http"
  std::string host;
  uint16_t port = 80;
  std::string base_path;  // path prefix without a trailing slash, may be empty
};
Result<Url> ParseUrl(std::string_view text);

struct ClientRequest {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;  // path and query, appended to the URL's base path
  std::string body;
  std::string bearer;  // sent as `Authorization: Bearer ...` when not empty
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{10'000};
};

struct ClientResponse {
  unsigned status = 0;
  std::string body;
};

// Transport failures (refused, timeout, malformed answer) are Status::Unavailable; any HTTP answer,
// including 4xx/5xx, is a value.
boost::asio::awaitable<Result<ClientResponse>> HttpFetch(boost::asio::any_io_executor ex, const Url& url,
                                                          ClientRequest req);
// Blocking variant on a private io_context, for the CLI and tests.
Result<ClientResponse> HttpFetchSync(const Url& url, ClientRequest req);

}  // namespace oak
