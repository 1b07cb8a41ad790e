#include "node/payloads.h"

#include <algorithm>
#include <cmath>

#include "common/json_text.h"

namespace oak::node {

using nlohmann::json;

namespace {

// Typed reads of optional members: absent and null leave `out` unchanged; a wrong type is an error
// naming the field.
Status ReadString(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_string()) return Status::Invalid(std::string(key) + ": must be a string");
  out = it->get<std::string>();
  return Status::Ok();
}

Status ReadBool(const json& j, const char* key, bool& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_boolean()) return Status::Invalid(std::string(key) + ": must be a boolean");
  out = it->get<bool>();
  return Status::Ok();
}

Status ReadNonNegative(const json& j, const char* key, double& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_number()) return Status::Invalid(std::string(key) + ": must be a number");
  double v = it->get<double>();
  if (!std::isfinite(v) || v < 0) return Status::Invalid(std::string(key) + ": must be >= 0");
  out = v;
  return Status::Ok();
}

Status ReadStrings(const json& j, const char* key, std::vector<std::string>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_array()) return Status::Invalid(std::string(key) + ": must be an array of strings");
  out.clear();
  for (const auto& e : *it) {
    if (!e.is_string()) return Status::Invalid(std::string(key) + ": must be an array of strings");
    out.push_back(e.get<std::string>());
  }
  return Status::Ok();
}

// job_name and instance_number, required by both control messages. The name becomes part of a
// container name and a file name, so path and topic separators are refused.
Result<InstanceKey> ReadKey(const json& j) {
  InstanceKey k;
  auto name = j.find("job_name");
  if (name == j.end() || !name->is_string() || name->get<std::string>().empty()) {
    return Status::Invalid("job_name: required, a non-empty string");
  }
  k.job_name = name->get<std::string>();
  if (k.job_name.find_first_of("/\\+#") != std::string::npos || k.job_name == "." || k.job_name == "..") {
    return Status::Invalid("job_name: must not contain '/', '\\', '+' or '#'");
  }
  auto n = j.find("instance_number");
  if (n == j.end() || !n->is_number_integer()) return Status::Invalid("instance_number: required, an integer");
  int64_t v = n->get<int64_t>();
  if (v < 0 || v > INT32_MAX) return Status::Invalid("instance_number: must be within 0..2^31-1");
  k.instance = static_cast<int>(v);
  return k;
}

// Invalid UTF-8 (a runtime's error line) is replaced rather than thrown on.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Result<json> ParseObject(std::string_view payload) {
  json j = json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Invalid("payload is not JSON");
  if (!j.is_object()) return Status::Invalid("payload must be a JSON object");
  return j;
}

}  // namespace

json RegistrationBody(const NodeInfo& info, const std::vector<std::string>& virtualization,
                      const std::vector<std::string>& addons) {
  json j = {{"host", info.host},
            {"ip", info.ip},
            {"architecture", info.architecture},
            {"os", info.os},
            {"vcpus", info.vcpus},
            {"memory", info.memory_mb},
            {"disk", info.disk_mb},
            {"gpu_cores", info.gpu_cores},
            {"gpu_memory", info.gpu_memory_mb},
            {"gpu_type", info.gpu_type},
            {"virtualization", virtualization},
            {"supported_addons", addons}};
  if (!info.location.empty()) j["location"] = info.location;
  return j;
}

