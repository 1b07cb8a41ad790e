#include "cli/resolve.h"

#include <functional>
#include <vector>

#include "common/ids.h"
#include "common/json_fields.h"

namespace oak::cli {

using nlohmann::json;

namespace {

// The first tier of `tiers` with any match decides: an exact id or full name wins over a short name
// even when the short name would be ambiguous. More than one match in that tier is an error.
Result<json> Pick(const json& docs, const std::string& ref, const char* what,
                  const std::vector<std::function<bool(const json&)>>& tiers,
                  const std::function<std::string(const json&)>& full_name) {
  if (!docs.is_array()) return Status::Internal("the API's " + std::string(what) + " list is not an array");
  for (const auto& matches : tiers) {
    std::vector<const json*> hits;
    for (const auto& d : docs)
      if (d.is_object() && matches(d)) hits.push_back(&d);
    if (hits.size() == 1) return *hits[0];
    if (hits.size() > 1) {
      std::string names;
      for (const json* h : hits) names += (names.empty() ? "" : ", ") + full_name(*h);
      return Status::Invalid(std::string(what) + " '" + ref + "' is ambiguous (" + names +
                             "); give its id or full name");
    }
  }
  return Status::NotFound("no " + std::string(what) + " '" + ref + "'");
}

}  // namespace

Result<json> MatchApp(const json& apps, const std::string& ref) {
  auto full = [](const json& a) { return StringOr(a, "application_name") + "." + StringOr(a, "application_namespace"); };
  return Pick(apps, ref, "application",
              {[&](const json& a) { return StringOr(a, "applicationID") == ref; },
               [&](const json& a) { return full(a) == ref; },
               [&](const json& a) { return StringOr(a, "application_name") == ref; }},
              full);
}

Result<json> MatchService(const json& services, const std::string& ref) {
  auto full = [](const json& s) { return StringOr(s, "job_name"); };
  auto short_name = [](const json& s) { return StringOr(s, "service_name") + "." + StringOr(s, "service_ns"); };
  return Pick(services, ref, "service",
              {[&](const json& s) { return StringOr(s, "microserviceID") == ref; },
               [&](const json& s) { return StringOr(s, "job_name") == ref; },
               [&](const json& s) { return short_name(s) == ref; },
               [&](const json& s) { return StringOr(s, "service_name") == ref; }},
              full);
}

Result<json> ResolveApp(ApiClient& api, const std::string& ref) {
  auto apps = api.Get("/api/applications/");
  if (!apps.ok()) return apps.status();
  return MatchApp(*apps, ref);
}

Result<json> ResolveService(ApiClient& api, const std::string& ref) {
  // An id is looked up directly: listing every service of a large fleet for one id is wasteful.
  if (IsObjectId(ref)) {
    auto svc = api.Get("/api/service/" + ref);
    if (svc.ok() || svc.status().code() != Code::kNotFound) return svc;
  }
  auto services = api.Get("/api/services/");
  if (!services.ok()) return services.status();
  return MatchService(*services, ref);
}

}  // namespace oak::cli
