#include "cluster/node_protocol.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "model/status_names.h"

namespace oak::cluster {
namespace {

using nlohmann::json;

bool Absent(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() || it->is_null();
}

Status ReadInt(const json& o, const char* key, int64_t* out) {
  if (Absent(o, key)) return Status::Ok();
  const json& v = o.at(key);
  if (!v.is_number()) return Status::Invalid(std::string(key) + ": expected a number");
  double d = v.get<double>();
  if (!std::isfinite(d) || d < 0 || d > 9.0e15) return Status::Invalid(std::string(key) + ": out of range");
  *out = static_cast<int64_t>(d);
  return Status::Ok();
}

Status ReadPercent(const json& o, const char* key, double* out) {
  if (Absent(o, key)) return Status::Ok();
  const json& v = o.at(key);
  if (!v.is_number()) return Status::Invalid(std::string(key) + ": expected a number");
  double d = v.get<double>();
  if (!std::isfinite(d) || d < 0 || d > 100.0 * 1024) return Status::Invalid(std::string(key) + ": out of range");
  *out = d;
  return Status::Ok();
}

Status ReadString(const json& o, const char* key, std::string* out, size_t max_len = 256) {
  if (Absent(o, key)) return Status::Ok();
  const json& v = o.at(key);
  if (!v.is_string()) return Status::Invalid(std::string(key) + ": expected a string");
  if (v.get_ref<const std::string&>().size() > max_len) return Status::Invalid(std::string(key) + ": too long");
  *out = v.get<std::string>();
  return Status::Ok();
}

Status ReadStrings(const json& o, const char* key, std::vector<std::string>* out) {
  if (Absent(o, key)) return Status::Ok();
  const json& v = o.at(key);
  if (!v.is_array()) return Status::Invalid(std::string(key) + ": expected an array of strings");
  if (v.size() > 64) return Status::Invalid(std::string(key) + ": too many entries");
  out->clear();
  for (const auto& e : v) {
    if (!e.is_string() || e.get_ref<const std::string&>().size() > 64)
      return Status::Invalid(std::string(key) + ": expected an array of short strings");
    out->push_back(e.get<std::string>());
  }
  return Status::Ok();
}

Status ReadInstanceNumber(const json& o, const char* key, int64_t* out) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number_integer()) return Status::Invalid(std::string(key) + ": expected an integer");
  *out = it->get<int64_t>();
  if (*out < 0) return Status::Invalid(std::string(key) + ": must not be negative");
  return Status::Ok();
}

Result<json> ParseObject(std::string_view payload) {
  json j = json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Invalid("payload: expected a JSON object");
  return j;
}

Status ReadJobName(const json& o, const char* key, std::string* out) {
  OAK_RETURN_IF_ERROR(ReadString(o, key, out));
  if (out->empty()) return Status::Invalid(std::string(key) + ": required");
  return Status::Ok();
}

}  // namespace

bool IsValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) return false;
  return true;
}

Result<NodeDescription> ParseNodeDescription(const json& body) {
  if (!body.is_object()) return Status::Invalid("body: expected a JSON object describing the node");
  NodeDescription d;
  OAK_RETURN_IF_ERROR(ReadString(body, "host", &d.host));
  if (!IsValidNodeName(d.host))
    return Status::Invalid("host: required, 1-253 characters of letters, digits, '-', '.', '_'");
  OAK_RETURN_IF_ERROR(ReadString(body, "ip", &d.ip, 64));
  OAK_RETURN_IF_ERROR(ReadString(body, "architecture", &d.arch, 32));
  OAK_RETURN_IF_ERROR(ReadString(body, "os", &d.os, 32));
  OAK_RETURN_IF_ERROR(ReadInt(body, "vcpus", &d.vcpus));
  OAK_RETURN_IF_ERROR(ReadInt(body, "memory", &d.memory_mb));
  OAK_RETURN_IF_ERROR(ReadInt(body, "disk", &d.disk_mb));
  OAK_RETURN_IF_ERROR(ReadInt(body, "gpu_cores", &d.gpus));
  OAK_RETURN_IF_ERROR(ReadInt(body, "gpu_memory", &d.gpu_memory_mb));
  OAK_RETURN_IF_ERROR(ReadStrings(body, "virtualization", &d.virtualization));
  OAK_RETURN_IF_ERROR(ReadStrings(body, "supported_addons", &d.addons));
  if (d.virtualization.empty()) d.virtualization = {"container"};
  if (!Absent(body, "subnet_wanted")) {
    if (!body["subnet_wanted"].is_boolean()) return Status::Invalid("subnet_wanted: expected true or false");
    d.subnet_wanted = body["subnet_wanted"].get<bool>();
  }
  std::string loc;
  OAK_RETURN_IF_ERROR(ReadString(body, "location", &loc, 64));
  if (!loc.empty()) {
    double lat = 0, lon = 0;
    char extra = 0;
    if (std::sscanf(loc.c_str(), "%lf,%lf%c", &lat, &lon, &extra) < 2 || !std::isfinite(lat) ||
        !std::isfinite(lon) || std::fabs(lat) > 90 || std::fabs(lon) > 180)
      return Status::Invalid("location: expected \"lat,long\" in degrees");
    d.location = scheduler::GeoPoint{lat, lon};
  }
  return d;
}