Result<Registration> ParseRegistration(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return Status::Invalid("registration answer: " + j.status().message());
  Registration r;
  if (Status s = ReadString(*j, "id", r.id); !s.ok()) return s;
  if (r.id.empty()) return Status::Invalid("registration answer: id missing");
  if (r.id.find_first_of("/+#") != std::string::npos) return Status::Invalid("registration answer: id is not a topic level");
  for (auto [key, out] : {std::pair{"MQTT_BROKER_HOST", &r.broker_host}, {"mqtt_username", &r.username},
                          {"mqtt_password", &r.password}, {"subnet", &r.subnet}}) {
    if (Status s = ReadString(*j, key, *out); !s.ok()) return Status::Invalid("registration answer: " + s.message());
  }
  if (r.username.empty()) r.username = r.id;
  // Oakestra sends the port as a number; tolerate a numeric string too.
  auto port = j->find("MQTT_BROKER_PORT");
  int64_t p = 0;
  if (port != j->end() && port->is_number_integer()) p = port->get<int64_t>();
  else if (port != j->end() && port->is_string()) p = std::atoll(port->get<std::string>().c_str());
  if (p < 1 || p > 65535) return Status::Invalid("registration answer: MQTT_BROKER_PORT missing or out of range");
  r.broker_port = static_cast<uint16_t>(p);
  double interval = 0;
  if (Status s = ReadNonNegative(*j, "report_interval_s", interval); !s.ok()) {
    return Status::Invalid("registration answer: " + s.message());
  }
  r.report_interval_s = static_cast<int>(interval);
  return r;
}

Result<DeploySpec> ParseDeploy(std::string_view payload) {
  auto j = ParseObject(payload);
  if (!j.ok()) return j.status();
  auto key = ReadKey(*j);
  if (!key.ok()) return key.status();
  DeploySpec d;
  d.key = std::move(*key);
  double memory = 0, vcpus = 0, storage = 0;
  std::string code;
  for (Status s : {ReadString(*j, "virtualization", d.virtualization), ReadString(*j, "image", d.image),
                   ReadString(*j, "code", code), ReadNonNegative(*j, "memory", memory),
                   ReadNonNegative(*j, "vcpus", vcpus), ReadNonNegative(*j, "storage", storage),
                   ReadBool(*j, "one_shot", d.one_shot), ReadStrings(*j, "cmd", d.cmd),
                   ReadStrings(*j, "args", d.args), ReadStrings(*j, "environment", d.environment)}) {
    if (!s.ok()) return s;
  }
  if (d.virtualization.empty()) return Status::Invalid("virtualization: must not be empty");
  if (d.image.empty()) d.image = code;
  d.memory_mb = static_cast<int64_t>(memory);
  d.vcpus = vcpus;
  d.storage_mb = static_cast<int64_t>(storage);
  d.doc = std::move(*j);
  return d;
}

Result<InstanceKey> ParseDelete(std::string_view payload) {
  auto j = ParseObject(payload);
  if (!j.ok()) return j.status();
  return ReadKey(*j);
}

