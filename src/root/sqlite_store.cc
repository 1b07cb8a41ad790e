#include "root/sqlite_store.h"

#include "common/fs.h"
#include "root/sqlite_store_internal.h"

namespace oak::root {
namespace {

using nlohmann::json;
using internal::Dump;
using internal::ParseDoc;

// Append-only: a released schema is never edited, only followed by a new step.
const std::vector<std::string> kMigrations = {
    R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE organizations(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE users(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, email TEXT NOT NULL,
  password_hash TEXT NOT NULL, roles TEXT NOT NULL, organization_id TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE applications(id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, name TEXT NOT NULL,
  namespace TEXT NOT NULL, doc TEXT NOT NULL, UNIQUE(owner_id, name, namespace));
CREATE INDEX applications_owner ON applications(owner_id);
CREATE TABLE services(id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
  owner_id TEXT NOT NULL, job_name TEXT NOT NULL UNIQUE, rr_ip TEXT UNIQUE, next_instance INTEGER NOT NULL,
  doc TEXT NOT NULL);
CREATE INDEX services_app ON services(app_id);
CREATE TABLE instances(service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  number INTEGER NOT NULL, cluster_id TEXT NOT NULL, status TEXT NOT NULL, status_detail TEXT NOT NULL,
  updated_ms INTEGER NOT NULL, doc TEXT NOT NULL,
  PRIMARY KEY(service_id, number)) WITHOUT ROWID;
CREATE INDEX instances_status ON instances(status);
CREATE TABLE clusters(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, secret TEXT NOT NULL,
  manager_url TEXT NOT NULL, registered_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL, info TEXT NOT NULL);
)sql",
    // Version 2: what the deploy path writes per instance stays on few pages. The next instance
    // number moves to a narrow table (bumping it rewrote the service row with its whole document),
    // and status entries are ordered by time within a status (new entries land on the last page
    // instead of one page per service). services.next_instance keeps the value a service starts
    // with; the counter, once it exists, supersedes it.
    R"sql(
CREATE TABLE instance_counters(service_id TEXT PRIMARY KEY REFERENCES services(id) ON DELETE CASCADE,
  next INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO instance_counters(service_id, next) SELECT id, next_instance FROM services WHERE next_instance > 0;
DROP INDEX instances_status;
CREATE INDEX instances_status_time ON instances(status, updated_ms);
)sql",
};

// Names the field behind a UNIQUE violation so the API can say which one.
Status ConflictFor(const Status& s) {
  if (s.code() != Code::kConflict) return s;
  const std::string& m = s.message();
  if (m.find("applications.owner_id") != std::string::npos || m.find("applications.name") != std::string::npos)
    return Status::Conflict("application_name: an application with this name and namespace already exists");
  if (m.find("services.job_name") != std::string::npos)
    return Status::Conflict("microservice_name: a service with this job name (app.appns.svc.svcns) already exists");
  if (m.find("services.rr_ip") != std::string::npos)
    return Status::Conflict("addresses.rr_ip: this address is already used by another service");
  if (m.find("users.name") != std::string::npos) return Status::Conflict("name: this user already exists");
  if (m.find("organizations.name") != std::string::npos)
    return Status::Conflict("name: this organization already exists");
  if (m.find("clusters.name") != std::string::npos) return Status::Conflict("cluster_name: already registered");
  return s;
}

constexpr const char* kUserCols = "id, name, email, password_hash, roles, organization_id, created_ms";
UserRecord ReadUser(const Stmt& s) {
  UserRecord u{s.Text(0), s.Text(1), s.Text(2), s.Text(3), {}, s.Text(5), s.Int(6)};
  json roles = ParseDoc(s.Text(4));
  if (roles.is_array())
    for (auto& r : roles)
      if (r.is_string()) u.roles.push_back(r.get<std::string>());
  return u;
}

constexpr const char* kServiceCols = "id, app_id, owner_id, job_name, rr_ip, next_instance, doc";
// Reading services: the next instance number is the counter's once one exists (schema version 2).
constexpr const char* kServiceSelect =
    "SELECT s.id, s.app_id, s.owner_id, s.job_name, s.rr_ip, COALESCE(c.next, s.next_instance), s.doc "
    "FROM services s LEFT JOIN instance_counters c ON c.service_id = s.id";
constexpr const char* kStoredServiceSelect =
    "SELECT s.id, s.app_id, s.owner_id, s.job_name, COALESCE(c.next, s.next_instance), s.doc "
    "FROM services s LEFT JOIN instance_counters c ON c.service_id = s.id";
ServiceRecord ReadService(const Stmt& s) {
  return {s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Int(5), ParseDoc(s.Text(6))};
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  auto db = Db::Open(path);
  if (!db.ok()) return db.status();
  OAK_RETURN_IF_ERROR((*db)->Migrate(kMigrations));
  // Savepoints (RunBatch) keep their journals in memory rather than in temporary files.
  // Exclusive locking: the root is the database's only user, and holding the lock spares every
  // read and write the lock and unlock system calls on the WAL index. It also keeps a second
  // process (another root on the same data directory) out.
  // Checkpoints every 4,000 WAL pages (16 MB), not SQLite's 1,000: a burst of deploys rewrites the
  // same index pages in commit after commit, and each checkpoint copies a page once however often
  // it was written.
  OAK_RETURN_IF_ERROR(
      (*db)->Exec("PRAGMA temp_store=MEMORY; PRAGMA locking_mode=EXCLUSIVE; PRAGMA wal_autocheckpoint=4000"));
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(*db)));
}

Status SqliteStore::CreateUser(const UserRecord& u) {
  PREPARE(st, std::string("INSERT INTO users(") + kUserCols + ") VALUES(?,?,?,?,?,?,?)");
  st.Bind(1, u.id).Bind(2, u.name).Bind(3, u.email).Bind(4, u.password_hash).Bind(5, Dump(u.roles));
  st.Bind(6, u.organization_id).Bind(7, u.created_ms);
  return ConflictFor(st.Run());
}

Result<UserRecord> SqliteStore::GetUserByName(const std::string& name) {
  PREPARE(st, std::string("SELECT ") + kUserCols + " FROM users WHERE name=?");
  st.Bind(1, name);
  if (st.Step()) return ReadUser(st);
  if (!st.status().ok()) return st.status();
  return Status::NotFound("user '" + name + "' not found");
}

Result<UserRecord> SqliteStore::GetUserById(const std::string& id) {
  PREPARE(st, std::string("SELECT ") + kUserCols + " FROM users WHERE id=?");
  st.Bind(1, id);
  if (st.Step()) return ReadUser(st);
  if (!st.status().ok()) return st.status();
  return Status::NotFound("user id '" + id + "' not found");
}

Result<std::vector<UserRecord>> SqliteStore::ListUsers() {
  PREPARE(st, std::string("SELECT ") + kUserCols + " FROM users ORDER BY created_ms, name");
  std::vector<UserRecord> out;
  while (st.Step()) out.push_back(ReadUser(st));
  if (!st.status().ok()) return st.status();
  return out;
}

Status SqliteStore::UpdateUser(const UserRecord& u) {
  PREPARE(st, "UPDATE users SET email=?, password_hash=?, roles=?, organization_id=? WHERE id=?");
  st.Bind(1, u.email).Bind(2, u.password_hash).Bind(3, Dump(u.roles)).Bind(4, u.organization_id).Bind(5, u.id);
  OAK_RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return Status::NotFound("user '" + u.name + "' not found");
  return Status::Ok();
}

Status SqliteStore::DeleteUser(const std::string& name) {
  PREPARE(st, "DELETE FROM users WHERE name=?");
  st.Bind(1, name);
  OAK_RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return Status::NotFound("user '" + name + "' not found");
  return Status::Ok();
}

Status SqliteStore::CreateOrganization(const OrganizationRecord& o) {
  PREPARE(st, "INSERT INTO organizations(id, name, doc) VALUES(?,?,?)");
  st.Bind(1, o.id).Bind(2, o.name).Bind(3, Dump(o.doc));
  return ConflictFor(st.Run());
}

Result<OrganizationRecord> SqliteStore::GetOrganization(const std::string& id_or_name) {
  PREPARE(st, "SELECT id, name, doc FROM organizations WHERE id=? OR name=?");
  st.Bind(1, id_or_name).Bind(2, id_or_name);
  if (st.Step()) return OrganizationRecord{st.Text(0), st.Text(1), ParseDoc(st.Text(2))};
  if (!st.status().ok()) return st.status();
  return Status::NotFound("organization '" + id_or_name + "' not found");
}

Result<std::vector<OrganizationRecord>> SqliteStore::ListOrganizations() {
  PREPARE(st, "SELECT id, name, doc FROM organizations ORDER BY name");
  std::vector<OrganizationRecord> out;
  while (st.Step()) out.push_back({st.Text(0), st.Text(1), ParseDoc(st.Text(2))});
  if (!st.status().ok()) return st.status();
  return out;
}

Status SqliteStore::UpdateOrganization(const OrganizationRecord& o) {
  PREPARE(st, "UPDATE organizations SET name=?, doc=? WHERE id=?");
  st.Bind(1, o.name).Bind(2, Dump(o.doc)).Bind(3, o.id);
  OAK_RETURN_IF_ERROR(ConflictFor(st.Run()));
  if (db_->Changes() == 0) return Status::NotFound("organization '" + o.id + "' not found");
  return Status::Ok();
}

Status SqliteStore::DeleteOrganization(const std::string& id) {
  PREPARE(st, "DELETE FROM organizations WHERE id=?");
  st.Bind(1, id);
  OAK_RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return Status::NotFound("organization '" + id + "' not found");
  return Status::Ok();
}

Status SqliteStore::InsertService(const ServiceRecord& s) {
  PREPARE(st, std::string("INSERT INTO services(") + kServiceCols + ") VALUES(?,?,?,?,?,?,?)");
  st.Bind(1, s.id).Bind(2, s.app_id).Bind(3, s.owner_id).Bind(4, s.job_name).BindOpt(5, s.rr_ip);
  st.Bind(6, s.next_instance).Bind(7, Dump(s.doc));
  return ConflictFor(st.Run());
}

Status SqliteStore::CreateApplications(const std::vector<NewApplication>& apps) {
  Scope tx(*this);
  OAK_RETURN_IF_ERROR(tx.status());
  for (const auto& na : apps) {
    {
      PREPARE(st, "INSERT INTO applications(id, owner_id, name, namespace, doc) VALUES(?,?,?,?,?)");
      st.Bind(1, na.app.id).Bind(2, na.app.owner_id).Bind(3, na.app.name).Bind(4, na.app.ns);
      st.Bind(5, Dump(na.app.doc));
      OAK_RETURN_IF_ERROR(ConflictFor(st.Run()));
    }
    for (const auto& s : na.services) OAK_RETURN_IF_ERROR(InsertService(s));
  }
  return tx.Commit();
}

Result<ApplicationRecord> SqliteStore::GetApplication(const std::string& id) {
  PREPARE(st, "SELECT id, owner_id, name, namespace, doc FROM applications WHERE id=?");
  st.Bind(1, id);
  if (st.Step()) return ApplicationRecord{st.Text(0), st.Text(1), st.Text(2), st.Text(3), ParseDoc(st.Text(4))};
  if (!st.status().ok()) return st.status();
  return Status::NotFound("application '" + id + "' not found");
}

Result<std::vector<ApplicationRecord>> SqliteStore::ListApplications(const std::string& owner_id) {
  // Two statements, not `?1 = '' OR owner_id = ?1`: SQLite cannot use the index through that OR.
  PREPARE(st, owner_id.empty()
                  ? "SELECT id, owner_id, name, namespace, doc FROM applications ORDER BY id"
                  : "SELECT id, owner_id, name, namespace, doc FROM applications WHERE owner_id = ?1 ORDER BY id");
  if (!owner_id.empty()) st.Bind(1, owner_id);
  std::vector<ApplicationRecord> out;
  while (st.Step()) out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Text(3), ParseDoc(st.Text(4))});
  if (!st.status().ok()) return st.status();
  return out;
}

