// Service document -> Request. Every error names the field at fault, using the SLA's own field
// names and constraint indexes, so a user can find it in the descriptor they submitted.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "model/ports.h"
#include "scheduler/scheduler.h"

namespace oak::scheduler {
namespace {

using nlohmann::json;

bool Absent(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null();
}

// Fractional amounts round up: placing 0.5 vcpu where none is free would oversubscribe.
Status ReadAmount(const json& obj, const char* key, int64_t* out) {
  *out = 0;
  if (Absent(obj, key)) return Status::Ok();
  const json& v = obj.at(key);
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return Status::Invalid(std::string(key) + ": too large");
    *out = static_cast<int64_t>(u);
    return Status::Ok();
  }
  if (v.is_number_integer()) {
    *out = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d > 9.0e18) return Status::Invalid(std::string(key) + ": not a usable number");
    *out = static_cast<int64_t>(std::ceil(d));
  } else {
    return Status::Invalid(std::string(key) + ": expected a number");
  }
  if (*out < 0) return Status::Invalid(std::string(key) + ": must not be negative");
  return Status::Ok();
}

Status ReadString(const json& obj, const char* key, const std::string& field, std::string* out) {
  out->clear();
  if (Absent(obj, key)) return Status::Ok();
  const json& v = obj.at(key);
  if (!v.is_string()) return Status::Invalid(field + ": expected a string");
  *out = v.get<std::string>();
  return Status::Ok();
}

Status ReadStringArray(const json& obj, const char* key, const std::string& field,
                       std::vector<std::string>* out) {
  out->clear();
  if (Absent(obj, key)) return Status::Ok();
  const json& v = obj.at(key);
  if (!v.is_array()) return Status::Invalid(field + ": expected an array of strings");
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) {
      return Status::Invalid(field + "[" + std::to_string(i) + "]: expected a string");
    }
    out->push_back(v[i].get<std::string>());
  }
  return Status::Ok();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool ParseDouble(std::string_view s, double* out) {
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(*out);
}

// "lat,long" in degrees.
bool ParseLocation(std::string_view text, GeoPoint* out) {
  const size_t comma = text.find(',');
  if (comma == std::string_view::npos) return false;
  if (!ParseDouble(text.substr(0, comma), &out->lat)) return false;
  if (!ParseDouble(text.substr(comma + 1), &out->lon)) return false;
  return out->lat >= -90 && out->lat <= 90 && out->lon >= -180 && out->lon <= 180;
}

Status ReadDirect(const json& c, const std::string& field, Request* r) {
  std::string cluster, node;
  OAK_RETURN_IF_ERROR(ReadString(c, "cluster", field + ".cluster", &cluster));
  OAK_RETURN_IF_ERROR(ReadString(c, "node", field + ".node", &node));
  if (cluster.empty() && node.empty()) {
    return Status::Invalid(field + ": a direct constraint needs a cluster or a node");
  }
  if (!cluster.empty()) {
    if (!r->direct_cluster.empty() && r->direct_cluster != cluster) {
      return Status::Invalid(field + ".cluster: conflicts with an earlier direct cluster '" +
                             r->direct_cluster + "'");
    }
    r->direct_cluster = cluster;
  }
  if (!node.empty()) {
    if (!r->direct_node.empty() && r->direct_node != node) {
      return Status::Invalid(field + ".node: conflicts with an earlier direct node '" + r->direct_node + "'");
    }
    r->direct_node = node;
  }
  return Status::Ok();
}

// Several `clusters` constraints must all hold, so their lists intersect. An empty list restricts
// nothing, like an absent one.
Status ReadClusters(const json& c, const std::string& field, bool* seen, Request* r) {
  std::vector<std::string> allowed;
  OAK_RETURN_IF_ERROR(ReadStringArray(c, "allowed", field + ".allowed", &allowed));
  if (allowed.empty()) return Status::Ok();
  if (!*seen) {
    r->allowed_clusters = std::move(allowed);
    *seen = true;
    return Status::Ok();
  }
  std::vector<std::string> both;
  for (const auto& name : r->allowed_clusters) {
    for (const auto& other : allowed) {
      if (name == other) {
        both.push_back(name);
        break;
      }
    }
  }
  if (both.empty()) {
    return Status::Invalid(field + ".allowed: no cluster is allowed by every clusters constraint");
  }
  r->allowed_clusters = std::move(both);
  return Status::Ok();
}

