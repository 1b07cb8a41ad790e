#include "model/sla.h"

#include <arpa/inet.h>

#include <cstdint>
#include <exception>
#include <string>

#include "model/ports.h"
#include "model/sla_fields.h"

namespace oak::model {
namespace {

using namespace sla_detail;  // NOLINT: internal helpers of this validator only

oak::Status NameField(const json& obj, const char* key, std::string_view path) {
  std::string_view name;
  OAK_RETURN_IF_ERROR(StringField(obj, key, path, Need::kRequired, &name));
  if (!IsValidName(name)) return Fail(Child(path, key), "must match " + std::string(kNamePattern));
  return oak::Status::Ok();
}

oak::Status CheckEnvironment(const json& ms, std::string_view path) {
  OAK_RETURN_IF_ERROR(StringArrayField(ms, "environment", path, Need::kOptional, /*no_nul=*/true));
  const json* env = Find(ms, "environment");
  if (env == nullptr) return oak::Status::Ok();
  const std::string base = Child(path, "environment");
  for (std::size_t i = 0; i < env->size(); ++i) {
    const std::string& kv = (*env)[i].get_ref<const std::string&>();
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Fail(Item(base, i), "must be KEY=VALUE (got " + Quote(kv) + ")");
    for (std::size_t k = 0; k < eq; ++k) {
      const auto c = static_cast<unsigned char>(kv[k]);
      if (c <= 0x20 || c == 0x7f) return Fail(Item(base, i), "variable name must not contain blanks or control characters");
    }
  }
  return oak::Status::Ok();
}

oak::Status CheckPort(const json& ms, std::string_view path) {
  std::string_view spec;
  OAK_RETURN_IF_ERROR(StringField(ms, "port", path, Need::kOptional, &spec));
  auto parsed = ParsePortMappings(spec);
  if (!parsed.ok()) return Fail(Child(path, "port"), parsed.status().message());
  return oak::Status::Ok();
}

oak::Status CheckVolumes(const json& ms, std::string_view path) {
  const json* arr = nullptr;
  OAK_RETURN_IF_ERROR(ArrayField(ms, "volumes", path, Need::kOptional, &arr));
  if (arr == nullptr) return oak::Status::Ok();
  const std::string base = Child(path, "volumes");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const json& v = (*arr)[i];
    const std::string vp = Item(base, i);
    if (!v.is_object()) return Fail(vp, std::string("must be an object (got ") + v.type_name() + ")");
    OAK_RETURN_IF_ERROR(StringField(v, "volume_id", vp, Need::kRequired));
    OAK_RETURN_IF_ERROR(StringField(v, "csi_driver", vp, Need::kRequired));
    std::string_view mount;
    OAK_RETURN_IF_ERROR(StringField(v, "mount_path", vp, Need::kRequired, &mount));
    if (mount.empty() || mount.front() != '/') return Fail(Child(vp, "mount_path"), "must be an absolute path");
    const json* config = nullptr;
    OAK_RETURN_IF_ERROR(ObjectField(v, "config", vp, Need::kOptional, &config));
  }
  return oak::Status::Ok();
}

oak::Status CheckAddresses(const json& ms, std::string_view path) {
  const json* addr = nullptr;
  OAK_RETURN_IF_ERROR(ObjectField(ms, "addresses", path, Need::kOptional, &addr));
  if (addr == nullptr) return oak::Status::Ok();
  const std::string ap = Child(path, "addresses");
  for (const char* key : {"rr_ip", "rr_ip_v6", "closest_ip", "closest_ip_v6"}) {
    OAK_RETURN_IF_ERROR(StringField(*addr, key, ap, Need::kOptional));
  }
  const json* inst = nullptr;
  OAK_RETURN_IF_ERROR(ArrayField(*addr, "instances", ap, Need::kOptional, &inst));
  if (inst == nullptr) return oak::Status::Ok();
  const std::string ip = Child(ap, "instances");
  for (std::size_t i = 0; i < inst->size(); ++i) {
    const json& e = (*inst)[i];
    const std::string ep = Item(ip, i);
    if (!e.is_object()) return Fail(ep, std::string("must be an object (got ") + e.type_name() + ")");
    for (const char* key : {"from", "to", "start"}) {
      OAK_RETURN_IF_ERROR(StringField(e, key, ep, Need::kOptional));
    }
  }
  return oak::Status::Ok();
}

oak::Status CheckMicroservice(const json& ms, std::string_view path) {
  if (!ms.is_object()) return Fail(path, std::string("must be an object (got ") + ms.type_name() + ")");
  std::string_view id;
  OAK_RETURN_IF_ERROR(StringField(ms, "microserviceID", path, Need::kOptional, &id));
  if (!id.empty()) return Fail(Child(path, "microserviceID"), "must be empty or absent when deploying");
  OAK_RETURN_IF_ERROR(NameField(ms, "microservice_name", path));
  OAK_RETURN_IF_ERROR(NameField(ms, "microservice_namespace", path));
  std::string_view virt;
  OAK_RETURN_IF_ERROR(StringField(ms, "virtualization", path, Need::kRequired, &virt));
  if (virt.empty()) return Fail(Child(path, "virtualization"), "must not be empty");
  OAK_RETURN_IF_ERROR(StringField(ms, "code", path, Need::kRequired));
  for (const char* key : {"memory", "vcpus", "vgpus", "vtpus", "storage", "bandwidth_in", "bandwidth_out"}) {
    OAK_RETURN_IF_ERROR(CountField(ms, key, path, Need::kOptional));
  }
  OAK_RETURN_IF_ERROR(StringArrayField(ms, "cmd", path, Need::kOptional, /*no_nul=*/true));
  OAK_RETURN_IF_ERROR(StringArrayField(ms, "args", path, Need::kOptional, /*no_nul=*/true));
  OAK_RETURN_IF_ERROR(CheckEnvironment(ms, path));
  OAK_RETURN_IF_ERROR(CheckPort(ms, path));
  OAK_RETURN_IF_ERROR(BoolField(ms, "one_shot", path, Need::kOptional));
  OAK_RETURN_IF_ERROR(BoolField(ms, "privileged", path, Need::kOptional));
  OAK_RETURN_IF_ERROR(StringField(ms, "state", path, Need::kOptional));
  OAK_RETURN_IF_ERROR(StringArrayField(ms, "added_files", path, Need::kOptional));
  OAK_RETURN_IF_ERROR(StringField(ms, "sla_violation_strategy", path, Need::kOptional));
  OAK_RETURN_IF_ERROR(StringField(ms, "target_node", path, Need::kOptional));
  OAK_RETURN_IF_ERROR(CheckVolumes(ms, path));
  OAK_RETURN_IF_ERROR(StringArrayField(ms, "arch", path, Need::kOptional));
  OAK_RETURN_IF_ERROR(CheckAddresses(ms, path));
  OAK_RETURN_IF_ERROR(CheckConstraints(ms, path));
  return CheckConnectivity(ms, path);
}

oak::Status CheckApplication(const json& app, std::string_view path) {
  if (!app.is_object()) return Fail(path, std::string("must be an object (got ") + app.type_name() + ")");
  OAK_RETURN_IF_ERROR(StringField(app, "applicationID", path, Need::kOptional));
  OAK_RETURN_IF_ERROR(NameField(app, "application_name", path));
  OAK_RETURN_IF_ERROR(NameField(app, "application_namespace", path));
  OAK_RETURN_IF_ERROR(StringField(app, "application_desc", path, Need::kOptional));
  const json* services = nullptr;
  // Absent means none: Oakestra's dashboard drops empty arrays before sending.
  OAK_RETURN_IF_ERROR(ArrayField(app, "microservices", path, Need::kOptional, &services));
  if (services == nullptr) return oak::Status::Ok();
  const std::string base = Child(path, "microservices");
  for (std::size_t i = 0; i < services->size(); ++i) {
    OAK_RETURN_IF_ERROR(CheckMicroservice((*services)[i], Item(base, i)));
  }
  return oak::Status::Ok();
}

oak::Status CheckSla(const json& sla) {
  if (!sla.is_object()) return Fail("(root)", std::string("must be an object (got ") + sla.type_name() + ")");
  std::string_view version;
  OAK_RETURN_IF_ERROR(StringField(sla, "sla_version", "", Need::kRequired, &version));
  if (version == "v1.0") return Fail("sla_version", "v1.0 is deprecated; use v2.0");
  if (version != "v2.0") return Fail("sla_version", "unsupported version " + Quote(version) + "; expected \"v2.0\"");
  // Optional: the dashboard drops it when empty, and the owner is the caller anyway.
  OAK_RETURN_IF_ERROR(StringField(sla, "customerID", "", Need::kOptional));
  const json* apps = nullptr;
  OAK_RETURN_IF_ERROR(ArrayField(sla, "applications", "", Need::kRequired, &apps));
  if (apps->empty()) return Fail("applications", "must contain at least one application");
  for (std::size_t i = 0; i < apps->size(); ++i) {
    OAK_RETURN_IF_ERROR(CheckApplication((*apps)[i], Item("applications", i)));
  }
  return StringArrayField(sla, "args", "", Need::kOptional);
}

// 10.30.0.0/16: the service IP pool of the root network service.
bool InServicePool(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return false;  // inet_pton would stop at it
  in_addr a{};
  if (inet_pton(AF_INET, std::string(text).c_str(), &a) != 1) return false;
  const uint32_t host = ntohl(a.s_addr);
  return (host & 0xFFFF0000u) == 0x0A1E0000u;
}

bool IsIpv6(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return false;
  in6_addr a{};
  return inet_pton(AF_INET6, std::string(text).c_str(), &a) == 1;
}

}  // namespace

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 30) return false;
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

