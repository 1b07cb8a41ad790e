// SqliteStore: instances, write scopes and group commit (RunBatch).
#include <exception>

#include "root/sqlite_store.h"
#include "root/sqlite_store_internal.h"

namespace oak::root {

using nlohmann::json;
using internal::Dump;
using internal::kInstanceCols;
using internal::ReadInstance;

void SqliteStore::RunBatch(std::span<const BatchOp> ops, std::vector<Status>& results) {
  results.assign(ops.size(), Status::Ok());
  Scope tx(*this);
  if (!tx.status().ok()) {
    results.assign(ops.size(), tx.status());
    return;
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    Scope op(*this);
    Status s = op.status();
    if (s.ok()) {
      try {
        s = ops[i]();
      } catch (const std::exception& e) {
        s = Status::Internal(std::string("store write failed: ") + e.what());
      }
    }
    if (s.ok()) s = op.Commit();
    results[i] = s;
    // Some errors (a full disk, I/O) make SQLite roll the whole transaction back: what earlier
    // ops wrote is gone, and later statements would run outside any transaction.
    if (!s.ok() && !db_->InTransaction()) {
      results.assign(ops.size(), s);
      return;
    }
  }
  Status c = tx.Commit();
  if (!c.ok()) results.assign(ops.size(), c);
}

Result<InstanceRecord> SqliteStore::CreateInstance(InstanceRecord inst) {
  Scope tx(*this);
  OAK_RETURN_IF_ERROR(tx.status());
  {
    // Taken from the service's starting value the first time; no row: no such service.
    PREPARE(st, "INSERT INTO instance_counters(service_id, next) SELECT id, next_instance + 1 FROM services "
                "WHERE id = ?1 ON CONFLICT(service_id) DO UPDATE SET next = next + 1 RETURNING next - 1");
    st.Bind(1, inst.service_id);
    if (!st.Step()) {
      if (!st.status().ok()) return st.status();
      return Status::NotFound("service '" + inst.service_id + "' not found");
    }
    inst.number = st.Int(0);
    while (st.Step()) {
    }
  }
  {
    PREPARE(st, std::string("INSERT INTO instances(") + kInstanceCols + ") VALUES(?,?,?,?,?,?,?)");
    st.Bind(1, inst.service_id).Bind(2, inst.number).Bind(3, inst.cluster_id).Bind(4, inst.status);
    st.Bind(5, inst.status_detail).Bind(6, inst.updated_ms).Bind(7, Dump(inst.doc));
    OAK_RETURN_IF_ERROR(st.Run());
  }
  OAK_RETURN_IF_ERROR(tx.Commit());
  return inst;
}

Result<InstanceRecord> SqliteStore::GetInstance(const std::string& service_id, int64_t number) {
  PREPARE(st, std::string("SELECT ") + kInstanceCols + " FROM instances WHERE service_id=? AND number=?");
  st.Bind(1, service_id).Bind(2, number);
  if (st.Step()) return ReadInstance(st);
  if (!st.status().ok()) return st.status();
  return Status::NotFound("instance " + std::to_string(number) + " of service '" + service_id + "' not found");
}

Result<std::vector<InstanceRecord>> SqliteStore::ListInstances(const std::string& service_id) {
  PREPARE(st, std::string("SELECT ") + kInstanceCols + " FROM instances WHERE service_id=? ORDER BY number");
  st.Bind(1, service_id);
  std::vector<InstanceRecord> out;
  while (st.Step()) out.push_back(ReadInstance(st));
  if (!st.status().ok()) return st.status();
  return out;
}

Result<std::map<std::string, std::vector<InstanceRecord>>> SqliteStore::ListInstancesOf(
    const std::vector<std::string>& service_ids) {
  std::map<std::string, std::vector<InstanceRecord>> out;
  for (const auto& id : service_ids) {
    auto r = ListInstances(id);
    if (!r.ok()) return r.status();
    if (!r->empty()) out.emplace(id, std::move(*r));
  }
  return out;
}

Result<std::map<std::string, std::vector<InstanceRecord>>> SqliteStore::ListInstancesOfApp(const std::string& app_id) {
  PREPARE(st, app_id.empty()
                  ? std::string("SELECT ") + kInstanceCols + " FROM instances ORDER BY service_id, number"
                  : std::string("SELECT i.service_id, i.number, i.cluster_id, i.status, i.status_detail, i.updated_ms, "
                                "i.doc FROM instances i JOIN services s ON s.id = i.service_id WHERE s.app_id = ?1 "
                                "ORDER BY i.service_id, i.number"));
  if (!app_id.empty()) st.Bind(1, app_id);
  std::map<std::string, std::vector<InstanceRecord>> out;
  while (st.Step()) {
    InstanceRecord i = ReadInstance(st);
    out[i.service_id].push_back(std::move(i));
  }
  if (!st.status().ok()) return st.status();
  return out;
}

Result<std::vector<InstanceRecord>> SqliteStore::ListUnfinishedInstances() {
  PREPARE(st, std::string("SELECT ") + kInstanceCols +
                  " FROM instances WHERE status IN ('REQUESTED', 'CLUSTER_SCHEDULED') ORDER BY updated_ms");
  std::vector<InstanceRecord> out;
  while (st.Step()) out.push_back(ReadInstance(st));
  if (!st.status().ok()) return st.status();
  return out;
}

Result<std::vector<InstanceRecord>> SqliteStore::ListInstancesOnCluster(const std::string& cluster_id) {
  PREPARE(st, std::string("SELECT ") + kInstanceCols + " FROM instances WHERE cluster_id = ?1 ORDER BY service_id, number");
  st.Bind(1, cluster_id);
  std::vector<InstanceRecord> out;
  while (st.Step()) out.push_back(ReadInstance(st));
  if (!st.status().ok()) return st.status();
  return out;
}

Status SqliteStore::UpdateInstance(const InstanceRecord& i) {
  PREPARE(st, "UPDATE instances SET cluster_id=?, status=?, status_detail=?, updated_ms=?, doc=? "
              "WHERE service_id=? AND number=?");
  st.Bind(1, i.cluster_id).Bind(2, i.status).Bind(3, i.status_detail).Bind(4, i.updated_ms).Bind(5, Dump(i.doc));
  st.Bind(6, i.service_id).Bind(7, i.number);
  OAK_RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return Status::NotFound("instance " + std::to_string(i.number) + " not found");
  return Status::Ok();
}

Result<bool> SqliteStore::TransitionInstance(const InstanceTransition& t) {
  PREPARE(st, "UPDATE instances SET status=?1, status_detail=?2, "
              "cluster_id = CASE WHEN ?3 = '' THEN cluster_id ELSE ?3 END, "
              "doc = CASE WHEN ?4 = '' THEN doc ELSE json_set(doc, '$.cluster_location', ?4) END, updated_ms=?5 "
              "WHERE service_id=?6 AND number=?7 AND status=?8 AND (?9 = '' OR cluster_id = ?9)");
  st.Bind(1, t.status).Bind(2, t.status_detail).Bind(3, t.cluster_id).Bind(4, t.cluster_location);
  st.Bind(5, t.updated_ms).Bind(6, t.service_id).Bind(7, t.number).Bind(8, t.from_status).Bind(9, t.from_cluster);
  OAK_RETURN_IF_ERROR(st.Run());
  return db_->Changes() > 0;
}

Status SqliteStore::RemoveInstance(const std::string& service_id, int64_t number) {
  PREPARE(st, "DELETE FROM instances WHERE service_id=? AND number=?");
  st.Bind(1, service_id).Bind(2, number);
  return st.Run();
}

Result<std::map<std::string, int64_t>> SqliteStore::CountInstancesByStatus() {
  PREPARE(st, "SELECT status, COUNT(*) FROM instances GROUP BY status");
  std::map<std::string, int64_t> out;
  while (st.Step()) out[st.Text(0)] = st.Int(1);
  if (!st.status().ok()) return st.status();
  return out;
}


}  // namespace oak::root