Result<LogsRequest> ParseLogsRequest(std::string_view payload) {
  auto j = ParseObject(payload);
  if (!j.ok()) return j.status();
  LogsRequest r;
  auto id = j->find("request_id");
  if (id == j->end() || !id->is_string()) return Status::Invalid("request_id: required, a string");
  r.request_id = id->get<std::string>();
  bool printable = std::all_of(r.request_id.begin(), r.request_id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (r.request_id.empty() || r.request_id.size() > 128 || !printable) {
    return Status::Invalid("request_id: must be 1-128 printable ASCII characters");
  }
  auto key = ReadKey(*j);
  if (!key.ok()) return key.status();
  r.key = std::move(*key);
  auto max = j->find("max_bytes");
  if (max != j->end() && !max->is_null()) {
    if (!max->is_number_integer() || (!max->is_number_unsigned() && max->get<int64_t>() < 0)) {
      return Status::Invalid("max_bytes: must be a non-negative integer");
    }
    r.max_bytes = std::min<uint64_t>(max->get<uint64_t>(), kMaxLogBytes);
  }
  return r;
}

std::string LogsReply(const LogsRequest& req, const Result<std::string>& logs) {
  json j = {{"request_id", req.request_id}, {"job_name", req.key.job_name}, {"instance_number", req.key.instance}};
  if (logs.ok()) {
    j["logs"] = *logs;
  } else {
    static const char* const kCodes[] = {"ok",       "invalid",   "unauthorized", "forbidden", "not_found",
                                         "conflict", "too_large", "unavailable",  "internal",
                                         "storage"};
    j["error"] = {{"code", kCodes[static_cast<int>(logs.status().code())]}, {"message", logs.status().message()}};
  }
  return Dump(j);
}

// The messages a node sends all the time (a job status per change; information and resources
// with a line per instance every report) are written as text directly, in the bytes
// json::dump would give for the same document (keys in its order): building the document first,
// a map per object, cost most of `oak sim`'s CPU at 10 instances per node.
namespace {

// Usage figures (percentages, MB) to 0.01: finer digits are noise, and the shortest form of a
// rounded value ("12.35" rather than "12.347812345678901") is a fifth of the bytes and parses on
// the fast path of the cluster's number parser, thousands of times a second.
void Num(std::string& out, double v) {
  if (std::isfinite(v)) v = std::round(v * 100) / 100;
  AppendJsonNumber(out, v);
}
void Num(std::string& out, int64_t v) { AppendJsonNumber(out, v); }

}  // namespace

std::string JobMessage(const InstanceStatus& s, const std::string& publicip) {
  std::string out = "{";
  AppendJsonKey(out, "instance");
  Num(out, int64_t{s.key.instance});
  AppendJsonKey(out, "publicip");
  AppendJsonString(out, publicip);
  AppendJsonKey(out, "sname");
  AppendJsonString(out, s.key.job_name);
  AppendJsonKey(out, "status");
  AppendJsonString(out, s.status);
  AppendJsonKey(out, "status_detail");
  AppendJsonString(out, s.detail);
  out += '}';
  return out;
}

std::string InformationMessage(const NodeUsage& u, const std::vector<InstanceStatus>* list) {
  static const std::vector<InstanceStatus> kNone;
  const std::vector<InstanceStatus>& instances = list ? *list : kNone;
  std::string out = "{";
  out.reserve(160 + instances.size() * 64);
  AppendJsonKey(out, "cpu_percent");
  Num(out, u.cpu_percent);
  AppendJsonKey(out, "disk");
  Num(out, u.disk_free_mb);
  if (u.has_gpu) {
    AppendJsonKey(out, "gpu_memory_free");
    Num(out, u.gpu_memory_free_mb);
    AppendJsonKey(out, "gpu_percent");
    Num(out, u.gpu_percent);
  }
  if (list) AppendJsonKey(out, "instances");
  if (list) out += '[';
  for (size_t n = 0; n < instances.size(); ++n) {
    const InstanceStatus& i = instances[n];
    out += n == 0 ? "{" : ",{";
    AppendJsonKey(out, "instance");
    Num(out, int64_t{i.key.instance});
    AppendJsonKey(out, "sname");
    AppendJsonString(out, i.key.job_name);
    AppendJsonKey(out, "status");
    AppendJsonString(out, i.status);
    out += '}';
  }
  if (list) out += ']';
  AppendJsonKey(out, "memory");
  Num(out, u.memory_free_mb);
  AppendJsonKey(out, "memory_percent");
  Num(out, u.memory_percent);
  AppendJsonKey(out, "vcpus");
  Num(out, int64_t{u.vcpus});
  out += '}';
  return out;
}

std::string ResourcesMessage(const std::vector<InstanceUsage>& usage) {
  std::string out = "{\"services\":[";
  out.reserve(16 + usage.size() * 160);
  for (size_t n = 0; n < usage.size(); ++n) {
    const InstanceUsage& u = usage[n];
    out += n == 0 ? "{" : ",{";
    AppendJsonKey(out, "cpu_percent");
    Num(out, u.cpu_percent);
    AppendJsonKey(out, "disk");
    Num(out, u.disk_mb);
    AppendJsonKey(out, "instance");
    Num(out, int64_t{u.key.instance});
    AppendJsonKey(out, "job_name");
    AppendJsonString(out, u.key.job_name);
    AppendJsonKey(out, "memory");
    Num(out, u.memory_mb);
    AppendJsonKey(out, "memory_percent");
    Num(out, u.memory_percent);
    AppendJsonKey(out, "virtualization");
    AppendJsonString(out, u.virtualization);
    out += '}';
  }
  out += "]}";
  return out;
}

std::string WillMessage(const std::string& node_id) {
  return Dump(json{{"id", node_id}, {"reason", "connection lost"}});
}

}  // namespace oak::node