oak::Status ValidateSla(const nlohmann::json& sla) {
  try {
    return CheckSla(sla);
  } catch (const std::exception& e) {
    return oak::Status::Invalid(std::string("(root): cannot validate: ") + e.what());
  }
}

oak::Status AdmitMicroservice(const nlohmann::json& ms, std::string_view path) {
  try {
    if (!ms.is_object()) return Fail(path.empty() ? "(root)" : path, "must be an object");
    const json* addr = Find(ms, "addresses");
    if (addr == nullptr) return oak::Status::Ok();
    const std::string ap = Child(path, "addresses");
    if (!addr->is_object()) return Fail(ap, "must be an object");
    // An empty string means "no address requested", as Oakestra's dashboard sends.
    for (const char* key : {"rr_ip", "closest_ip"}) {
      const json* v = Find(*addr, key);
      if (v == nullptr) continue;
      if (!v->is_string()) return Fail(Child(ap, key), "must be a string");
      const std::string& s = v->get_ref<const std::string&>();
      if (!s.empty() && !InServicePool(s)) {
        return Fail(Child(ap, key), "must be an IPv4 address inside 10.30.0.0/16 (got " + Quote(s) + ")");
      }
    }
    for (const char* key : {"rr_ip_v6", "closest_ip_v6"}) {
      const json* v = Find(*addr, key);
      if (v == nullptr) continue;
      if (!v->is_string()) return Fail(Child(ap, key), "must be a string");
      const std::string& s = v->get_ref<const std::string&>();
      if (!s.empty() && !IsIpv6(s)) return Fail(Child(ap, key), "must be an IPv6 address (got " + Quote(s) + ")");
    }
    return oak::Status::Ok();
  } catch (const std::exception& e) {
    return oak::Status::Invalid(std::string(path) + ": cannot admit: " + e.what());
  }
}

}  // namespace oak::model
