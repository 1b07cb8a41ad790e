#include <charconv>

#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/ids.h"
#include "model/sla.h"
#include "model/status_names.h"
#include "root/api.h"

namespace oak::root {

using nlohmann::json;

namespace {

bool CanProvideApps(const Claims& c) { return c.HasRole(kRoleAppProvider) || c.HasRole(kRoleAdmin); }

Result<json> ValidSla(const HttpRequest& req) {
  auto body = ParseJsonBody(req.body());
  if (!body.ok()) return body.status();
  OAK_RETURN_IF_ERROR(model::ValidateSla(*body));
  return body;
}

}  // namespace

HttpResponse RootApi::CreateApps(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  if (!CanProvideApps(*who)) return HttpResponse::Error(403, "creating applications needs the Application_Provider role");
  auto sla = ValidSla(req);
  if (!sla.ok()) return HttpResponse::FromStatus(sla.status());
  std::vector<NewApplication> apps;
  const json& list = (*sla)["applications"];
  for (size_t i = 0; i < list.size(); ++i) {
    const json& a = list[i];
    std::string path = "applications[" + std::to_string(i) + "]";
    NewApplication na;
    na.app.id = NewObjectId();
    na.app.owner_id = who->uid;
    na.app.name = a["application_name"];
    na.app.ns = a["application_namespace"];
    for (const auto& prev : apps)
      if (prev.app.name == na.app.name && prev.app.ns == na.app.ns)
        return HttpResponse::Error(409, path + ".application_name: appears twice in this SLA");
    na.app.doc = a;
    na.app.doc.erase("microservices");
    na.app.doc.erase("_id");
    na.app.doc["customerID"] = StringOr(*sla, "customerID", who->uid);
    auto services = NewServices(na.app, a, path);
    if (!services.ok()) return HttpResponse::FromStatus(services.status());
    na.services = std::move(*services);
    apps.push_back(std::move(na));
  }
  if (Status s = d_.store.CreateApplications(apps); !s.ok()) return HttpResponse::FromStatus(s);
  for (auto& na : apps)
    spdlog::info("msg=\"application created\" app={} name={}.{} services={} user=\"{}\"", na.app.id, na.app.name,
                 na.app.ns, na.services.size(), who->sub);
  auto out = AppsJson(who->uid);
  if (!out.ok()) return HttpResponse::FromStatus(out.status());
  return HttpResponse::Json(200, *out);
}

HttpResponse RootApi::ListApps(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto out = AppsJson(who->HasRole(kRoleAdmin) ? std::string() : who->uid);
  if (!out.ok()) return HttpResponse::FromStatus(out.status());
  return HttpResponse::Json(200, *out);
}

HttpResponse RootApi::ListUserApps(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  const std::string& uid = req.params[0];
  if (uid != who->uid && !who->HasRole(kRoleAdmin)) return HttpResponse::Error(404, "user '" + uid + "' not found");
  auto out = AppsJson(uid);
  if (!out.ok()) return HttpResponse::FromStatus(out.status());
  return HttpResponse::Json(200, *out);
}

HttpResponse RootApi::GetApp(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto app = OwnedApp(*who, req.params[0]);
  if (!app.ok()) return HttpResponse::FromStatus(app.status());
  return HttpResponse::Json(200, AppJson(*app));
}

HttpResponse RootApi::PutApp(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto app = OwnedApp(*who, req.params[0]);
  if (!app.ok()) return HttpResponse::FromStatus(app.status());
  auto body = ParseJsonBody(req.body());
  if (!body.ok()) return HttpResponse::FromStatus(body.status());
  if (!body->is_object()) return HttpResponse::Error(400, "body: must be a JSON object");
  // Oakestra's dashboard sends the whole application; only these fields are editable.
  for (const char* f : {"application_name", "application_namespace"}) {
    if (auto it = body->find(f); it != body->end()) {
      if (!it->is_string() || !model::IsValidName(it->get<std::string>()))
        return HttpResponse::Error(400, std::string(f) + ": must match ^[a-zA-Z0-9]{1,30}$");
    }
  }
  if (auto it = body->find("application_desc"); it != body->end()) {
    if (!it->is_string()) return HttpResponse::Error(400, "application_desc: must be a string");
    app->doc["application_desc"] = *it;
  }
  auto services = d_.store.ListServices(app->id);
  if (!services.ok()) return HttpResponse::FromStatus(services.status());
  std::string name = body->value("application_name", app->name), ns = body->value("application_namespace", app->ns);
  if ((name != app->name || ns != app->ns) && !services->empty())
    return HttpResponse::Error(409, "application_name: cannot rename an application that has services (job names depend on it)");
  app->name = name;
  app->ns = ns;
  app->doc["application_name"] = name;
  app->doc["application_namespace"] = ns;
  if (Status s = d_.store.UpdateApplication(*app); !s.ok()) return HttpResponse::FromStatus(s);
  return HttpResponse::Json(200, AppJson(*app));
}

HttpResponse RootApi::DeleteApp(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto app = OwnedApp(*who, req.params[0]);
  if (!app.ok()) return HttpResponse::FromStatus(app.status());
  auto services = d_.store.ListServices(app->id);
  if (!services.ok()) return HttpResponse::FromStatus(services.status());
  std::vector<std::string> ids;
  for (auto& s : *services) ids.push_back(s.id);
  auto instances = d_.store.ListInstancesOf(ids);
  if (!instances.ok()) return HttpResponse::FromStatus(instances.status());
  // Delete first, then undeploy: a crash between the two leaves instances that clusters keep
  // reporting, and every report of an unknown instance is answered with an undeploy.
  if (Status s = d_.store.DeleteApplication(app->id); !s.ok()) return HttpResponse::FromStatus(s);
  for (auto& s : *services) d_.dispatcher.Forget(s.id);
  for (auto& [sid, list] : *instances) UndeployAll(sid, list);
  spdlog::info("msg=\"application deleted\" app={} user=\"{}\"", app->id, who->sub);
  return HttpResponse::Json(200, {{"message", "application '" + app->id + "' deleted"}});
}

HttpResponse RootApi::CreateServices(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  if (!CanProvideApps(*who)) return HttpResponse::Error(403, "creating services needs the Application_Provider role");
  auto sla = ValidSla(req);
  if (!sla.ok()) return HttpResponse::FromStatus(sla.status());
  const json& a = (*sla)["applications"][0];
  std::string app_id = StringOr(a, "applicationID");
  if (app_id.empty()) return HttpResponse::Error(400, "applications[0].applicationID: required to add services");
  auto app = OwnedApp(*who, app_id);
  if (!app.ok()) return HttpResponse::FromStatus(app.status());
  auto services = NewServices(*app, a, "applications[0]");
  if (!services.ok()) return HttpResponse::FromStatus(services.status());
  if (services->empty()) return HttpResponse::Error(400, "applications[0].microservices: no service to add");
  if (Status s = d_.store.AddServices(*services); !s.ok()) return HttpResponse::FromStatus(s);
  json ids = json::array();
  for (auto& s : *services) ids.push_back(s.id);
  return HttpResponse::Json(200, {{"job_id", services->front().id}, {"deployed_services", ids},
                                  {"failed_services", json::array()}});
}

HttpResponse RootApi::GetService(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto svc = OwnedService(*who, req.params[0]);
  if (!svc.ok()) return HttpResponse::FromStatus(svc.status());
  return ServiceResponse(*svc);
}

HttpResponse RootApi::PutService(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto svc = OwnedService(*who, req.params[0]);
  if (!svc.ok()) return HttpResponse::FromStatus(svc.status());
  auto sla = ValidSla(req);
  if (!sla.ok()) return HttpResponse::FromStatus(sla.status());
  auto app = d_.store.GetApplication(svc->app_id);
  if (!app.ok()) return HttpResponse::FromStatus(app.status());
  auto fresh = NewServices(*app, (*sla)["applications"][0], "applications[0]");
  if (!fresh.ok()) return HttpResponse::FromStatus(fresh.status());
  if (fresh->size() != 1)
    return HttpResponse::Error(400, "applications[0].microservices: exactly one microservice replaces a service");
  ServiceRecord& updated = fresh->front();
  // Containers on nodes are named after the job name, so it cannot change under running instances.
  if (updated.job_name != svc->job_name)
    return HttpResponse::Error(409, "applications[0].microservices[0].microservice_name: a service cannot be renamed");
  // NewServices gave the replacement a fresh id; it keeps the service's.
  updated.id = svc->id;
  updated.next_instance = svc->next_instance;
  updated.doc["_id"] = {{"$oid", svc->id}};
  updated.doc["job_id"] = svc->id;
  updated.doc["microserviceID"] = svc->id;
  if (Status s = d_.store.UpdateService(updated); !s.ok()) return HttpResponse::FromStatus(s);
  d_.dispatcher.Forget(updated.id);
  return ServiceResponse(updated);
}

HttpResponse RootApi::DeleteService(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto svc = OwnedService(*who, req.params[0]);
  if (!svc.ok()) return HttpResponse::FromStatus(svc.status());
  auto instances = d_.store.ListInstances(svc->id);
  if (!instances.ok()) return HttpResponse::FromStatus(instances.status());
  if (Status s = d_.store.DeleteService(svc->id); !s.ok()) return HttpResponse::FromStatus(s);
  d_.dispatcher.Forget(svc->id);
  UndeployAll(svc->id, *instances);
  return HttpResponse::Json(200, {{"message", "service '" + svc->id + "' deleted"}});
}

HttpResponse RootApi::ListAppServices(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto app = OwnedApp(*who, req.params[0]);
  if (!app.ok()) return HttpResponse::FromStatus(app.status());
  return ServicesResponse(app->id, "");
}

HttpResponse RootApi::ListAllServices(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  return ServicesResponse("", who->HasRole(kRoleAdmin) ? std::string() : who->uid);
}

boost::asio::awaitable<HttpResponse> RootApi::DeployInstance(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) co_return HttpResponse::FromStatus(who.status());
  // The dispatcher's copy of the service: ownership never changes, and the write below fails
  // with 404 all the same if the service was deleted.
  auto svc = d_.dispatcher.Service(req.params[0]);
  if (!svc.ok()) co_return HttpResponse::FromStatus(svc.status());
  if ((*svc)->owner_id != who->uid && !who->HasRole(kRoleAdmin))
    co_return HttpResponse::Error(404, "service '" + req.params[0] + "' not found");
  // The body is optional (Oakestra's dashboard sends one); if present it must be JSON.
  if (!req.body().empty()) {
    auto body = ParseJsonBody(req.body());
    if (!body.ok()) co_return HttpResponse::FromStatus(body.status());
  }
  // Placed here rather than after the write: the instance is stored once, already placed (or
  // failed with the reason), in the same batch as its number. The answer still says REQUESTED.
  Placement p = d_.dispatcher.Place(**svc);
  const std::string sid = (*svc)->id;
  InstanceRecord inst{sid, 0, p.cluster_id, p.status, p.status_detail, d_.clock.NowMs(), json::object()};
  if (!p.cluster_location.empty()) inst.doc["cluster_location"] = p.cluster_location;
  Status s = co_await d_.commit.Write(
      [&]() -> Status {
        auto created = d_.store.CreateInstance(inst);
        if (!created.ok()) return created.status();
        inst.number = created->number;
        return Status::Ok();
      },
      boost::asio::use_awaitable);
  if (!s.ok()) co_return HttpResponse::FromStatus(s);
  if (!inst.cluster_id.empty()) {
    d_.dispatcher.Send(sid, inst.number, inst.cluster_id);
    co_await d_.dispatcher.WaitForRoom(inst.cluster_id);  // stored already: only the answer waits
  } else {
    spdlog::info("msg=\"instance not placed\" service={} instance={} status={} detail=\"{}\"", sid, inst.number,
                 inst.status, inst.status_detail);
  }
  co_return HttpResponse::Json(200, {{"job_id", sid},
                                     {"instance_number", inst.number},
                                     {"status", model::status::kRequested},
                                     {"message", "instance " + std::to_string(inst.number) + " requested"}});
}

HttpResponse RootApi::UndeployInstance(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto svc = OwnedService(*who, req.params[0]);
  if (!svc.ok()) return HttpResponse::FromStatus(svc.status());
  const std::string& n = req.params[1];
  int64_t number = 0;
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), number);
  if (ec != std::errc() || p != n.data() + n.size() || number < -1)
    return HttpResponse::Error(400, "instance_number: must be an integer >= 0, or -1 for all");
  auto instances = d_.store.ListInstances(svc->id);
  if (!instances.ok()) return HttpResponse::FromStatus(instances.status());
  json removed = json::array();
  for (const auto& i : *instances) {
    if (number != -1 && i.number != number) continue;
    if (Status s = d_.store.RemoveInstance(svc->id, i.number); !s.ok()) return HttpResponse::FromStatus(s);
    if (!i.cluster_id.empty()) d_.dispatcher.Undeploy(i.cluster_id, svc->id, i.number);
    removed.push_back(i.number);
  }
  if (number != -1 && removed.empty())
    return HttpResponse::Error(404, "instance_number: service has no instance " + n);
  return HttpResponse::Json(200, {{"job_id", svc->id}, {"undeployed", removed}});
}

}  // namespace oak::root
