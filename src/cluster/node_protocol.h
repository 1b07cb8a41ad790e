// The node <-> cluster wire formats (docs/mqtt.md): parsing is pure and checks every field it
// uses, so a malformed or hostile payload becomes a Status naming the field, never a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"
#include "scheduler/scheduler.h"

namespace oak::cluster {

// The body of POST /api/node/register.
struct NodeDescription {
  std::string host;  // identity within the cluster
  std::string ip;
  std::string arch = "amd64";
  std::string os = "linux";
  int64_t vcpus = 0;
  int64_t memory_mb = 0;
  int64_t disk_mb = 0;
  int64_t gpus = 0;
  int64_t gpu_memory_mb = 0;
  std::vector<std::string> virtualization;
  std::vector<std::string> addons;
  std::optional<scheduler::GeoPoint> location;
  bool subnet_wanted = false;  // the node runs real networking and needs an instance subnet
};
Result<NodeDescription> ParseNodeDescription(const nlohmann::json& body);
bool IsValidNodeName(std::string_view name);

struct ReportedInstance {
  std::string job_name;
  int64_t instance = 0;
  std::string status;
};

// nodes/<id>/information
struct NodeReport {
  double cpu_percent = 0;
  double memory_percent = 0;
  std::optional<int64_t> memory_free_mb;
  std::optional<int64_t> disk_free_mb;
  std::optional<std::vector<ReportedInstance>> instances;  // absent: the node did not say
};
Result<NodeReport> ParseNodeReport(std::string_view payload);

// nodes/<id>/job
struct JobEvent {
  std::string job_name;
  int64_t instance = 0;
  std::string status;
  std::string detail;
  std::string publicip;
};
Result<JobEvent> ParseJobEvent(std::string_view payload);

// nodes/<id>/jobs/resources
struct InstanceUsage {
  std::string job_name;
  int64_t instance = 0;
  double cpu_percent = 0;
  double memory_percent = 0;
  int64_t memory_mb = 0;
  int64_t disk = 0;
};
Result<std::vector<InstanceUsage>> ParseJobResources(std::string_view payload);

// nodes/<id>/control/deploy: the service document with `instance_number`.
Result<std::string> DeployPayload(const std::string& doc_text, int64_t instance_number);
// nodes/<id>/control/delete
std::string DeletePayload(const std::string& job_name, const std::string& virtualization, int64_t instance_number);

// nodes/<id>/control/logs
std::string LogsRequestPayload(const std::string& request_id, const std::string& job_name, int64_t instance_number,
                               size_t max_bytes);
// nodes/<id>/logs: `logs`, or `error: {code, message}` in its place.
inline constexpr size_t kMaxLogReplyBytes = 4u << 20;  // 1 MiB of output, broken UTF-8 replaced
struct LogsReply {
  std::string request_id;
  std::string job_name;
  int64_t instance = 0;
  std::optional<std::string> logs;  // absent: `error` says why
  std::string error_code;           // "not_found", "internal", ... (node/payloads.h)
  std::string error_message;
};
Result<LogsReply> ParseLogsReply(std::string_view payload);

// "nodes/<id>/<rest>" -> {id, rest}; empty id when the topic has another shape.
std::pair<std::string_view, std::string_view> SplitNodeTopic(std::string_view topic);

}  // namespace oak::cluster