Status SqliteStore::UpdateApplication(const ApplicationRecord& a) {
  PREPARE(st, "UPDATE applications SET name=?, namespace=?, doc=? WHERE id=?");
  st.Bind(1, a.name).Bind(2, a.ns).Bind(3, Dump(a.doc)).Bind(4, a.id);
  OAK_RETURN_IF_ERROR(ConflictFor(st.Run()));
  if (db_->Changes() == 0) return Status::NotFound("application '" + a.id + "' not found");
  return Status::Ok();
}

Status SqliteStore::DeleteApplication(const std::string& id) {
  PREPARE(st, "DELETE FROM applications WHERE id=?");
  st.Bind(1, id);
  OAK_RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return Status::NotFound("application '" + id + "' not found");
  return Status::Ok();
}

Status SqliteStore::AddServices(const std::vector<ServiceRecord>& services) {
  Scope tx(*this);
  OAK_RETURN_IF_ERROR(tx.status());
  for (const auto& s : services) OAK_RETURN_IF_ERROR(InsertService(s));
  return tx.Commit();
}

Result<ServiceRecord> SqliteStore::GetService(const std::string& id) {
  PREPARE(st, std::string(kServiceSelect) + " WHERE s.id=?");
  st.Bind(1, id);
  if (st.Step()) return ReadService(st);
  if (!st.status().ok()) return st.status();
  return Status::NotFound("service '" + id + "' not found");
}

