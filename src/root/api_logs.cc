// GET /api/service/<id>/instance/<n>/logs: an instance's output, asked from its cluster, which asks
// the instance's node (docs/api.md "Instance logs"). The root keeps no logs.
//
// One connection per request (HttpFetch), not the dispatcher's pool: a log request may wait seconds
// for a silent node, and must not hold a connection that deploys need.
#include <charconv>
#include <chrono>

#include "common/http_client.h"
#include "root/api.h"

namespace oak::root {

using nlohmann::json;

namespace {

// Longer than any cluster's own wait for its node (at most 8 s), so a silent node is reported by
// its cluster, by name, and a silent cluster by the root.
constexpr std::chrono::milliseconds kClusterTimeout{10'000};

std::string MessageOf(const ClientResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  return "HTTP " + std::to_string(r.status);
}

}  // namespace

boost::asio::awaitable<HttpResponse> RootApi::InstanceLogs(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) co_return HttpResponse::FromStatus(who.status());
  auto svc = OwnedService(*who, req.params[0]);
  if (!svc.ok()) co_return HttpResponse::FromStatus(svc.status());
  const std::string& n = req.params[1];
  int64_t number = 0;
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), number);
  if (ec != std::errc() || p != n.data() + n.size() || number < 0)
    co_return HttpResponse::Error(400, "instance_number: must be an integer >= 0");
  std::string max_bytes = req.QueryParam("max_bytes");
  if (!max_bytes.empty()) {
    uint64_t v = 0;
    auto [mp, mec] = std::from_chars(max_bytes.data(), max_bytes.data() + max_bytes.size(), v);
    if ((mec != std::errc() && mec != std::errc::result_out_of_range) || mp != max_bytes.data() + max_bytes.size())
      co_return HttpResponse::Error(400, "max_bytes: must be a non-negative integer");
    if (mec == std::errc::result_out_of_range) max_bytes = std::to_string(UINT64_MAX);  // the cluster caps it
  }
  auto inst = d_.store.GetInstance(svc->id, number);
  if (!inst.ok()) {
    if (inst.status().code() != Code::kNotFound) co_return HttpResponse::FromStatus(inst.status());
    co_return HttpResponse::Error(404, "instance_number: service " + svc->id + " has no instance " + n);
  }
  if (inst->cluster_id.empty())
    co_return HttpResponse::Error(409, "instance " + n + " of service " + svc->id + " is not on a cluster (status " +
                                           inst->status + ")");
  const ClusterState* c = d_.clusters.Find(inst->cluster_id);
  if (!c) co_return HttpResponse::Error(502, "cluster " + inst->cluster_id + " of instance " + n + " is no longer registered");
  auto url = ParseUrl(c->rec.manager_url);
  if (!url.ok()) co_return HttpResponse::Error(502, "cluster " + c->rec.name + ": " + url.status().message());
  const std::string cluster = c->rec.name;  // copied: the registry may change while we wait
  ClientRequest creq;
  creq.target = "/api/service/" + svc->id + "/" + n + "/logs" + (max_bytes.empty() ? "" : "?max_bytes=" + max_bytes);
  creq.bearer = c->rec.secret;
  creq.timeout = kClusterTimeout;
  auto started = std::chrono::steady_clock::now();
  auto res = co_await HttpFetch(d_.io.get_executor(), *url, std::move(creq));
  if (!res.ok()) {
    if (std::chrono::steady_clock::now() - started >= kClusterTimeout - std::chrono::milliseconds(100))
      co_return HttpResponse::Error(504, "cluster " + cluster + " did not answer within " +
                                             std::to_string(kClusterTimeout.count() / 1000) + " s");
    co_return HttpResponse::Error(502, "cluster " + cluster + " is unreachable: " + res.status().message());
  }
  if (res->status == 200) {
    json body = json::parse(res->body, nullptr, false);
    if (body.is_object() && body.contains("logs") && body["logs"].is_string())
      co_return HttpResponse::Json(200, {{"logs", std::move(body["logs"])},
                                         {"instance_number", number},
                                         {"cluster_id", inst->cluster_id},
                                         {"worker_id", body.value("node_id", "")}});
    co_return HttpResponse::Error(502, "cluster " + cluster + " answered logs in an unknown shape");
  }
  // The cluster's message names the node or the instance; the code keeps its meaning for the user,
  // except that a refusal of the root's own credentials is the root's problem, not the user's.
  std::string why = "cluster " + cluster + ": " + MessageOf(*res);
  if (res->status == 404 || res->status == 409 || res->status == 503 || res->status == 504)
    co_return HttpResponse::Error(res->status, why);
  co_return HttpResponse::Error(502, why);
}

}  // namespace oak::root
