#include <algorithm>
#include <cassert>

#include "common/ids.h"
#include "model/sla.h"
#include "model/status_names.h"
#include "root/api.h"

namespace oak::root {

using nlohmann::json;
using V = http::verb;

void RootApi::Register(Router& r) {
  router_ = &r;
  auto sync = [&](V m, const char* path, HttpResponse (RootApi::*fn)(HttpRequest&)) {
    r.Add(m, path, [this, fn](HttpRequest& q) { return (this->*fn)(q); });
  };
  auto async = [&](V m, const char* path, boost::asio::awaitable<HttpResponse> (RootApi::*fn)(HttpRequest&)) {
    r.AddAsync(m, path, [this, fn](HttpRequest& q) { return (this->*fn)(q); });
  };
  async(V::post, "/api/auth/login", &RootApi::Login);
  sync(V::post, "/api/auth/refresh", &RootApi::Refresh);
  async(V::post, "/api/auth/register", &RootApi::RegisterUser);
  sync(V::get, "/api/user/{}", &RootApi::GetUser);
  sync(V::put, "/api/user/{}", &RootApi::PutUser);
  sync(V::delete_, "/api/user/{}", &RootApi::DeleteUser);
  async(V::post, "/api/user/{}", &RootApi::ChangePassword);
  sync(V::get, "/api/users", &RootApi::ListUsers);
  sync(V::get, "/api/users/{}", &RootApi::ListUsers);
  sync(V::get, "/api/permission/{}", &RootApi::Permission);
  sync(V::get, "/api/organization", &RootApi::ListOrgs);
  sync(V::post, "/api/organization", &RootApi::CreateOrg);
  sync(V::get, "/api/organization/{}", &RootApi::GetOrg);
  sync(V::put, "/api/organization/{}", &RootApi::PutOrg);
  sync(V::delete_, "/api/organization/{}", &RootApi::DeleteOrg);

  sync(V::post, "/api/application", &RootApi::CreateApps);
  sync(V::get, "/api/applications", &RootApi::ListApps);
  sync(V::get, "/api/applications/{}", &RootApi::ListUserApps);
  sync(V::get, "/api/application/{}", &RootApi::GetApp);
  sync(V::put, "/api/application/{}", &RootApi::PutApp);
  sync(V::delete_, "/api/application/{}", &RootApi::DeleteApp);
  sync(V::post, "/api/service", &RootApi::CreateServices);
  sync(V::get, "/api/service/{}", &RootApi::GetService);
  sync(V::put, "/api/service/{}", &RootApi::PutService);
  sync(V::delete_, "/api/service/{}", &RootApi::DeleteService);
  sync(V::get, "/api/services/{}", &RootApi::ListAppServices);
  sync(V::get, "/api/services", &RootApi::ListAllServices);
  async(V::post, "/api/service/{}/instance", &RootApi::DeployInstance);
  sync(V::delete_, "/api/service/{}/instance/{}", &RootApi::UndeployInstance);
  async(V::get, "/api/service/{}/instance/{}/logs", &RootApi::InstanceLogs);

  r.Add(V::get, "/api/clusters", [this](HttpRequest& q) { return ListClusters(q, false); });
  r.Add(V::get, "/api/clusters/active", [this](HttpRequest& q) { return ListClusters(q, true); });
  async(V::get, "/api/nodes", &RootApi::ListNodes);
  sync(V::post, "/api/clusters/register", &RootApi::RegisterCluster);
  async(V::post, "/api/information/{}", &RootApi::ClusterInformation);
  sync(V::post, "/api/tokens/cluster", &RootApi::ClusterTokenInfo);
  sync(V::post, "/api/tokens/worker", &RootApi::WorkerTokenInfo);
  sync(V::get, "/healthz", &RootApi::Healthz);
  sync(V::get, "/metrics", &RootApi::Metrics);
  sync(V::get, "/api/docs", &RootApi::Docs);
}

Result<Claims> RootApi::User(const HttpRequest& req) const {
  std::string_view token = req.BearerToken();
  if (token.empty()) return Status::Unauthorized("missing Authorization: Bearer <token> header");
  return d_.tokens.Verify(token, "access");
}

Result<Claims> RootApi::AdminUser(const HttpRequest& req, std::string_view action) const {
  auto who = User(req);
  if (who.ok() && !who->HasRole(kRoleAdmin)) return Status::Forbidden("only an Admin can " + std::string(action));
  return who;
}

Result<ApplicationRecord> RootApi::OwnedApp(const Claims& who, const std::string& id) {
  auto app = d_.store.GetApplication(id);
  if (!app.ok()) return app.status();
  // Another user's application answers exactly like a missing one.
  if (app->owner_id != who.uid && !who.HasRole(kRoleAdmin))
    return Status::NotFound("application '" + id + "' not found");
  return app;
}

Result<ServiceRecord> RootApi::OwnedService(const Claims& who, const std::string& id) {
  auto svc = d_.store.GetService(id);
  if (!svc.ok()) return svc.status();
  if (svc->owner_id != who.uid && !who.HasRole(kRoleAdmin)) return Status::NotFound("service '" + id + "' not found");
  return svc;
}

Result<ClusterState*> RootApi::Cluster(const HttpRequest& req) {
  if (req.params.empty()) return Status::Unauthorized("cluster id required");
  return d_.clusters.Authenticate(req.params[0], req.BearerToken());
}

json RootApi::AppJson(const ApplicationRecord& a) {
  json j = a.doc;
  j["_id"] = {{"$oid", a.id}};
  j["applicationID"] = a.id;
  j["application_name"] = a.name;
  j["application_namespace"] = a.ns;
  if (!j.contains("application_desc")) j["application_desc"] = "";
  j["userId"] = a.owner_id;
  json ids = json::array();
  if (auto svcs = d_.store.ListStoredServices(a.id); svcs.ok())
    for (auto& s : *svcs) ids.push_back(s.id);
  j["microservices"] = std::move(ids);
  return j;
}

namespace {
std::string Compact(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
}  // namespace

std::string RootApi::RenderService(std::string_view doc_text, int64_t next_instance,
                                   const std::vector<InstanceRecord>& instances) const {
  json list = json::array();
  for (const auto& i : instances) {
    json e = {{"instance_number", i.number},
              {"cluster_id", i.cluster_id},
              {"status", i.status},
              {"status_detail", i.status_detail},
              {"last_modified_timestamp", i.updated_ms / 1000.0}};
    for (const char* f : {"cluster_location", "worker_id", "publicip", "host_ip", "host_port", "cpu_percent",
                          "memory_percent", "disk", "logs"})
      e[f] = i.doc.contains(f) ? i.doc[f] : json("");
    // The dashboard's instance page draws these; history is not kept yet.
    e["cpu_history"] = json::array();
    e["memory_history"] = json::array();
    list.push_back(std::move(e));
  }
  // The service shows RUNNING while any instance runs, otherwise its newest instance's state.
  std::string status = "CREATED", detail;
  if (!instances.empty()) {
    auto running = std::find_if(instances.begin(), instances.end(),
                                [](const InstanceRecord& i) { return i.status == model::status::kRunning; });
    const InstanceRecord& shown = running != instances.end() ? *running : instances.back();
    status = shown.status;
    detail = shown.status_detail;
  }
  // Invariant (NewServices): a stored document is a compact JSON object holding none of the keys
  // appended here, so splicing text yields the same document as merging parsed objects.
  assert(doc_text.size() >= 2 && doc_text.front() == '{' && doc_text.back() == '}');
  std::string out(doc_text.substr(0, doc_text.size() - 1));
  if (out.size() > 1) out += ',';
  out += "\"next_instance_progressive_number\":" + std::to_string(next_instance);
  out += ",\"status\":" + Compact(status) + ",\"status_detail\":" + Compact(detail);
  out += ",\"instance_list\":" + Compact(list) + "}";
  return out;
}

HttpResponse RootApi::ServiceResponse(const ServiceRecord& s) {
  auto instances = d_.store.ListInstances(s.id);
  if (!instances.ok()) return HttpResponse::FromStatus(instances.status());
  return HttpResponse::RawJson(200, RenderService(Compact(s.doc), s.next_instance, *instances));
}

HttpResponse RootApi::ServicesResponse(const std::string& app_id, const std::string& owner_filter) {
  auto services = d_.store.ListStoredServices(app_id);
  if (!services.ok()) return HttpResponse::FromStatus(services.status());
  auto instances = d_.store.ListInstancesOfApp(app_id);
  if (!instances.ok()) return HttpResponse::FromStatus(instances.status());
  static const std::vector<InstanceRecord> kNone;
  std::string out = "[";
  for (const auto& s : *services) {
    if (!owner_filter.empty() && s.owner_id != owner_filter) continue;
    auto it = instances->find(s.id);
    if (out.size() > 1) out += ',';
    out += RenderService(s.doc_text, s.next_instance, it == instances->end() ? kNone : it->second);
  }
  out += ']';
  return HttpResponse::RawJson(200, std::move(out));
}

json RootApi::UserJson(const UserRecord& u) const {
  return {{"_id", {{"$oid", u.id}}}, {"name", u.name},          {"email", u.email},
          {"roles", u.roles},        {"organization", u.organization_id}, {"created_at", u.created_ms / 1000}};
}

json RootApi::OrgJson(const OrganizationRecord& o) const {
  json j = o.doc;
  j["_id"] = {{"$oid", o.id}};
  j["name"] = o.name;
  if (!j.contains("member")) j["member"] = json::array();
  return j;
}

Result<json> RootApi::AppsJson(const std::string& owner_id) {
  auto apps = d_.store.ListApplications(owner_id);
  if (!apps.ok()) return apps.status();
  json out = json::array();
  for (auto& a : *apps) out.push_back(AppJson(a));
  return out;
}

Result<std::vector<ServiceRecord>> RootApi::NewServices(const ApplicationRecord& app, const json& sla_app,
                                                        const std::string& path) {
  std::vector<ServiceRecord> out;
  auto it = sla_app.find("microservices");
  if (it == sla_app.end() || !it->is_array()) return out;  // absent or null: no services
  const json& microservices = *it;
  for (size_t i = 0; i < microservices.size(); ++i) {
    const json& ms = microservices[i];
    std::string ms_path = path + ".microservices[" + std::to_string(i) + "]";
    OAK_RETURN_IF_ERROR(model::AdmitMicroservice(ms, ms_path));
    ServiceRecord s;
    s.id = NewObjectId();
    s.app_id = app.id;
    s.owner_id = app.owner_id;
    std::string name = ms["microservice_name"], ns = ms["microservice_namespace"];
    s.job_name = app.name + "." + app.ns + "." + name + "." + ns;
    for (const auto& prev : out)
      if (prev.job_name == s.job_name)
        return Status::Conflict(ms_path + ".microservice_name: appears twice in this application");
    if (auto a = ms.find("addresses"); a != ms.end() && a->is_object())
      if (auto rr = a->find("rr_ip"); rr != a->end() && rr->is_string()) s.rr_ip = rr->get<std::string>();
    s.doc = ms;
    // RenderService appends these from live state; a stored copy would be stale and duplicated.
    for (const char* live : {"status", "status_detail", "instance_list", "next_instance_progressive_number"})
      s.doc.erase(live);
    s.doc["_id"] = {{"$oid", s.id}};
    s.doc["job_id"] = s.id;
    s.doc["job_name"] = s.job_name;
    s.doc["microserviceID"] = s.id;
    s.doc["applicationID"] = app.id;
    s.doc["app_name"] = app.name;
    s.doc["app_ns"] = app.ns;
    s.doc["service_name"] = name;
    s.doc["service_ns"] = ns;
    s.doc["image"] = StringOr(ms, "code");
    out.push_back(std::move(s));
  }
  return out;
}

void RootApi::UndeployAll(const std::string& service_id, const std::vector<InstanceRecord>& instances) {
  for (const auto& i : instances)
    if (!i.cluster_id.empty()) d_.dispatcher.Undeploy(i.cluster_id, service_id, i.number);
}

}  // namespace oak::root
