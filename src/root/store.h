// The root's durable state. Every mutating call is one transaction: it either happens whole and is
// durable when it returns ok, or leaves nothing behind.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace oak::root {

struct UserRecord {
  std::string id;  // 24 hex
  std::string name;
  std::string email;
  std::string password_hash;  // libsodium argon2id string
  std::vector<std::string> roles;
  std::string organization_id;  // may be empty
  int64_t created_ms = 0;
};

struct OrganizationRecord {
  std::string id;
  std::string name;
  nlohmann::json doc = nlohmann::json::object();  // extra fields kept as given
};

struct ApplicationRecord {
  std::string id;
  std::string owner_id;
  std::string name;
  std::string ns;
  nlohmann::json doc = nlohmann::json::object();  // application fields except microservices
};

struct ServiceRecord {
  std::string id;
  std::string app_id;
  std::string owner_id;
  std::string job_name;  // app.appns.svc.svcns, unique
  std::string rr_ip;     // empty when none was requested; unique otherwise
  int64_t next_instance = 0;
  nlohmann::json doc = nlohmann::json::object();  // the SLA microservice and Oakestra's stored fields
};

// A service with its document left as stored (compact JSON text), for read paths that only pass
// the document on: they skip parsing and re-serialising it.
struct StoredService {
  std::string id;
  std::string app_id;
  std::string owner_id;
  std::string job_name;
  int64_t next_instance = 0;
  std::string doc_text;
};

struct InstanceRecord {
  std::string service_id;
  int64_t number = 0;
  std::string cluster_id;  // empty until scheduled
  std::string status;
  std::string status_detail;
  int64_t updated_ms = 0;
  nlohmann::json doc = nlohmann::json::object();  // worker_id, publicip, host_ip, cpu_percent, ...
};

struct ClusterRecord {
  std::string id;
  std::string name;
  std::string secret;  // per-cluster secret: the cluster authenticates with it, and so does the root towards the cluster
  std::string manager_url;
  int64_t registered_ms = 0;
  int64_t last_seen_ms = 0;
  nlohmann::json info = nlohmann::json::object();  // location and last reported aggregates
};

// A conditional change of one instance's state: the dispatcher's steps, which must not overwrite a
// state that moved on meanwhile (removed, reported by its cluster, placed elsewhere).
struct InstanceTransition {
  std::string service_id;
  int64_t number = 0;
  std::string from_status;   // applies only while the instance has this status
  std::string from_cluster;  // ... and, when not empty, is placed on this cluster
  std::string status;
  std::string status_detail;
  std::string cluster_id;        // when not empty: the instance's new cluster
  std::string cluster_location;  // when not empty: recorded in the instance document
  int64_t updated_ms = 0;
};

// One write of a batch (Store::RunBatch); it calls the store's mutating methods.
using BatchOp = std::function<Status()>;

// A new application with the services to create in the same transaction.
struct NewApplication {
  ApplicationRecord app;
  std::vector<ServiceRecord> services;
};

class Store {
 public:
  virtual ~Store() = default;

  // Users and organizations.
  virtual Status CreateUser(const UserRecord& u) = 0;
  virtual Result<UserRecord> GetUserByName(const std::string& name) = 0;
  virtual Result<UserRecord> GetUserById(const std::string& id) = 0;
  virtual Result<std::vector<UserRecord>> ListUsers() = 0;
  virtual Status UpdateUser(const UserRecord& u) = 0;
  virtual Status DeleteUser(const std::string& name) = 0;
  virtual Status CreateOrganization(const OrganizationRecord& o) = 0;
  virtual Result<OrganizationRecord> GetOrganization(const std::string& id_or_name) = 0;
  virtual Result<std::vector<OrganizationRecord>> ListOrganizations() = 0;
  virtual Status UpdateOrganization(const OrganizationRecord& o) = 0;
  virtual Status DeleteOrganization(const std::string& id) = 0;

