// `oak logs SVC [N]`: an instance's stdout and stderr, as its node keeps them.
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/resolve.h"
#include "cli/session.h"
#include "common/json_fields.h"

namespace oak::cli {

using nlohmann::json;

namespace {

struct LogsOptions {
  std::string ref;
  int64_t instance = 0;
  std::optional<uint64_t> max_bytes;
  bool json = false;
};

int RunLogs(const LogsOptions& o) {
  auto api = OpenSession();
  if (!api.ok()) return Fail(api.status());
  auto svc = ResolveService(*api, o.ref);
  if (!svc.ok()) return Fail(svc.status());
  std::string target = "/api/service/" + StringOr(*svc, "microserviceID") + "/instance/" + std::to_string(o.instance) + "/logs";
  if (o.max_bytes) target += "?max_bytes=" + std::to_string(*o.max_bytes);
  auto res = api->Get(target);
  if (!res.ok()) return Fail(res.status());
  if (o.json) {
    PrintJson(*res);
    return kExitOk;
  }
  auto logs = res->find("logs");
  if (logs == res->end() || !logs->is_string()) return Fail(Status::Internal("the API's answer has no logs"));
  std::cout << logs->get_ref<const std::string&>();  // verbatim: no newline added
  return kExitOk;
}

}  // namespace

void AddLogsCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<LogsOptions>();
  CLI::App* cmd = AddCommand(app, "logs", "Print the stdout and stderr of instance N of a service", exit_code,
                             [o] { return RunLogs(*o); });
  cmd->add_option("SVC", o->ref, "Service id, job name (app.appns.svc.svcns), or unique service name")->required();
  cmd->add_option("N", o->instance, "Instance number")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--max-bytes", o->max_bytes, "Print at most the last B bytes (default 65536, at most 1 MiB)");
  cmd->add_flag("--json", o->json, "Print the API's JSON instead of the logs");
}

}  // namespace oak::cli