Result<NodeReport> ParseNodeReport(std::string_view payload) {
  auto j = ParseObject(payload);
  if (!j.ok()) return j.status();
  NodeReport r;
  OAK_RETURN_IF_ERROR(ReadPercent(*j, "cpu_percent", &r.cpu_percent));
  OAK_RETURN_IF_ERROR(ReadPercent(*j, "memory_percent", &r.memory_percent));
  int64_t v = 0;
  if (!Absent(*j, "memory")) {
    OAK_RETURN_IF_ERROR(ReadInt(*j, "memory", &v));
    r.memory_free_mb = v;
  }
  if (!Absent(*j, "disk")) {
    OAK_RETURN_IF_ERROR(ReadInt(*j, "disk", &v));
    r.disk_free_mb = v;
  }
  if (!Absent(*j, "instances")) {
    const json& list = j->at("instances");
    if (!list.is_array()) return Status::Invalid("instances: expected an array");
    std::vector<ReportedInstance> out;
    out.reserve(list.size());
    for (const auto& e : list) {
      if (!e.is_object()) return Status::Invalid("instances: expected objects");
      ReportedInstance ri;
      OAK_RETURN_IF_ERROR(ReadJobName(e, "sname", &ri.job_name));
      OAK_RETURN_IF_ERROR(ReadInstanceNumber(e, "instance", &ri.instance));
      OAK_RETURN_IF_ERROR(ReadString(e, "status", &ri.status, 64));
      out.push_back(std::move(ri));
    }
    r.instances = std::move(out);
  }
  return r;
}

Result<JobEvent> ParseJobEvent(std::string_view payload) {
  auto j = ParseObject(payload);
  if (!j.ok()) return j.status();
  JobEvent e;
  OAK_RETURN_IF_ERROR(ReadJobName(*j, "sname", &e.job_name));
  OAK_RETURN_IF_ERROR(ReadInstanceNumber(*j, "instance", &e.instance));
  OAK_RETURN_IF_ERROR(ReadString(*j, "status", &e.status, 64));
  if (!model::IsKnownStatus(e.status)) return Status::Invalid("status: '" + e.status + "' is not a known status");
  OAK_RETURN_IF_ERROR(ReadString(*j, "status_detail", &e.detail, 4096));
  OAK_RETURN_IF_ERROR(ReadString(*j, "publicip", &e.publicip, 64));
  return e;
}

Result<std::vector<InstanceUsage>> ParseJobResources(std::string_view payload) {
  auto j = ParseObject(payload);
  if (!j.ok()) return j.status();
  auto it = j->find("services");
  if (it == j->end() || !it->is_array()) return Status::Invalid("services: expected an array");
  std::vector<InstanceUsage> out;
  out.reserve(it->size());
  for (const auto& e : *it) {
    if (!e.is_object()) return Status::Invalid("services: expected objects");
    InstanceUsage u;
    OAK_RETURN_IF_ERROR(ReadJobName(e, "job_name", &u.job_name));
    OAK_RETURN_IF_ERROR(ReadInstanceNumber(e, "instance", &u.instance));
    OAK_RETURN_IF_ERROR(ReadPercent(e, "cpu_percent", &u.cpu_percent));
    OAK_RETURN_IF_ERROR(ReadPercent(e, "memory_percent", &u.memory_percent));
    OAK_RETURN_IF_ERROR(ReadInt(e, "memory", &u.memory_mb));
    OAK_RETURN_IF_ERROR(ReadInt(e, "disk", &u.disk));
    out.push_back(std::move(u));
  }
  return out;
}

Result<std::string> DeployPayload(const std::string& doc_text, int64_t instance_number) {
  json doc = json::parse(doc_text, nullptr, false);
  if (!doc.is_object()) return Status::Internal("stored service document is not a JSON object");
  doc["instance_number"] = instance_number;
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string DeletePayload(const std::string& job_name, const std::string& virtualization, int64_t instance_number) {
  return json{{"job_name", job_name}, {"virtualization", virtualization}, {"instance_number", instance_number}}.dump();
}

std::string LogsRequestPayload(const std::string& request_id, const std::string& job_name, int64_t instance_number,
                               size_t max_bytes) {
  return json{{"request_id", request_id}, {"job_name", job_name}, {"instance_number", instance_number},
              {"max_bytes", max_bytes}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<LogsReply> ParseLogsReply(std::string_view payload) {
  auto j = ParseObject(payload);
  if (!j.ok()) return j.status();
  LogsReply r;
  OAK_RETURN_IF_ERROR(ReadString(*j, "request_id", &r.request_id, 128));
  if (r.request_id.empty()) return Status::Invalid("request_id: required");
  OAK_RETURN_IF_ERROR(ReadJobName(*j, "job_name", &r.job_name));
  OAK_RETURN_IF_ERROR(ReadInstanceNumber(*j, "instance_number", &r.instance));
  if (!Absent(*j, "logs")) {
    std::string logs;
    OAK_RETURN_IF_ERROR(ReadString(*j, "logs", &logs, kMaxLogReplyBytes));
    r.logs = std::move(logs);
    return r;
  }
  auto err = j->find("error");
  if (err == j->end() || !err->is_object()) return Status::Invalid("logs: required unless error is given");
  for (auto [key, out, max] : {std::tuple{"code", &r.error_code, size_t{32}}, {"message", &r.error_message, size_t{4096}}})
    if (Status s = ReadString(*err, key, out, max); !s.ok()) return Status::Invalid("error." + s.message());
  if (r.error_code.empty()) return Status::Invalid("error.code: required");
  return r;
}

std::pair<std::string_view, std::string_view> SplitNodeTopic(std::string_view topic) {
  constexpr std::string_view kPrefix = "nodes/";
  if (topic.substr(0, kPrefix.size()) != kPrefix) return {};
  topic.remove_prefix(kPrefix.size());
  auto slash = topic.find('/');
  if (slash == std::string_view::npos || slash == 0) return {};
  return {topic.substr(0, slash), topic.substr(slash + 1)};
}

}  // namespace oak::cluster
