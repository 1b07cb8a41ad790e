// Maps (method, path pattern) to handlers. Patterns are literal segments and `{}` placeholders;
// a trailing slash is ignored on both sides, so "/api/application/" and "/api/application" match.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/http.h"

namespace oak {

using SyncHandler = std::function<HttpResponse(HttpRequest&)>;
using AsyncHandler = std::function<boost::asio::awaitable<HttpResponse>(HttpRequest&)>;

class Router {
 public:
  void Add(http::verb method, std::string pattern, SyncHandler h);
  void AddAsync(http::verb method, std::string pattern, AsyncHandler h);

  struct Match {
    enum Kind { kFound, kNotFound, kMethodNotAllowed } kind = kNotFound;
    const std::variant<SyncHandler, AsyncHandler>* handler = nullptr;
    const std::string* pattern = nullptr;  // the matched route, for metrics labels
    std::string allowed;                   // for 405: the methods the path accepts
  };
  // Fills req.params on success.
  Match Find(HttpRequest& req) const;
  // Every registered (method, pattern), for documentation checks.
  std::vector<std::pair<http::verb, std::string>> Routes() const;

  // Awaits the handler found by Find; answers 404/405 otherwise.
  boost::asio::awaitable<HttpResponse> Dispatch(HttpRequest& req, const std::string** route) const;

 private:
  struct Route {
    http::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    std::variant<SyncHandler, AsyncHandler> handler;
  };
  void AddRoute(http::verb method, std::string pattern, std::variant<SyncHandler, AsyncHandler> h);
  std::vector<Route> routes_;
};

std::vector<std::string_view> SplitPath(std::string_view path);

}  // namespace oak
