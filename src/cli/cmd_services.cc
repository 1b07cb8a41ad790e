// `oak svc ls|show|deploy|undeploy`.
#include <charconv>
#include <iostream>
#include <memory>

#include "cli/format.h"
#include "cli/resolve.h"
#include "cli/session.h"
#include "common/json_fields.h"

namespace oak::cli {

using nlohmann::json;

namespace {

// "all" or absent means every instance (-1, the API's wildcard).
Result<int64_t> InstanceNumber(const std::string& text) {
  if (text.empty() || text == "all") return int64_t{-1};
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || n < -1)
    return Status::Invalid("instance number '" + text + "': must be an integer >= 0, or 'all'");
  return n;
}

int RunList(const std::string& app_ref, bool as_json) {
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  std::string target = "/api/services/";
  if (!app_ref.empty()) {
    auto app = ResolveApp(*api, app_ref);
    if (!app.ok()) return Fail(app.status());
    target += StringOr(*app, "applicationID");
  }
  auto services = api->Get(target);
  if (!services.ok()) return Fail(services.status());
  if (as_json) PrintJson(*services);
  else std::cout << ServicesTable(*services);
  return kExitOk;
}

int RunShow(const std::string& ref, bool as_json) {
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  auto svc = ResolveService(*api, ref);
  if (!svc.ok()) return Fail(svc.status());
  if (as_json) PrintJson(*svc);
  else std::cout << ServiceDetail(*svc);
  return kExitOk;
}

int RunDeploy(const std::string& ref, bool as_json) {
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  auto svc = ResolveService(*api, ref);
  if (!svc.ok()) return Fail(svc.status());
  auto inst = api->Post("/api/service/" + StringOr(*svc, "microserviceID") + "/instance", json::object());
  if (!inst.ok()) return Fail(inst.status());
  if (as_json) PrintJson(*inst);
  else std::cout << "Deployed " << StringOr(*svc, "job_name") << " instance #" << Cell(*inst, "instance_number") << " ("
                 << Cell(*inst, "status") << ")\n";
  return kExitOk;
}

int RunUndeploy(const std::string& ref, const std::string& which, bool as_json) {
  auto number = InstanceNumber(which);
  if (!number.ok()) return Fail(number.status());
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  auto svc = ResolveService(*api, ref);
  if (!svc.ok()) return Fail(svc.status());
  auto res = api->Delete("/api/service/" + StringOr(*svc, "microserviceID") + "/instance/" + std::to_string(*number));
  if (!res.ok()) return Fail(res.status());
  if (as_json) {
    PrintJson(*res);
    return kExitOk;
  }
  const json& removed = (*res)["undeployed"];
  if (!removed.is_array() || removed.empty()) {
    std::cout << StringOr(*svc, "job_name") << ": no instances to undeploy.\n";
    return kExitOk;
  }
  std::string list;
  for (const auto& n : removed) list += (list.empty() ? "#" : ", #") + n.dump();
  std::cout << "Undeployed " << StringOr(*svc, "job_name") << " instance" << (removed.size() > 1 ? "s " : " ") << list
            << "\n";
  return kExitOk;
}

struct SvcOptions {
  std::string ref, which;
  bool json = false;
};

}  // namespace

void AddServiceCommands(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<SvcOptions>();
  const char* json_help = "Print the API's JSON instead of text";
  const char* svc_help = "Service id, job name (app.appns.svc.svcns), or unique service name";

  CLI::App* group = app.add_subcommand("svc", "Services and their instances");
  group->require_subcommand(1);
  CLI::App* ls = AddCommand(*group, "ls", "List services (of one application, or all visible)", exit_code,
                            [o] { return RunList(o->ref, o->json); });
  ls->add_option("APP", o->ref, "Application id, name.namespace, or unique name");
  ls->add_flag("--json", o->json, json_help);

  CLI::App* show = AddCommand(*group, "show", "Show a service and its instances", exit_code,
                              [o] { return RunShow(o->ref, o->json); });
  show->add_option("SVC", o->ref, svc_help)->required();
  show->add_flag("--json", o->json, json_help);

  CLI::App* deploy = AddCommand(*group, "deploy", "Deploy one more instance of a service", exit_code,
                                [o] { return RunDeploy(o->ref, o->json); });
  deploy->add_option("SVC", o->ref, svc_help)->required();
  deploy->add_flag("--json", o->json, json_help);

  CLI::App* undeploy = AddCommand(*group, "undeploy", "Undeploy instance N of a service (default: all)", exit_code,
                                  [o] { return RunUndeploy(o->ref, o->which, o->json); });
  undeploy->add_option("SVC", o->ref, svc_help)->required();
  undeploy->add_option("N", o->which, "Instance number, or 'all' (default)");
  undeploy->add_flag("--json", o->json, json_help);
}

}  // namespace oak::cli
