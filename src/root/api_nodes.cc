// GET /api/nodes: the worker nodes of every active cluster, asked from the clusters themselves
// (the root keeps no per-node state).
#include <spdlog/spdlog.h>

#include "common/http_client.h"
#include "root/api.h"

namespace oak::root {

using nlohmann::json;

boost::asio::awaitable<HttpResponse> RootApi::ListNodes(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) co_return HttpResponse::FromStatus(who.status());
  struct Target {
    std::string id, name, url, secret;
  };
  // Copied before the first await: the registry may change while clusters answer.
  std::vector<Target> targets;
  for (const ClusterState* c : d_.clusters.All())
    if (c->active) targets.push_back({c->rec.id, c->rec.name, c->rec.manager_url, c->rec.secret});
  json out = json::array();
  for (const Target& t : targets) {
    auto url = ParseUrl(t.url);
    if (!url.ok()) continue;
    ClientRequest r;
    r.target = "/api/nodes";
    r.bearer = t.secret;
    r.timeout = std::chrono::seconds(3);
    auto res = co_await HttpFetch(d_.io.get_executor(), *url, std::move(r));
    json nodes = res.ok() && res->status == 200 ? json::parse(res->body, nullptr, false) : json();
    if (!nodes.is_array()) {
      spdlog::warn("msg=\"cluster did not list its nodes\" cluster={} error=\"{}\"", t.id,
                   res.ok() ? "status " + std::to_string(res->status) : res.status().message());
      continue;
    }
    for (auto& n : nodes) {
      if (!n.is_object()) continue;
      n["cluster_id"] = t.id;
      n["cluster_name"] = t.name;
      out.push_back(std::move(n));
    }
  }
  co_return HttpResponse::Json(200, out);
}

}  // namespace oak::root