  // Applications and services. Conflicts (an app name+namespace taken by this owner, a job name or
  // rr_ip taken by anyone) answer kConflict naming the field, and nothing is written.
  virtual Status CreateApplications(const std::vector<NewApplication>& apps) = 0;
  virtual Result<ApplicationRecord> GetApplication(const std::string& id) = 0;
  // Empty owner: all applications.
  virtual Result<std::vector<ApplicationRecord>> ListApplications(const std::string& owner_id) = 0;
  virtual Status UpdateApplication(const ApplicationRecord& a) = 0;
  // Removes the application, its services and their instances.
  virtual Status DeleteApplication(const std::string& id) = 0;
  virtual Status AddServices(const std::vector<ServiceRecord>& services) = 0;
  virtual Result<ServiceRecord> GetService(const std::string& id) = 0;
  // Empty app id: every service.
  virtual Result<std::vector<ServiceRecord>> ListServices(const std::string& app_id) = 0;
  // Replaces the service's document and rr_ip (kConflict naming addresses.rr_ip when taken).
  virtual Status UpdateService(const ServiceRecord& s) = 0;
  virtual Status DeleteService(const std::string& id) = 0;
  // Empty app id: every service.
  virtual Result<std::vector<StoredService>> ListStoredServices(const std::string& app_id) = 0;
  virtual Result<StoredService> GetStoredService(const std::string& id) = 0;

  // Instances. CreateInstance allocates the service's next instance number atomically and stores
  // `initial` under it (its `number` is ignored); the first form stores a REQUESTED instance.
  Result<InstanceRecord> CreateInstance(const std::string& service_id, int64_t now_ms) {
    return CreateInstance(InstanceRecord{service_id, 0, "", "REQUESTED", "", now_ms, nlohmann::json::object()});
  }
  virtual Result<InstanceRecord> CreateInstance(InstanceRecord initial) = 0;
  virtual Result<InstanceRecord> GetInstance(const std::string& service_id, int64_t number) = 0;
  virtual Result<std::vector<InstanceRecord>> ListInstances(const std::string& service_id) = 0;
  // Instances of many services at once, keyed by service id.
  virtual Result<std::map<std::string, std::vector<InstanceRecord>>> ListInstancesOf(
      const std::vector<std::string>& service_ids) = 0;
  // Instances of an application's services (empty app id: of all services), keyed by service id.
  virtual Result<std::map<std::string, std::vector<InstanceRecord>>> ListInstancesOfApp(const std::string& app_id) = 0;
  // Instances the root has not yet handed over for good: REQUESTED or CLUSTER_SCHEDULED.
  virtual Result<std::vector<InstanceRecord>> ListUnfinishedInstances() = 0;
  // Instances placed on the cluster, whatever their status. A scan: meant for rare events (the
  // cluster was lost), not for the deploy path, which an index on cluster_id would slow down.
  virtual Result<std::vector<InstanceRecord>> ListInstancesOnCluster(const std::string& cluster_id) = 0;
  virtual Status UpdateInstance(const InstanceRecord& i) = 0;
  // Answers false, changing nothing, when the instance is gone or not in the expected state.
  virtual Result<bool> TransitionInstance(const InstanceTransition& t) = 0;
  virtual Status RemoveInstance(const std::string& service_id, int64_t number) = 0;
  virtual Result<std::map<std::string, int64_t>> CountInstancesByStatus() = 0;
  virtual Result<int64_t> CountApplications() = 0;
  virtual Result<int64_t> CountServices() = 0;

  // Clusters.
  virtual Status UpsertCluster(const ClusterRecord& c) = 0;
  virtual Result<std::vector<ClusterRecord>> ListClusters() = 0;

  // Group commit: runs `ops` in one transaction, each under its own savepoint, so that a failing
  // op leaves nothing behind and does not disturb the others. `results[i]` is op i's outcome;
  // when the transaction cannot commit, every result is that failure and nothing was written.
  // Every other mutating method may be called inside an op.
  virtual void RunBatch(std::span<const BatchOp> ops, std::vector<Status>& results) = 0;
  // Write transactions committed so far (for metrics).
  virtual uint64_t commits() const = 0;

  // Small settings (schema version, generated tokens).
  virtual Result<std::optional<std::string>> GetMeta(const std::string& key) = 0;
  virtual Status SetMeta(const std::string& key, const std::string& value) = 0;
};

}  // namespace oak::root
