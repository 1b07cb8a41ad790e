#include <optional>

#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "model/status_names.h"
#include "root/api.h"
#include "root/auth.h"
#include "root/openapi.h"

namespace oak::root {

using nlohmann::json;

HttpResponse RootApi::ListClusters(HttpRequest& req, bool active_only) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  json out = json::array();
  for (const ClusterState* c : d_.clusters.All())
    if (!active_only || c->active) out.push_back(d_.clusters.ToJson(*c));
  return HttpResponse::Json(200, out);
}

HttpResponse RootApi::RegisterCluster(HttpRequest& req) {
  std::string_view token = req.BearerToken();
  if (token.empty() || !ConstantTimeEquals(token, d_.cluster_token))
    return HttpResponse::Error(401, "wrong or missing cluster join token");
  auto body = ParseJsonBody(req.body());
  if (!body.ok()) return HttpResponse::FromStatus(body.status());
  auto reg = d_.clusters.Register(*body, req.remote);
  if (!reg.ok()) return HttpResponse::FromStatus(reg.status());
  return HttpResponse::Json(200, {{"id", reg->id},
                                  {"cluster_id", reg->id},
                                  {"secret", reg->secret},
                                  {"heartbeat_interval_s", d_.heartbeat_interval_s}});
}

boost::asio::awaitable<HttpResponse> RootApi::ClusterInformation(HttpRequest& req) {
  auto cluster = Cluster(req);
  if (!cluster.ok()) co_return HttpResponse::FromStatus(cluster.status());
  auto body = ParseJsonBody(req.body());
  if (!body.ok()) co_return HttpResponse::FromStatus(body.status());
  if (Status s = ValidateHeartbeat(*body); !s.ok()) co_return HttpResponse::FromStatus(s);
  std::vector<JobReport> reports;
  if (auto jobs = body->find("jobs"); jobs != body->end()) {
    auto parsed = ParseJobReports(*jobs);
    if (!parsed.ok()) co_return HttpResponse::FromStatus(parsed.status());
    reports = std::move(*parsed);
  }
  ClusterState& c = **cluster;
  // A cluster counted inactive may have had its instances moved elsewhere (dispatcher_failover.cc):
  // it is asked to list all it holds, so that the ones moved are named back to it and removed.
  const bool revived = !c.active;
  if (Status s = d_.clusters.ApplyHeartbeat(c, *body); !s.ok()) co_return HttpResponse::FromStatus(s);
  // A heartbeat's aggregates are kept; a status push changes only instances. The reports go
  // through the group commit in slices of kReportSlice instances, one op each, so that a cluster
  // listing tens of thousands of instances does not hold the event loop for long (each instance
  // costs a read even when unchanged). Reports are idempotent: should a slice fail, the cluster
  // hears an error and sends them again. It hears "ok" once every slice committed.
  constexpr size_t kReportSlice = 512;
  std::optional<ClusterRecord> rec;
  if (!IsStatusPush(*body)) rec = c.rec;
  const std::string cluster_id = c.rec.id;
  // ClusterState lives as long as the registry (clusters are never erased), so `c` outlives the awaits.
  d_.clusters.BeginReport(c);
  struct Applying {
    ClusterRegistry& r;
    ClusterState& c;
    ~Applying() { r.EndReport(c); }
  } applying{d_.clusters, c};
  std::span<const JobReport> rest(reports);
  do {
    std::span<const JobReport> slice = rest.first(std::min(rest.size(), kReportSlice));
    rest = rest.subspan(slice.size());
    const bool last = rest.empty();
    size_t changed = 0;
    Status s = co_await d_.commit.Write(
        [&]() -> Status {
          if (!slice.empty()) {
            auto n = d_.dispatcher.ApplyJobReports(cluster_id, slice);
            if (!n.ok()) return n.status();
            changed = *n;
          }
          return last && rec ? d_.store.UpsertCluster(*rec) : Status::Ok();
        },
        boost::asio::use_awaitable);
    if (!s.ok()) co_return HttpResponse::FromStatus(s);
    status_updates_ += changed;
  } while (!rest.empty());
  d_.dispatcher.ClusterAvailable();
  if (revived) co_return HttpResponse::Json(200, {{"message", "ok"}, {"resync", true}});
  co_return HttpResponse::Json(200, {{"message", "ok"}});
}

