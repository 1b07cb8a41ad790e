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

std::string JobMessage(const InstanceStatus& s, const std::string& publicip);
std::string InformationMessage(const NodeUsage& u, const std::vector<InstanceStatus>& instances);
std::string ResourcesMessage(const std::vector<InstanceUsage>& usage);
std::string WillMessage(const std::string& node_id);

}  // namespace oak::node
