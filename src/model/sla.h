// SLA v2.0 deployment descriptor checks (SPEC §2; field reference in docs/sla.md).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace oak::model {

// The pattern shared by application and microservice names and namespaces.
inline constexpr std::string_view kNamePattern = "^[a-zA-Z0-9]{1,30}$";

// True when `name` matches kNamePattern (ASCII letters and digits only, 1 to 30 bytes).
bool IsValidName(std::string_view name);

// Structural validation of a whole SLA: types, required fields, patterns, value ranges, constraint
// shapes and the port syntax. Unknown extra fields are ignored. Returns the first fault found,
// walking fields in the order docs/sla.md lists them and arrays by index, as
// Invalid("<json path>: <reason>"), e.g. "applications[0].microservices[1].memory: must be an integer".
// Never throws.
oak::Status ValidateSla(const nlohmann::json& sla);

// Semantic rules checked when a microservice that already passed ValidateSla is admitted:
// requested service addresses. `path` prefixes messages (e.g. "applications[0].microservices[0]";
// may be empty). Address uniqueness is the store's job. Never throws.
oak::Status AdmitMicroservice(const nlohmann::json& ms, std::string_view path);

}  // namespace oak::model