Result<std::vector<ServiceRecord>> SqliteStore::ListServices(const std::string& app_id) {
  // Two statements, as in ListApplications, so that services_app serves the filtered one.
  PREPARE(st, std::string(kServiceSelect) + (app_id.empty() ? " ORDER BY s.id" : " WHERE s.app_id = ?1 ORDER BY s.id"));
  if (!app_id.empty()) st.Bind(1, app_id);
  std::vector<ServiceRecord> out;
  while (st.Step()) out.push_back(ReadService(st));
  if (!st.status().ok()) return st.status();
  return out;
}

Status SqliteStore::UpdateService(const ServiceRecord& s) {
  PREPARE(st, "UPDATE services SET rr_ip=?, doc=? WHERE id=?");
  st.BindOpt(1, s.rr_ip).Bind(2, Dump(s.doc)).Bind(3, s.id);
  OAK_RETURN_IF_ERROR(ConflictFor(st.Run()));
  if (db_->Changes() == 0) return Status::NotFound("service '" + s.id + "' not found");
  return Status::Ok();
}

Status SqliteStore::DeleteService(const std::string& id) {
  PREPARE(st, "DELETE FROM services WHERE id=?");
  st.Bind(1, id);
  OAK_RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return Status::NotFound("service '" + id + "' not found");
  return Status::Ok();
}

