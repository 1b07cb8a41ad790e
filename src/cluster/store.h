// The cluster's durable state: its nodes, the services it was handed and their instances, and a
// few settings (identity at the root, broker admin password). Every mutating call is one
// transaction. Lives on the cluster's event loop thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace oak::cluster {

struct NodeRecord {
  std::string id;    // 24 hex; also the node's MQTT user name
  std::string name;  // the node's `host`: its identity within the cluster
  nlohmann::json info = nlohmann::json::object();  // the registration body (static description)
  int64_t registered_ms = 0;
  std::string subnet;  // the node's instance subnet ("10.18.0.64/26"), empty when it asked for none
};

struct ServiceDoc {
  std::string job_id;
  std::string job_name;
  std::string doc_text;  // the service document as the root sent it, compact JSON
};

struct InstanceRow {
  std::string job_id;
  int64_t number = 0;
  std::string node_id;  // empty while not placed
  std::string status;
  std::string status_detail;
  std::string publicip;
  int64_t updated_ms = 0;
  int64_t restarts = 0;       // restart policy: consecutive crashes restarted (step 3)
  std::string last_exit;      // the last crash's reason
  int64_t restart_at_ms = 0;  // a pending restart's due time, 0 = none
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<std::optional<std::string>> GetMeta(const std::string& key) = 0;
  virtual Status SetMeta(const std::string& key, const std::string& value) = 0;

  virtual Status PutNode(const NodeRecord& n) = 0;  // insert or replace by id
  virtual Result<std::vector<NodeRecord>> ListNodes() = 0;

  virtual Status PutService(const ServiceDoc& s) = 0;  // insert or replace by job_id
  virtual Result<std::optional<ServiceDoc>> GetService(const std::string& job_id) = 0;
  virtual Result<std::vector<ServiceDoc>> ListServices() = 0;  // without doc_text

  // Rows are written in one transaction, so a batch of changes from one report is atomic.
  virtual Status PutInstances(const std::vector<InstanceRow>& rows) = 0;
  // Removes the instances and, when none is left, the service.
  virtual Status DeleteInstances(const std::string& job_id, const std::vector<int64_t>& numbers) = 0;
  virtual Result<std::vector<InstanceRow>> ListInstances() = 0;
};

// SQLite in WAL mode; schema in docs/storage.md ("Cluster").
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace oak::cluster
