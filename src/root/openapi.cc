#include "root/openapi.h"

#include <map>

namespace oak::root {
namespace {

using nlohmann::json;

struct Doc {
  const char* summary;
  const char* auth;  // "user", "admin", "cluster-token", "cluster-secret", "refresh", "none"
  const char* body;  // request body description, or nullptr
  const char* query = nullptr;  // an optional integer query parameter, or nullptr
};

// Keyed by "METHOD pattern" exactly as registered.
const std::map<std::string, Doc>& Docs() {
  static const std::map<std::string, Doc> kDocs = {
      {"POST /api/auth/login", {"Log in; answers {token, refresh_token}", "none", "{username, password, organization_name?}"}},
      {"POST /api/auth/refresh", {"New access token from a refresh token", "refresh", "{} (ignored)"}},
      {"POST /api/auth/register", {"Create a user", "admin", "{name, password, email?, roles?[], organization?}"}},
      {"GET /api/user/{}", {"A user: {_id, name, email, roles}", "user", nullptr}},
      {"PUT /api/user/{}", {"Change a user's email, organization or (Admin) roles", "user", "{email?, organization?, roles?}"}},
      {"DELETE /api/user/{}", {"Delete a user", "admin", nullptr}},
      {"POST /api/user/{}", {"Change a password", "user", "{oldPassword, newPassword}"}},
      {"GET /api/users", {"All users", "admin", nullptr}},
      {"GET /api/users/{}", {"Users of an organization (id or name); all users when it names none", "admin", nullptr}},
      {"GET /api/permission/{}", {"A user's roles: {roles}", "user", nullptr}},
      {"GET /api/organization", {"All organizations", "admin", nullptr}},
      {"POST /api/organization", {"Create an organization", "admin", "{name, ...}"}},
      {"GET /api/organization/{}", {"An organization by id or name", "user", nullptr}},
      {"PUT /api/organization/{}", {"Change an organization", "admin", "{name?, ...}"}},
      {"DELETE /api/organization/{}", {"Delete an organization", "admin", nullptr}},
      {"POST /api/application", {"Create the applications and services of an SLA; answers the caller's applications", "user", "SLA v2.0"}},
      {"GET /api/applications", {"Applications (Admin: all; others: their own)", "user", nullptr}},
      {"GET /api/applications/{}", {"Applications of a user id", "user", nullptr}},
      {"GET /api/application/{}", {"One application", "user", nullptr}},
      {"PUT /api/application/{}", {"Change an application's name, namespace or description", "user", "application document"}},
      {"DELETE /api/application/{}", {"Undeploy and delete an application and its services", "user", nullptr}},
      {"POST /api/service", {"Add the SLA's microservices to applications[0].applicationID; answers {job_id, deployed_services, failed_services}", "user", "SLA v2.0"}},
      {"GET /api/service/{}", {"One service with its instance_list", "user", nullptr}},
      {"PUT /api/service/{}", {"Replace a service's SLA fields (same name and namespace)", "user", "SLA v2.0 with one microservice"}},
      {"DELETE /api/service/{}", {"Undeploy and delete a service", "user", nullptr}},
      {"GET /api/services/{}", {"Services of an application", "user", nullptr}},
      {"GET /api/services", {"Services (Admin: all; others: their own)", "user", nullptr}},
      {"POST /api/service/{}/instance", {"Deploy one more instance (asynchronous)", "user", "any JSON (ignored)"}},
      {"DELETE /api/service/{}/instance/{}", {"Undeploy instance n (-1: all)", "user", nullptr}},
      {"GET /api/service/{}/instance/{}/logs", {"The last max_bytes (query, default 65536, at most 1 MiB) of instance n's stdout and stderr, from its node: {logs, instance_number, cluster_id, worker_id}; 404 unknown instance, 409 not placed yet, 502 cluster unreachable, 504 node or cluster silent", "user", nullptr, "max_bytes"}},
      {"GET /api/clusters", {"All clusters", "user", nullptr}},
      {"GET /api/clusters/active", {"Active clusters", "user", nullptr}},
      {"GET /api/nodes", {"Worker nodes of every active cluster, as the clusters list them, with cluster_id and cluster_name", "user", nullptr}},
      {"POST /api/clusters/register", {"Register a cluster; answers {id, secret, heartbeat_interval_s}", "cluster-token", "{cluster_name, cluster_location, manager_url | manager_port, virtualization?[], supported_addons?[]}"}},
      {"POST /api/information/{}", {"Cluster heartbeat: aggregates and jobs[] with instance statuses", "cluster-secret", "see docs/api.md"}},
      {"POST /api/tokens/cluster", {"The cluster join token and how to start a cluster with it", "admin or Infrastructure_Provider", "{}"}},
      {"POST /api/tokens/worker", {"Worker tokens are issued by clusters: 501 here", "admin or Infrastructure_Provider", "{cluster_id}"}},
      {"GET /healthz", {"Liveness", "none", nullptr}},
      {"GET /metrics", {"Prometheus metrics", "none", nullptr}},
      {"GET /api/docs", {"This document", "none", nullptr}},
  };
  return kDocs;
}

std::string Key(http::verb m, const std::string& pattern) {
  return std::string(http::to_string(m)) + " " + pattern;
}

// "/api/service/{}/instance/{}" -> "/api/service/{p1}/instance/{p2}"
std::string OpenApiPath(const std::string& pattern) {
  std::string out;
  int n = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern.compare(i, 2, "{}") == 0) {
      out += "{p" + std::to_string(++n) + "}";
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

}  // namespace

json OpenApiDocument(const Router& router) {
  json paths = json::object();
  for (const auto& [method, pattern] : router.Routes()) {
    auto it = Docs().find(Key(method, pattern));
    json op = {{"summary", it == Docs().end() ? "" : it->second.summary},
               {"responses",
                {{"200", {{"description", "OK"}}},
                 {"4XX", {{"description", "{\"message\": \"...\"} naming the field or resource at fault"}}}}}};
    if (it != Docs().end()) {
      op["x-auth"] = it->second.auth;
      if (std::string(it->second.auth) != "none") op["security"] = json::array({{{"bearer", json::array()}}});
      if (it->second.body)
        op["requestBody"] = {{"description", it->second.body},
                             {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
    }
    json params = json::array();
    int n = 0;
    for (size_t p = pattern.find("{}"); p != std::string::npos; p = pattern.find("{}", p + 2))
      params.push_back({{"name", "p" + std::to_string(++n)}, {"in", "path"}, {"required", true},
                        {"schema", {{"type", "string"}}}});
    if (it != Docs().end() && it->second.query)
      params.push_back({{"name", it->second.query}, {"in", "query"}, {"required", false},
                        {"schema", {{"type", "integer"}, {"minimum", 0}}}});
    if (!params.empty()) op["parameters"] = params;
    std::string m(http::to_string(method));
    for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    paths[OpenApiPath(pattern)][m] = op;
  }
  return {{"openapi", "3.0.3"},
          {"info", {{"title", "Oak root orchestrator API"}, {"version", "1"}}},
          {"components", {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}},
          {"paths", paths}};
}

std::vector<std::string> UndocumentedRoutes(const Router& router) {
  std::vector<std::string> out;
  for (const auto& [method, pattern] : router.Routes())
    if (!Docs().contains(Key(method, pattern))) out.push_back(Key(method, pattern));
  return out;
}

}  // namespace oak::root
