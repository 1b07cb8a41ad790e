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

HttpResponse RootApi::ClusterInformation(HttpRequest& req) {
  auto cluster = Cluster(req);
  if (!cluster.ok()) return HttpResponse::FromStatus(cluster.status());
  auto body = ParseJsonBody(req.body());
  if (!body.ok()) return HttpResponse::FromStatus(body.status());
  if (Status s = ValidateHeartbeat(*body); !s.ok()) return HttpResponse::FromStatus(s);
  if (auto jobs = body->find("jobs"); jobs != body->end()) {
    if (Status s = d_.dispatcher.ApplyJobReports(**cluster, *jobs); !s.ok()) return HttpResponse::FromStatus(s);
  }
  if (Status s = d_.clusters.ApplyHeartbeat(**cluster, *body); !s.ok()) return HttpResponse::FromStatus(s);
  d_.dispatcher.ClusterAvailable();
  return HttpResponse::Json(200, {{"message", "ok"}});
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
  return HttpResponse::Text(200, std::move(out));
}

HttpResponse RootApi::Docs(HttpRequest&) { return HttpResponse::Json(200, OpenApiDocument(*router_)); }

}  // namespace oak::root
