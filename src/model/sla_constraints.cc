// `constraints` (placement) and `connectivity` (service-to-service) checks.
#include <charconv>
#include <cmath>

#include "model/sla_fields.h"

namespace oak::model::sla_detail {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Plain decimal (optionally signed, fraction, exponent); rejects "nan", "inf" and trailing junk.
bool ParseCoordinate(std::string_view s, double* out) {
  s = Trim(s);
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && ptr == end && std::isfinite(*out);
}

bool ParseLocation(std::string_view loc) {
  const auto comma = loc.find(',');
  if (comma == std::string_view::npos) return false;
  double lat = 0;
  double lon = 0;
  if (!ParseCoordinate(loc.substr(0, comma), &lat) || !ParseCoordinate(loc.substr(comma + 1), &lon)) return false;
  return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180;
}

oak::Status RigidnessField(const json& c, std::string_view path, Need need) {
  double r = 0;
  OAK_RETURN_IF_ERROR(NumberField(c, "rigidness", path, need, &r));
  if (r < 0 || r > 1) return Fail(Child(path, "rigidness"), "must be between 0 and 1");
  return oak::Status::Ok();
}

oak::Status CheckDirect(const json& c, std::string_view path) {
  std::string_view cluster;
  std::string_view node;
  OAK_RETURN_IF_ERROR(StringField(c, "cluster", path, Need::kOptional, &cluster));
  OAK_RETURN_IF_ERROR(StringField(c, "node", path, Need::kOptional, &node));
  if (cluster.empty() && node.empty()) return Fail(path, "a direct constraint needs a non-empty cluster or node");
  return oak::Status::Ok();
}

oak::Status CheckClusters(const json& c, std::string_view path) {
  OAK_RETURN_IF_ERROR(StringArrayField(c, "allowed", path, Need::kRequired));
  // An empty allow-list could never be satisfied; refuse it now rather than fail at scheduling.
  if (Find(c, "allowed")->empty()) return Fail(Child(path, "allowed"), "must list at least one cluster");
  return oak::Status::Ok();
}

oak::Status CheckGeo(const json& c, std::string_view path) {
  std::string_view loc;
  OAK_RETURN_IF_ERROR(StringField(c, "location", path, Need::kRequired, &loc));
  if (!ParseLocation(loc)) {
    return Fail(Child(path, "location"),
                "must be \"lat,long\" with lat in [-90,90] and long in [-180,180] (got " + Quote(loc) + ")");
  }
  double km = 0;
  OAK_RETURN_IF_ERROR(NumberField(c, "threshold", path, Need::kRequired, &km));
  if (!(km > 0)) return Fail(Child(path, "threshold"), "must be a distance in km greater than 0");
  return oak::Status::Ok();
}

oak::Status CheckLatency(const json& c, std::string_view path) {
  OAK_RETURN_IF_ERROR(StringField(c, "area", path, Need::kRequired));
  OAK_RETURN_IF_ERROR(NonNegativeField(c, "threshold", path, Need::kRequired));
  OAK_RETURN_IF_ERROR(RigidnessField(c, path, Need::kOptional));
  return NonNegativeField(c, "convergence_time", path, Need::kOptional);
}

oak::Status CheckConstraint(const json& c, std::string_view path) {
  if (!c.is_object()) return Fail(path, std::string("must be an object (got ") + c.type_name() + ")");
  std::string_view type;
  OAK_RETURN_IF_ERROR(StringField(c, "type", path, Need::kRequired, &type));
  if (type == "direct") return CheckDirect(c, path);
  if (type == "clusters") return CheckClusters(c, path);
  if (type == "addons") return StringArrayField(c, "needs", path, Need::kRequired);
  if (type == "geo") return CheckGeo(c, path);
  if (type == "latency") return CheckLatency(c, path);
  return Fail(Child(path, "type"),
              "unknown constraint type " + Quote(type) + " (expected direct, clusters, addons, geo or latency)");
}

oak::Status CheckConConstraint(const json& c, std::string_view path) {
  if (!c.is_object()) return Fail(path, std::string("must be an object (got ") + c.type_name() + ")");
  std::string_view type;
  OAK_RETURN_IF_ERROR(StringField(c, "type", path, Need::kRequired, &type));
  if (type.empty()) return Fail(Child(path, "type"), "must not be empty");
  // Oakestra requires all four fields of a service-to-service constraint.
  OAK_RETURN_IF_ERROR(NonNegativeField(c, "threshold", path, Need::kRequired));
  OAK_RETURN_IF_ERROR(RigidnessField(c, path, Need::kRequired));
  return NonNegativeField(c, "convergence_time", path, Need::kRequired);
}

}  // namespace

oak::Status CheckConstraints(const json& ms, std::string_view ms_path) {
  const json* arr = nullptr;
  OAK_RETURN_IF_ERROR(ArrayField(ms, "constraints", ms_path, Need::kOptional, &arr));
  if (arr == nullptr) return oak::Status::Ok();
  const std::string base = Child(ms_path, "constraints");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    OAK_RETURN_IF_ERROR(CheckConstraint((*arr)[i], Item(base, i)));
  }
  return oak::Status::Ok();
}

oak::Status CheckConnectivity(const json& ms, std::string_view ms_path) {
  const json* arr = nullptr;
  OAK_RETURN_IF_ERROR(ArrayField(ms, "connectivity", ms_path, Need::kOptional, &arr));
  if (arr == nullptr) return oak::Status::Ok();
  const std::string base = Child(ms_path, "connectivity");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const json& link = (*arr)[i];
    const std::string path = Item(base, i);
    if (!link.is_object()) return Fail(path, std::string("must be an object (got ") + link.type_name() + ")");
    OAK_RETURN_IF_ERROR(StringField(link, "target_microservice_id", path, Need::kRequired));
    const json* cons = nullptr;
    OAK_RETURN_IF_ERROR(ArrayField(link, "con_constraints", path, Need::kRequired, &cons));
    const std::string cons_base = Child(path, "con_constraints");
    for (std::size_t j = 0; j < cons->size(); ++j) {
      OAK_RETURN_IF_ERROR(CheckConConstraint((*cons)[j], Item(cons_base, j)));
    }
  }
  return oak::Status::Ok();
}

}  // namespace oak::model::sla_detail
