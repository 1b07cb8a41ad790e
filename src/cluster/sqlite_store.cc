#include <nlohmann/json.hpp>

#include "cluster/store.h"
#include "common/sqlite.h"

namespace oak::cluster {
namespace {

using nlohmann::json;

// Append-only: a released schema is never edited, only followed by a new step.
const std::vector<std::string> kMigrations = {
    R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE nodes(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, info TEXT NOT NULL,
  registered_ms INTEGER NOT NULL);
CREATE TABLE services(job_id TEXT PRIMARY KEY, job_name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE instances(job_id TEXT NOT NULL REFERENCES services(job_id) ON DELETE CASCADE,
  number INTEGER NOT NULL, node_id TEXT NOT NULL, status TEXT NOT NULL, status_detail TEXT NOT NULL,
  publicip TEXT NOT NULL, updated_ms INTEGER NOT NULL,
  PRIMARY KEY(job_id, number)) WITHOUT ROWID;
)sql",
    R"sql(
ALTER TABLE nodes ADD COLUMN subnet TEXT NOT NULL DEFAULT '';
)sql",
    R"sql(
ALTER TABLE instances ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN last_exit TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN restart_at_ms INTEGER NOT NULL DEFAULT 0;
)sql",
};

#define PREPARE(var, sql)                     \
  auto var##_r = db_->Prepare(sql);           \
  if (!var##_r.ok()) return var##_r.status(); \
  Stmt& var = **var##_r

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  Result<std::optional<std::string>> GetMeta(const std::string& key) override {
    PREPARE(s, "SELECT value FROM meta WHERE key = ?");
    s.Bind(1, key);
    if (s.Step()) return std::optional<std::string>(s.Text(0));
    if (!s.status().ok()) return s.status();
    return std::optional<std::string>();
  }

  Status SetMeta(const std::string& key, const std::string& value) override {
    PREPARE(s, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    return s.Bind(1, key).Bind(2, value).Run();
  }

  Status PutNode(const NodeRecord& n) override {
    PREPARE(s, "INSERT OR REPLACE INTO nodes(id, name, info, registered_ms, subnet) VALUES(?, ?, ?, ?, ?)");
    return s.Bind(1, n.id).Bind(2, n.name).Bind(3, n.info.dump()).Bind(4, n.registered_ms).Bind(5, n.subnet).Run();
  }

  Result<std::vector<NodeRecord>> ListNodes() override {
    PREPARE(s, "SELECT id, name, info, registered_ms, subnet FROM nodes ORDER BY name");
    std::vector<NodeRecord> out;
    while (s.Step()) {
      json info = json::parse(s.Text(2), nullptr, false);
      out.push_back({s.Text(0), s.Text(1), info.is_object() ? info : json::object(), s.Int(3), s.Text(4)});
    }
    if (!s.status().ok()) return s.status();
    return out;
  }

  Status PutService(const ServiceDoc& d) override {
    // An upsert, not INSERT OR REPLACE: REPLACE deletes the old row, and ON DELETE CASCADE with it
    // every instance stored under the service.
    PREPARE(s, "INSERT INTO services(job_id, job_name, doc) VALUES(?, ?, ?) "
               "ON CONFLICT(job_id) DO UPDATE SET job_name = excluded.job_name, doc = excluded.doc");
    return s.Bind(1, d.job_id).Bind(2, d.job_name).Bind(3, d.doc_text).Run();
  }

  Result<std::optional<ServiceDoc>> GetService(const std::string& job_id) override {
    PREPARE(s, "SELECT job_id, job_name, doc FROM services WHERE job_id = ?");
    s.Bind(1, job_id);
    if (s.Step()) return std::optional<ServiceDoc>(ServiceDoc{s.Text(0), s.Text(1), s.Text(2)});
    if (!s.status().ok()) return s.status();
    return std::optional<ServiceDoc>();
  }

  Result<std::vector<ServiceDoc>> ListServices() override {
    PREPARE(s, "SELECT job_id, job_name FROM services");
    std::vector<ServiceDoc> out;
    while (s.Step()) out.push_back({s.Text(0), s.Text(1), ""});
    if (!s.status().ok()) return s.status();
    return out;
  }

  Status PutInstances(const std::vector<InstanceRow>& rows) override {
    if (rows.empty()) return Status::Ok();
    Tx tx(*db_);
    OAK_RETURN_IF_ERROR(tx.status());
    for (const auto& r : rows) {
      // An upsert, not INSERT OR REPLACE: an existing row is updated in place, without the delete,
      // the second insert and its foreign-key lookup of the service.
      PREPARE(s, "INSERT INTO instances(job_id, number, node_id, status, status_detail, publicip, "
                 "updated_ms, restarts, last_exit, restart_at_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                 "ON CONFLICT(job_id, number) DO UPDATE SET node_id=excluded.node_id, status=excluded.status, "
                 "status_detail=excluded.status_detail, publicip=excluded.publicip, updated_ms=excluded.updated_ms, "
                 "restarts=excluded.restarts, last_exit=excluded.last_exit, restart_at_ms=excluded.restart_at_ms");
      OAK_RETURN_IF_ERROR(s.Bind(1, r.job_id).Bind(2, r.number).Bind(3, r.node_id).Bind(4, r.status)
                              .Bind(5, r.status_detail).Bind(6, r.publicip).Bind(7, r.updated_ms)
                              .Bind(8, r.restarts).Bind(9, r.last_exit).Bind(10, r.restart_at_ms).Run());
    }
    return tx.Commit();
  }

  Status DeleteInstances(const std::string& job_id, const std::vector<int64_t>& numbers) override {
    Tx tx(*db_);
    OAK_RETURN_IF_ERROR(tx.status());
    for (int64_t n : numbers) {
      PREPARE(s, "DELETE FROM instances WHERE job_id = ? AND number = ?");
      OAK_RETURN_IF_ERROR(s.Bind(1, job_id).Bind(2, n).Run());
    }
    {
      PREPARE(s, "DELETE FROM services WHERE job_id = ?1 AND NOT EXISTS (SELECT 1 FROM instances WHERE job_id = ?1)");
      OAK_RETURN_IF_ERROR(s.Bind(1, job_id).Run());
    }
    return tx.Commit();
  }

  Result<std::vector<InstanceRow>> ListInstances() override {
    PREPARE(s, "SELECT job_id, number, node_id, status, status_detail, publicip, updated_ms, restarts, last_exit, "
               "restart_at_ms FROM instances");
    std::vector<InstanceRow> out;
    while (s.Step())
      out.push_back({s.Text(0), s.Int(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5), s.Int(6), s.Int(7), s.Text(8),
                     s.Int(9)});
    if (!s.status().ok()) return s.status();
    return out;
  }

 private:
  std::unique_ptr<Db> db_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  auto db = Db::Open(path);
  if (!db.ok()) return db.status();
  OAK_RETURN_IF_ERROR((*db)->Migrate(kMigrations));
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(*db)));
}

}  // namespace oak::cluster