Status ReadAddons(const json& c, const std::string& field, Request* r) {
  std::vector<std::string> needs;
  OAK_RETURN_IF_ERROR(ReadStringArray(c, "needs", field + ".needs", &needs));
  for (auto& n : needs) {
    bool dup = false;
    for (const auto& have : r->needs_addons) dup = dup || have == n;
    if (!dup) r->needs_addons.push_back(std::move(n));
  }
  return Status::Ok();
}

Status ReadGeo(const json& c, const std::string& field, Request* r) {
  if (r->geo) return Status::Invalid(field + ": only one geo constraint is supported");
  if (Absent(c, "location")) return Status::Invalid(field + ".location: required");
  if (!c.at("location").is_string()) {
    return Status::Invalid(field + ".location: expected a string \"lat,long\"");
  }
  GeoPoint point;
  if (!ParseLocation(c.at("location").get<std::string>(), &point)) {
    return Status::Invalid(field + ".location: expected \"lat,long\" in degrees");
  }
  if (Absent(c, "threshold")) return Status::Invalid(field + ".threshold: required");
  const json& t = c.at("threshold");
  if (!t.is_number()) return Status::Invalid(field + ".threshold: expected a number (km)");
  const double km = t.get<double>();
  if (!std::isfinite(km) || km < 0) return Status::Invalid(field + ".threshold: must not be negative");
  r->geo = point;
  r->geo_threshold_km = km;
  return Status::Ok();
}

Status ReadConstraints(const json& service, Request* r) {
  if (Absent(service, "constraints")) return Status::Ok();
  const json& list = service.at("constraints");
  if (!list.is_array()) return Status::Invalid("constraints: expected an array");
  bool clusters_seen = false;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string field = "constraints[" + std::to_string(i) + "]";
    const json& c = list[i];
    if (!c.is_object()) return Status::Invalid(field + ": expected an object");
    if (Absent(c, "type")) return Status::Invalid(field + ".type: required");
    if (!c.at("type").is_string()) return Status::Invalid(field + ".type: expected a string");
    const std::string type = c.at("type").get<std::string>();
    if (type == "direct") {
      OAK_RETURN_IF_ERROR(ReadDirect(c, field, r));
    } else if (type == "clusters") {
      OAK_RETURN_IF_ERROR(ReadClusters(c, field, &clusters_seen, r));
    } else if (type == "addons") {
      OAK_RETURN_IF_ERROR(ReadAddons(c, field, r));
    } else if (type == "geo") {
      OAK_RETURN_IF_ERROR(ReadGeo(c, field, r));
    } else if (type == "latency") {
      // Accepted so Oakestra SLAs schedule; honouring it needs latency measurements we lack.
    } else {
      // Silently dropping a constraint would place the service where the user forbade it.
      return Status::Invalid(field + ".type: unknown constraint type '" + type + "'");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Request> RequestFromService(const json& service) {
  if (!service.is_object()) return Status::Invalid("service: expected an object");
  Request r;
  OAK_RETURN_IF_ERROR(ReadAmount(service, "memory", &r.need.memory_mb));
  OAK_RETURN_IF_ERROR(ReadAmount(service, "vcpus", &r.need.vcpus));
  OAK_RETURN_IF_ERROR(ReadAmount(service, "vgpus", &r.need.vgpus));
  OAK_RETURN_IF_ERROR(ReadAmount(service, "storage", &r.need.storage_mb));
  if (Absent(service, "virtualization")) return Status::Invalid("virtualization: required");
  OAK_RETURN_IF_ERROR(ReadString(service, "virtualization", "virtualization", &r.virtualization));
  if (r.virtualization.empty()) return Status::Invalid("virtualization: must not be empty");
  OAK_RETURN_IF_ERROR(ReadStringArray(service, "arch", "arch", &r.arch));
  OAK_RETURN_IF_ERROR(ReadString(service, "target_node", "target_node", &r.target_node));
  OAK_RETURN_IF_ERROR(ReadConstraints(service, &r));
  if (!Absent(service, "port")) {
    if (!service["port"].is_string()) return Status::Invalid("port: expected a string");
    auto ports = model::ParsePortMappings(service["port"].get<std::string>());
    if (!ports.ok()) return Status::Invalid("port: " + ports.status().message());
    for (const auto& m : *ports) {
      if (m.host_port != 0) r.host_ports.push_back(PortKey(m.host_port, m.proto == model::PortMapping::Proto::kUdp));
    }
  }
  return r;
}

}  // namespace oak::scheduler
