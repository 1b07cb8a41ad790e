// The System Manager REST API (SPEC §4, §5): handlers over the store, the cluster registry and the
// dispatcher. Runs on the event loop; only password hashing leaves it (to `hash_pool`). Deploys
// and cluster reports write through the group commit and answer once their batch committed.
#pragma once

#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/json_fields.h"
#include "common/metrics.h"
#include "common/router.h"
#include "root/auth.h"
#include "root/cluster_registry.h"
#include "root/dispatcher.h"
#include "root/group_commit.h"
#include "root/store.h"

namespace oak::root {

struct ApiDeps {
  boost::asio::io_context& io;
  boost::asio::thread_pool& hash_pool;
  Store& store;
  GroupCommit& commit;  // the writes of the hot routes (deploys, cluster reports)
  TokenService& tokens;
  ClusterRegistry& clusters;
  Dispatcher& dispatcher;
  const Clock& clock;
  HttpMetrics& http_metrics;
  std::string cluster_token;  // join token clusters present at registration
  int64_t heartbeat_interval_s = 5;
};

class RootApi {
 public:
  explicit RootApi(ApiDeps deps) : d_(std::move(deps)) {}
  void Register(Router& r);

 private:
  // Authentication and ownership; failures are ready-made error answers.
  Result<Claims> User(const HttpRequest& req) const;
  // User() that also requires the Admin role; `action` completes "only an Admin can ...".
  Result<Claims> AdminUser(const HttpRequest& req, std::string_view action) const;
  Result<ApplicationRecord> OwnedApp(const Claims& who, const std::string& id);
  Result<ServiceRecord> OwnedService(const Claims& who, const std::string& id);
  Result<ClusterState*> Cluster(const HttpRequest& req);

  // Documents in Oakestra's shapes.
  nlohmann::json AppJson(const ApplicationRecord& a);
  // A service document: the stored one plus its live fields (status, instance_list, ...), as text.
  std::string RenderService(std::string_view doc_text, int64_t next_instance,
                            const std::vector<InstanceRecord>& instances) const;
  HttpResponse ServiceResponse(const ServiceRecord& s);
  // The services of `app_id` (empty: all), skipping other owners' when `owner_filter` is set.
  HttpResponse ServicesResponse(const std::string& app_id, const std::string& owner_filter);
  nlohmann::json UserJson(const UserRecord& u) const;
  nlohmann::json OrgJson(const OrganizationRecord& o) const;
  Result<nlohmann::json> AppsJson(const std::string& owner_id);
  // Builds the service records for the microservices of `sla_app` (an SLA application, validated).
  Result<std::vector<ServiceRecord>> NewServices(const ApplicationRecord& app, const nlohmann::json& sla_app,
                                                 const std::string& path);
  // Asks the clusters to drop these instances (read them before deleting their records).
  void UndeployAll(const std::string& service_id, const std::vector<InstanceRecord>& instances);

  // Auth and users (api_users.cc).
  boost::asio::awaitable<HttpResponse> Login(HttpRequest& req);
  HttpResponse Refresh(HttpRequest& req);
  boost::asio::awaitable<HttpResponse> RegisterUser(HttpRequest& req);
  HttpResponse GetUser(HttpRequest& req);
  HttpResponse PutUser(HttpRequest& req);
  HttpResponse DeleteUser(HttpRequest& req);
  boost::asio::awaitable<HttpResponse> ChangePassword(HttpRequest& req);
  HttpResponse ListUsers(HttpRequest& req);
  HttpResponse Permission(HttpRequest& req);
  HttpResponse ListOrgs(HttpRequest& req);
  HttpResponse CreateOrg(HttpRequest& req);
  HttpResponse GetOrg(HttpRequest& req);
  HttpResponse PutOrg(HttpRequest& req);
  HttpResponse DeleteOrg(HttpRequest& req);

  // Applications, services, instances (api_apps.cc).
  HttpResponse CreateApps(HttpRequest& req);
  HttpResponse ListApps(HttpRequest& req);
  HttpResponse ListUserApps(HttpRequest& req);
  HttpResponse GetApp(HttpRequest& req);
  HttpResponse PutApp(HttpRequest& req);
  HttpResponse DeleteApp(HttpRequest& req);
  HttpResponse CreateServices(HttpRequest& req);
  HttpResponse GetService(HttpRequest& req);
  HttpResponse PutService(HttpRequest& req);
  HttpResponse DeleteService(HttpRequest& req);
  HttpResponse ListAppServices(HttpRequest& req);
  HttpResponse ListAllServices(HttpRequest& req);
  boost::asio::awaitable<HttpResponse> DeployInstance(HttpRequest& req);
  HttpResponse UndeployInstance(HttpRequest& req);
  // Instance logs through the cluster and node (api_logs.cc).
  boost::asio::awaitable<HttpResponse> InstanceLogs(HttpRequest& req);

  // Clusters and operations (api_clusters.cc).
  HttpResponse ListClusters(HttpRequest& req, bool active_only);
  boost::asio::awaitable<HttpResponse> ListNodes(HttpRequest& req);
  HttpResponse RegisterCluster(HttpRequest& req);
  boost::asio::awaitable<HttpResponse> ClusterInformation(HttpRequest& req);
  HttpResponse ClusterTokenInfo(HttpRequest& req);
  HttpResponse WorkerTokenInfo(HttpRequest& req);
  HttpResponse Healthz(HttpRequest& req);
  HttpResponse Metrics(HttpRequest& req);
  HttpResponse Docs(HttpRequest& req);

  ApiDeps d_;
  const Router* router_ = nullptr;
  uint64_t status_updates_ = 0;  // instance changes applied from cluster reports
};

}  // namespace oak::root