HttpResponse RootApi::ClusterTokenInfo(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  if (!who->HasRole(kRoleAdmin) && !who->HasRole(kRoleInfraProvider))
    return HttpResponse::Error(403, "cluster tokens need the Admin or Infrastructure_Provider role");
  // Address and port as the caller reached us.
  std::string host(req.Header(http::field::host));
  std::string port = "10000";
  if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(']', colon) == std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  return HttpResponse::Json(
      200, {{"token", d_.cluster_token},
            {"expires_at", nullptr},
            {"root_address", host},
            {"root_port", port},
            {"suggested_command", "oak cluster --root http://" + host + ":" + port + " --cluster-token " +
                                      d_.cluster_token + " --name <name> --location <lat,long,radius_km>"}});
}

HttpResponse RootApi::WorkerTokenInfo(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  return HttpResponse::Error(501, "worker tokens are issued by each cluster (oak cluster --node-token), not by the root");
}

HttpResponse RootApi::Healthz(HttpRequest&) {
  // A store that cannot answer makes the root unhealthy.
  auto n = d_.store.CountApplications();
  if (!n.ok()) return HttpResponse::Error(503, "store: " + n.status().message());
  return HttpResponse::Json(200, {{"status", "ok"}});
}

HttpResponse RootApi::Metrics(HttpRequest&) {
  std::string out;
  d_.http_metrics.Render(out);
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, v);
  };
  if (auto n = d_.store.CountApplications(); n.ok()) gauge("oak_applications", "Stored applications.", *n);
  if (auto n = d_.store.CountServices(); n.ok()) gauge("oak_services", "Stored services.", *n);
  if (auto by = d_.store.CountInstancesByStatus(); by.ok()) {
    out += "# HELP oak_instances Instances by status.\n# TYPE oak_instances gauge\n";
    for (auto s : model::AllStatuses()) {
      auto it = by->find(std::string(s));
      out += fmt::format("oak_instances{{status=\"{}\"}} {}\n", s, it == by->end() ? 0 : it->second);
    }
  }
  gauge("oak_clusters_active", "Clusters heard from within the timeout.", d_.clusters.ActiveCount());
  gauge("oak_clusters", "Registered clusters.", static_cast<int64_t>(d_.clusters.All().size()));
  gauge("oak_dispatch_in_flight", "Instances being handed to clusters.", static_cast<int64_t>(d_.dispatcher.in_flight()));
  gauge("oak_dispatch_queued", "Instances waiting for a connection to their cluster.",
        static_cast<int64_t>(d_.dispatcher.queued()));
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, v);
  };
  counter("oak_instance_status_updates_total", "Instance changes applied from cluster reports.", status_updates_);
  counter("oak_store_commits_total", "Store transactions committed.", d_.store.commits());
  counter("oak_store_group_commits_total", "Batches of writes committed together.", d_.commit.batches());
  counter("oak_store_group_commit_writes_total", "Writes committed in batches.", d_.commit.writes());
  gauge("oak_store_group_commit_largest", "Most writes committed in one batch.",
        static_cast<int64_t>(d_.commit.largest_batch()));
  const HttpPool& pool = d_.dispatcher.pool();
  counter("oak_cluster_connections_opened_total", "Connections opened to cluster managers.", pool.connections_opened());
  gauge("oak_cluster_connections", "Open connections to cluster managers.", static_cast<int64_t>(pool.open_connections()));
  return HttpResponse::Text(200, std::move(out));
}

HttpResponse RootApi::Docs(HttpRequest&) { return HttpResponse::Json(200, OpenApiDocument(*router_)); }

}  // namespace oak::root