Result<std::vector<StoredService>> SqliteStore::ListStoredServices(const std::string& app_id) {
  PREPARE(st, app_id.empty()
                  ? std::string(kStoredServiceSelect) + " ORDER BY s.id"
                  : std::string(kStoredServiceSelect) + " WHERE s.app_id = ?1 ORDER BY s.id");
  if (!app_id.empty()) st.Bind(1, app_id);
  std::vector<StoredService> out;
  while (st.Step()) out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Int(4), st.Text(5)});
  if (!st.status().ok()) return st.status();
  return out;
}

Result<StoredService> SqliteStore::GetStoredService(const std::string& id) {
  PREPARE(st, std::string(kStoredServiceSelect) + " WHERE s.id = ?1");
  st.Bind(1, id);
  if (st.Step()) return StoredService{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Int(4), st.Text(5)};
  if (!st.status().ok()) return st.status();
  return Status::NotFound("service '" + id + "' not found");
}

Result<int64_t> SqliteStore::Count(std::string_view sql) {
  PREPARE(st, sql);
  if (st.Step()) return st.Int(0);
  if (!st.status().ok()) return st.status();
  return int64_t{0};
}
Result<int64_t> SqliteStore::CountApplications() { return Count("SELECT COUNT(*) FROM applications"); }
Result<int64_t> SqliteStore::CountServices() { return Count("SELECT COUNT(*) FROM services"); }

Status SqliteStore::UpsertCluster(const ClusterRecord& c) {
  PREPARE(st, "INSERT INTO clusters(id, name, secret, manager_url, registered_ms, last_seen_ms, info) "
              "VALUES(?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET name=excluded.name, "
              "secret=excluded.secret, manager_url=excluded.manager_url, "
              "last_seen_ms=excluded.last_seen_ms, info=excluded.info");
  st.Bind(1, c.id).Bind(2, c.name).Bind(3, c.secret).Bind(4, c.manager_url).Bind(5, c.registered_ms);
  st.Bind(6, c.last_seen_ms).Bind(7, Dump(c.info));
  return ConflictFor(st.Run());
}

Result<std::vector<ClusterRecord>> SqliteStore::ListClusters() {
  PREPARE(st, "SELECT id, name, secret, manager_url, registered_ms, last_seen_ms, info FROM clusters ORDER BY registered_ms");
  std::vector<ClusterRecord> out;
  while (st.Step())
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Int(4), st.Int(5), ParseDoc(st.Text(6))});
  if (!st.status().ok()) return st.status();
  return out;
}

Result<std::optional<std::string>> SqliteStore::GetMeta(const std::string& key) {
  PREPARE(st, "SELECT value FROM meta WHERE key=?");
  st.Bind(1, key);
  if (st.Step()) return std::optional<std::string>(st.Text(0));
  if (!st.status().ok()) return st.status();
  return std::optional<std::string>();
}

Status SqliteStore::SetMeta(const std::string& key, const std::string& value) {
  PREPARE(st, "INSERT INTO meta(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value");
  st.Bind(1, key).Bind(2, value);
  return st.Run();
}

}  // namespace oak::root
