#include "common/router.h"

#include <boost/url/decode_view.hpp>
#include <boost/url/parse_query.hpp>

namespace oak {

std::string_view HttpRequest::Header(http::field f) const {
  auto it = raw->find(f);
  if (it == raw->end()) return {};
  return {it->value().data(), it->value().size()};
}

std::string_view HttpRequest::BearerToken() const {
  std::string_view h = Header(http::field::authorization);
  constexpr std::string_view kPrefix = "Bearer ";
  if (h.size() <= kPrefix.size()) return {};
  for (size_t i = 0; i < kPrefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(h[i])) != std::tolower(static_cast<unsigned char>(kPrefix[i]))) return {};
  }
  h.remove_prefix(kPrefix.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return h;
}

std::string HttpRequest::QueryParam(std::string_view name) const {
  auto params = boost::urls::parse_query(query);
  if (!params) return {};
  for (auto p : *params) {
    if (p.key != name) continue;
    if (!p.has_value) return {};
    boost::urls::decode_view value(p.value);
    return std::string(value.begin(), value.end());
  }
  return {};
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

void Router::Add(http::verb method, std::string pattern, SyncHandler h) {
  AddRoute(method, std::move(pattern), std::move(h));
}

void Router::AddAsync(http::verb method, std::string pattern, AsyncHandler h) {
  AddRoute(method, std::move(pattern), std::move(h));
}

void Router::AddRoute(http::verb method, std::string pattern, std::variant<SyncHandler, AsyncHandler> h) {
  Route r{method, std::move(pattern), {}, std::move(h)};
  for (auto s : SplitPath(r.pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

Router::Match Router::Find(HttpRequest& req) const {
  Match m;
  auto segs = SplitPath(req.path);
  for (const Route& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    bool same = true;
    for (size_t i = 0; i < segs.size() && same; ++i) {
      same = r.segments[i] == "{}" ? !segs[i].empty() : r.segments[i] == segs[i];
    }
    if (!same) continue;
    if (r.method != req.method) {
      if (!m.allowed.empty()) m.allowed += ", ";
      m.allowed += std::string(http::to_string(r.method));
      m.kind = Match::kMethodNotAllowed;
      continue;
    }
    req.params.clear();
    for (size_t i = 0; i < segs.size(); ++i) {
      if (r.segments[i] == "{}") {
        boost::urls::decode_view dv(boost::core::string_view(segs[i].data(), segs[i].size()));
        req.params.emplace_back(dv.begin(), dv.end());
      }
    }
    m.kind = Match::kFound;
    m.handler = &r.handler;
    m.pattern = &r.pattern;
    return m;
  }
  return m;
}

std::vector<std::pair<http::verb, std::string>> Router::Routes() const {
  std::vector<std::pair<http::verb, std::string>> out;
  for (const Route& r : routes_) out.emplace_back(r.method, r.pattern);
  return out;
}

boost::asio::awaitable<HttpResponse> Router::Dispatch(HttpRequest& req, const std::string** route) const {
  static const std::string kUnmatched = "unmatched";
  Match m = Find(req);
  *route = m.pattern ? m.pattern : &kUnmatched;
  if (m.kind == Match::kNotFound) co_return HttpResponse::Error(404, "no such route: " + req.path);
  if (m.kind == Match::kMethodNotAllowed) {
    auto res = HttpResponse::Error(405, "method " + std::string(http::to_string(req.method)) +
                                            " not allowed on " + req.path + " (allowed: " + m.allowed + ")");
    res.headers.emplace_back("Allow", m.allowed);
    co_return res;
  }
  if (auto* sync = std::get_if<SyncHandler>(m.handler)) co_return (*sync)(req);
  co_return co_await std::get<AsyncHandler>(*m.handler)(req);
}

}  // namespace oak
