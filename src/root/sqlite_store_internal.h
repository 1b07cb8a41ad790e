// Helpers shared by the SqliteStore translation units (not part of the store's interface).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/sqlite.h"
#include "root/sqlite_store.h"

namespace oak::root::internal {

// A stored document; an unreadable one reads as an empty object rather than failing the call.
inline nlohmann::json ParseDoc(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

inline std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

constexpr const char* kInstanceCols = "service_id, number, cluster_id, status, status_detail, updated_ms, doc";
inline InstanceRecord ReadInstance(const Stmt& s) {
  return {s.Text(0), s.Int(1), s.Text(2), s.Text(3), s.Text(4), s.Int(5), ParseDoc(s.Text(6))};
}

}  // namespace oak::root::internal

namespace oak::root {

// A write that spans several statements. The outermost Scope is the transaction (BEGIN
// IMMEDIATE ... COMMIT); Scopes opened inside it are savepoints. So a store method is atomic on
// its own and also composes into RunBatch's transaction, where its failure undoes only itself.
class SqliteStore::Scope {
 public:
  explicit Scope(SqliteStore& s) : s_(s), outer_(s.depth_ == 0) {
    status_ = outer_ ? s_.db_->Begin() : Run("SAVEPOINT w");
    if (status_.ok()) ++s_.depth_;
  }
  ~Scope() {
    if (status_.ok() && !done_) {
      --s_.depth_;
      Undo();
    }
  }
  Scope(const Scope&) = delete;

  const Status& status() const { return status_; }
  Status Commit() {
    done_ = true;
    --s_.depth_;
    Status s = outer_ ? s_.db_->Commit() : Run("RELEASE w");
    if (!s.ok()) Undo();
    return s;
  }

 private:
  Status Run(const char* sql) {
    auto st = s_.db_->Prepare(sql);
    return st.ok() ? (*st)->Run() : st.status();
  }
  void Undo() {
    if (outer_) {
      s_.db_->Rollback();
    } else if (s_.db_->InTransaction()) {
      (void)Run("ROLLBACK TO w");
      (void)Run("RELEASE w");
    }
  }

  SqliteStore& s_;
  const bool outer_;
  Status status_;
  bool done_ = false;
};

}  // namespace oak::root

// Prepares `sql` as `var`, returning the error from the enclosing function if that fails.
#define PREPARE(var, sql)                     \
  auto var##_r = db_->Prepare(sql);           \
  if (!var##_r.ok()) return var##_r.status(); \
  Stmt& var = **var##_r
