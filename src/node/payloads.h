// The node's side of docs/mqtt.md: registration over HTTP and the MQTT payloads, as pure
// functions. Parsers are strict on types (a wrong type names the field) and ignore unknown fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "node/probe.h"
#include "node/runtime.h"

namespace oak::node {

// The body of `POST /api/node/register`.
nlohmann::json RegistrationBody(const NodeInfo& info, const std::vector<std::string>& virtualization,
                                const std::vector<std::string>& addons);

struct Registration {
  std::string id;
  std::string broker_host;  // empty: the host of the cluster URL
  uint16_t broker_port = 0;
  std::string username;     // defaults to the id
  std::string password;
  int report_interval_s = 0;  // 0: the cluster did not say
  std::string subnet;         // the node's instance subnet, when it asked for one ("" otherwise)
};
// The cluster's 200 answer. The id must be usable as one MQTT topic level.
Result<Registration> ParseRegistration(std::string_view body);

// `nodes/<id>/control/deploy`: the service document plus `instance_number`.
Result<DeploySpec> ParseDeploy(std::string_view payload);
// `nodes/<id>/control/delete`: `{job_name, virtualization, instance_number}`.
Result<InstanceKey> ParseDelete(std::string_view payload);

// `nodes/<id>/control/logs`: `{request_id, job_name, instance_number, max_bytes?}`. `max_bytes`
// defaults to kDefaultLogBytes and is lowered to kMaxLogBytes, which bounds the reply (its JSON
// escaping at most multiplies that by six).
inline constexpr size_t kDefaultLogBytes = 64 * 1024;
inline constexpr size_t kMaxLogBytes = 1024 * 1024;
struct LogsRequest {
  std::string request_id;  // 1-128 printable ASCII characters, echoed in the reply
  InstanceKey key;
  size_t max_bytes = kDefaultLogBytes;
};
Result<LogsRequest> ParseLogsRequest(std::string_view payload);
// `nodes/<id>/logs`: `{request_id, job_name, instance_number, logs}`, or `error: {code, message}` in
// place of `logs` (code: "not_found" for an instance the node does not have, else "internal", ...).
std::string LogsReply(const LogsRequest& req, const Result<std::string>& logs);

std::string JobMessage(const InstanceStatus& s, const std::string& publicip);
// `instances` null: the report leaves the list out (the cluster then keeps the one it has).
std::string InformationMessage(const NodeUsage& u, const std::vector<InstanceStatus>* instances);
std::string ResourcesMessage(const std::vector<InstanceUsage>& usage);
std::string WillMessage(const std::string& node_id);

}  // namespace oak::node
