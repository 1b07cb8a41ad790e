// `oak apply`, `oak app ...`, `oak clusters` and `oak nodes`.
#include <iostream>
#include <memory>

#include "cli/format.h"
#include "cli/resolve.h"
#include "cli/session.h"
#include "common/fs.h"
#include "common/json_fields.h"

namespace oak::cli {

using nlohmann::json;

namespace {

// The SLA as text (sent unchanged: the API validates it) and parsed (to find the created apps).
Result<std::pair<std::string, json>> ReadSla(const std::string& file) {
  auto text = ReadFile(file);
  if (!text.ok()) return text.status();
  try {
    return std::make_pair(*text, json::parse(*text));
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // nlohmann prefixes "[json.exception.parse_error.101] "; the rest is the useful part.
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    return Status::Invalid(file + ": not valid JSON: " + what);
  }
}

// The applications of `sla` among the caller's applications `mine`, matched by name and namespace
// (unique per user: the API refuses a second one with 409).
json CreatedApps(const json& sla, const json& mine) {
  json out = json::array();
  if (!sla.is_object() || !sla.contains("applications") || !sla["applications"].is_array() || !mine.is_array())
    return out;
  for (const auto& want : sla["applications"]) {
    if (!want.is_object()) continue;
    for (const auto& a : mine) {
      if (a.is_object() && StringOr(a, "application_name") == StringOr(want, "application_name") &&
          StringOr(a, "application_namespace") == StringOr(want, "application_namespace")) {
        out.push_back(a);
        break;
      }
    }
  }
  return out;
}

int RunApply(const std::string& file, bool deploy, bool as_json) {
  auto sla = ReadSla(file);
  if (!sla.ok()) return Fail(sla.status());
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  auto mine = api->Call(ApiClient::Verb::post, "/api/application/", sla->first);
  if (!mine.ok()) return Fail(mine.status());
  json apps = CreatedApps(sla->second, *mine);
  json services = json::array(), instances = json::array();
  int rc = kExitOk;
  for (const auto& a : apps) {
    auto list = api->Get("/api/services/" + StringOr(a, "applicationID"));
    if (!list.ok()) return Fail(list.status());
    if (!as_json) std::cout << "Created application " << Cell(a, "application_name") << "." << Cell(a, "application_namespace")
                            << " (" << Cell(a, "applicationID") << ")\n";
    for (auto& s : *list) services.push_back(s);
  }
  if (!as_json && !services.empty()) std::cout << "\n" << ServicesTable(services);
  if (deploy) {
    if (!as_json && !services.empty()) std::cout << "\n";
    for (const auto& s : services) {
      // Instances are independent: one refused deployment does not stop the others.
      auto inst = api->Post("/api/service/" + StringOr(s, "microserviceID") + "/instance", json::object());
      if (!inst.ok()) {
        rc = Fail(Status(inst.status().code(), StringOr(s, "job_name") + ": " + inst.status().message()));
        continue;
      }
      instances.push_back(*inst);
      if (!as_json)
        std::cout << "Deployed " << StringOr(s, "job_name") << " instance #" << Cell(*inst, "instance_number") << " ("
                  << Cell(*inst, "status") << ")\n";
    }
  }
  if (as_json) {
    json out = {{"applications", apps}, {"services", services}};
    if (deploy) out["instances"] = instances;
    PrintJson(out);
  }
  return rc;
}

int RunAppList(bool as_json) {
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  auto apps = api->Get("/api/applications/");
  if (!apps.ok()) return Fail(apps.status());
  if (as_json) PrintJson(*apps);
  else std::cout << AppsTable(*apps);
  return kExitOk;
}

int RunAppShow(const std::string& ref, bool as_json) {
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  auto app = ResolveApp(*api, ref);
  if (!app.ok()) return Fail(app.status());
  std::string id = StringOr(*app, "applicationID");
  auto fresh = api->Get("/api/application/" + id);
  if (!fresh.ok()) return Fail(fresh.status());
  if (as_json) {
    PrintJson(*fresh);
    return kExitOk;
  }
  auto services = api->Get("/api/services/" + id);
  if (!services.ok()) return Fail(services.status());
  std::cout << AppDetail(*fresh, *services);
  return kExitOk;
}

int RunAppRemove(const std::string& ref, bool as_json) {
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  auto app = ResolveApp(*api, ref);
  if (!app.ok()) return Fail(app.status());
  auto res = api->Delete("/api/application/" + StringOr(*app, "applicationID"));
  if (!res.ok()) return Fail(res.status());
  if (as_json) PrintJson(*res);
  else std::cout << "Deleted application " << Cell(*app, "application_name") << "." << Cell(*app, "application_namespace")
                 << " (" << Cell(*app, "applicationID") << ") and its services.\n";
  return kExitOk;
}

int RunClusters(bool as_json) {
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  auto clusters = api->Get("/api/clusters/");
  if (!clusters.ok()) return Fail(clusters.status());
  if (as_json) PrintJson(*clusters);
  else std::cout << ClustersTable(*clusters);
  return kExitOk;
}

int RunNodes(bool as_json) {
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  auto nodes = api->Get("/api/nodes");
  if (!nodes.ok()) return Fail(nodes.status());
  if (as_json) PrintJson(*nodes);
  else std::cout << NodesTable(*nodes);
  return kExitOk;
}

struct AppOptions {
  std::string file, ref;
  bool deploy = false, json = false;
};

}  // namespace

void AddAppCommands(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<AppOptions>();
  const char* json_help = "Print the API's JSON instead of text";

  CLI::App* apply = AddCommand(app, "apply", "Create the applications and services of an SLA file", exit_code,
                               [o] { return RunApply(o->file, o->deploy, o->json); });
  apply->add_option("SLA", o->file, "SLA v2.0 JSON file")->required();
  apply->add_flag("--deploy", o->deploy, "Also deploy one instance of every created service");
  apply->add_flag("--json", o->json, json_help);

  CLI::App* group = app.add_subcommand("app", "Applications");
  group->require_subcommand(1);
  AddCommand(*group, "ls", "List applications", exit_code, [o] { return RunAppList(o->json); })
      ->add_flag("--json", o->json, json_help);
  CLI::App* show = AddCommand(*group, "show", "Show an application and its services", exit_code,
                              [o] { return RunAppShow(o->ref, o->json); });
  show->add_option("APP", o->ref, "Application id, name.namespace, or unique name")->required();
  show->add_flag("--json", o->json, json_help);
  CLI::App* rm = AddCommand(*group, "rm", "Undeploy and delete an application with its services", exit_code,
                            [o] { return RunAppRemove(o->ref, o->json); });
  rm->add_option("APP", o->ref, "Application id, name.namespace, or unique name")->required();
  rm->add_flag("--json", o->json, json_help);

  AddCommand(app, "clusters", "List the clusters registered with the root", exit_code,
             [o] { return RunClusters(o->json); })
      ->add_flag("--json", o->json, json_help);
  AddCommand(app, "nodes", "List the worker nodes of every active cluster", exit_code,
             [o] { return RunNodes(o->json); })
      ->add_flag("--json", o->json, json_help);
}

}  // namespace oak::cli
