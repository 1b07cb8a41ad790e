// The OpenAPI 3 description of the root's API, served at GET /api/docs.
#pragma once

#include <nlohmann/json.hpp>

#include "common/router.h"

namespace oak::root {

// Every route in `router` appears; routes without a written summary are still listed, which the
// tests catch.
nlohmann::json OpenApiDocument(const Router& router);
// Routes of `router` that have no documentation entry.
std::vector<std::string> UndocumentedRoutes(const Router& router);

}  // namespace oak::root
