// Store on SQLite (WAL) in the root's data directory. Schema: docs/storage.md. The instance
// methods and the write scopes live in sqlite_store_instances.cc.
#pragma once

#include <memory>
#include <string>

#include "common/sqlite.h"
#include "root/store.h"

namespace oak::root {

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path);

  Status CreateUser(const UserRecord& u) override;
  Result<UserRecord> GetUserByName(const std::string& name) override;
  Result<UserRecord> GetUserById(const std::string& id) override;
  Result<std::vector<UserRecord>> ListUsers() override;
  Status UpdateUser(const UserRecord& u) override;
  Status DeleteUser(const std::string& name) override;
  Status CreateOrganization(const OrganizationRecord& o) override;
  Result<OrganizationRecord> GetOrganization(const std::string& id_or_name) override;
  Result<std::vector<OrganizationRecord>> ListOrganizations() override;
  Status UpdateOrganization(const OrganizationRecord& o) override;
  Status DeleteOrganization(const std::string& id) override;

  Status CreateApplications(const std::vector<NewApplication>& apps) override;
  Result<ApplicationRecord> GetApplication(const std::string& id) override;
  Result<std::vector<ApplicationRecord>> ListApplications(const std::string& owner_id) override;
  Status UpdateApplication(const ApplicationRecord& a) override;
  Status DeleteApplication(const std::string& id) override;
  Status AddServices(const std::vector<ServiceRecord>& services) override;
  Result<ServiceRecord> GetService(const std::string& id) override;
  Result<std::vector<ServiceRecord>> ListServices(const std::string& app_id) override;
  Status UpdateService(const ServiceRecord& s) override;
  Status DeleteService(const std::string& id) override;
  Result<std::vector<StoredService>> ListStoredServices(const std::string& app_id) override;
  Result<StoredService> GetStoredService(const std::string& id) override;

  using Store::CreateInstance;
  Result<InstanceRecord> CreateInstance(InstanceRecord initial) override;
  Result<InstanceRecord> GetInstance(const std::string& service_id, int64_t number) override;
  Result<std::vector<InstanceRecord>> ListInstances(const std::string& service_id) override;
  Result<std::map<std::string, std::vector<InstanceRecord>>> ListInstancesOf(
      const std::vector<std::string>& service_ids) override;
  Result<std::map<std::string, std::vector<InstanceRecord>>> ListInstancesOfApp(const std::string& app_id) override;
  Result<std::vector<InstanceRecord>> ListUnfinishedInstances() override;
  Result<std::vector<InstanceRecord>> ListInstancesOnCluster(const std::string& cluster_id) override;
  Status UpdateInstance(const InstanceRecord& i) override;
  Result<bool> TransitionInstance(const InstanceTransition& t) override;
  Status RemoveInstance(const std::string& service_id, int64_t number) override;
  Result<std::map<std::string, int64_t>> CountInstancesByStatus() override;
  Result<int64_t> CountApplications() override;
  Result<int64_t> CountServices() override;

  Status UpsertCluster(const ClusterRecord& c) override;
  Result<std::vector<ClusterRecord>> ListClusters() override;

  Result<std::optional<std::string>> GetMeta(const std::string& key) override;
  Status SetMeta(const std::string& key, const std::string& value) override;

  void RunBatch(std::span<const BatchOp> ops, std::vector<Status>& results) override;
  uint64_t commits() const override { return db_->commits(); }

 private:
  class Scope;
  explicit SqliteStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}
  Status InsertService(const ServiceRecord& s);
  Result<int64_t> Count(std::string_view sql);

  std::unique_ptr<Db> db_;
  int depth_ = 0;  // open Scopes: 0 outside a transaction
};

}  // namespace oak::root
