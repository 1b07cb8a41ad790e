// Turns what a user types for an application or a service into the API's document.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "cli/client.h"
#include "common/status.h"

namespace oak::cli {

// APP is an applicationID, "name.namespace", or a name that only one visible application has.
Result<nlohmann::json> MatchApp(const nlohmann::json& apps, const std::string& ref);
// SVC is a microserviceID, a job name "app.appns.svc.svcns", or "svc.svcns" or "svc" when only one
// visible service has it.
Result<nlohmann::json> MatchService(const nlohmann::json& services, const std::string& ref);

// The same, asking the API for the candidates.
Result<nlohmann::json> ResolveApp(ApiClient& api, const std::string& ref);
Result<nlohmann::json> ResolveService(ApiClient& api, const std::string& ref);

}  // namespace oak::cli
