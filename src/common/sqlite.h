// A thin RAII layer over the SQLite C API: a connection with cached prepared statements and
// transactions. One Db belongs to one thread (the process's event loop).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace oak {

// Maps a SQLite result code to a Status. SQLITE_FULL, SQLITE_READONLY and SQLITE_IOERR (and a
// SQLITE_CANTOPEN caused by ENOSPC or EROFS) are kStorage: "storage full: ...", "data directory
// is read-only: ..." or "storage I/O error: ...", naming the database file and its directory.
Status SqliteStatus(sqlite3* db, int rc, std::string_view what);

class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(const Stmt&) = delete;
  ~Stmt();  // resets and clears bindings so the cached statement can be reused

  Stmt& Bind(int idx, std::string_view v);
  Stmt& Bind(int idx, int64_t v);
  Stmt& BindNull(int idx);
  Stmt& BindOpt(int idx, std::string_view v) { return v.empty() ? BindNull(idx) : Bind(idx, v); }

  // Advances; answers true while a row is available. Errors are kept and reported by status().
  bool Step();
  // Runs a statement that returns no rows.
  Status Run();
  const Status& status() const { return status_; }

  std::string Text(int col) const;
  int64_t Int(int col) const;
  bool IsNull(int col) const;

 private:
  sqlite3_stmt* s_;
  Status status_;
};

class Db {
 public:
  ~Db();
  // Opens (creating if needed) in WAL mode with foreign keys on.
  static Result<std::unique_ptr<Db>> Open(const std::string& path);

  // A cached prepared statement. Invariant: at most one live Stmt per SQL text at a time.
  Result<std::unique_ptr<Stmt>> Prepare(std::string_view sql);
  Status Exec(std::string_view sql);  // one or more statements, no results

  // Applies `migrations[i]` for every i >= the stored user_version, each in its own transaction.
  Status Migrate(const std::vector<std::string>& migrations);

  Status Begin();
  Status Commit();
  void Rollback();
  int64_t Changes() const;
  // True while a transaction is open (SQLite rolls a transaction back by itself on some errors,
  // e.g. a full disk, which callers holding savepoints must notice).
  bool InTransaction() const;
  // Commits on this connection, explicit transactions and single statements alike (counted as
  // they start, so a commit that then fails on I/O counts too).
  uint64_t commits() const { return commits_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  Status Error(std::string_view what) const;

  sqlite3* db_;
  uint64_t commits_ = 0;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

// Rolls back unless Commit() was called and succeeded.
class Tx {
 public:
  explicit Tx(Db& db) : db_(db), status_(db.Begin()) {}
  ~Tx() {
    if (status_.ok() && !done_) db_.Rollback();
  }
  const Status& status() const { return status_; }
  Status Commit() {
    done_ = true;
    Status s = db_.Commit();
    if (!s.ok()) db_.Rollback();
    return s;
  }

 private:
  Db& db_;
  Status status_;
  bool done_ = false;
};

}  // namespace oak
