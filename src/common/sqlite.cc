#include "common/sqlite.h"

#include <sqlite3.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace oak {

namespace {

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Why `dir` takes no writes, for an I/O error SQLite does not explain (its errno may be gone, and
// a file system the kernel turned read-only after an error need not say so in statvfs): the errno
// of an unnamed temporary file's creation and one-byte write there, or 0 when that works.
int WriteProbe(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) == 0 && (st.f_flag & ST_RDONLY) != 0) return EROFS;
  int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return errno == EOPNOTSUPP || errno == EISDIR ? 0 : errno;
  int err = ::write(fd, "x", 1) == 1 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

Status SqliteStatus(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + sqlite3_errmsg(db);
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  std::string path = file && *file ? file : "";
  // A full, read-only or failing file system is one condition for callers, however SQLite
  // names it; the OS error behind an I/O error tells which.
  int sys = db ? sqlite3_system_errno(db) : 0;
  int primary = rc & 0xff;
  if (primary == SQLITE_CONSTRAINT) return Status::Conflict(msg);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Status::Unavailable(msg);
  if (primary != SQLITE_FULL && primary != SQLITE_READONLY && primary != SQLITE_IOERR && primary != SQLITE_CANTOPEN)
    return Status::Internal(msg);
  if ((primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN) && sys != ENOSPC && sys != EDQUOT &&
      sys != EROFS && !path.empty())
    if (int probed = WriteProbe(DirOf(path)); probed != 0) sys = probed;
  const char* kind = nullptr;
  if (primary == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT) {
    kind = "storage full";
  } else if (primary == SQLITE_READONLY || sys == EROFS) {
    kind = "data directory is read-only";
  } else if (primary == SQLITE_IOERR) {
    kind = "storage I/O error";
  }
  if (!kind) return Status::Internal(msg);
  std::string text = std::string(kind) + ": cannot write " + (path.empty() ? std::string("the database") : path) +
                     ": " + sqlite3_errmsg(db);
  if (sys != 0 && primary != SQLITE_FULL) text += " (" + std::string(std::strerror(sys)) + ")";
  return InDataDir(Status::Storage(std::move(text)), path.empty() ? "" : DirOf(path));
}

Stmt::~Stmt() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

Stmt& Stmt::Bind(int idx, std::string_view v) {
  sqlite3_bind_text(s_, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::Bind(int idx, int64_t v) {
  sqlite3_bind_int64(s_, idx, v);
  return *this;
}
Stmt& Stmt::BindNull(int idx) {
  sqlite3_bind_null(s_, idx);
  return *this;
}

bool Stmt::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status_ = SqliteStatus(sqlite3_db_handle(s_), rc, "query");
  return false;
}

Status Stmt::Run() {
  while (Step()) {
  }
  return status_;
}

std::string Stmt::Text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
}
int64_t Stmt::Int(int col) const { return sqlite3_column_int64(s_, col); }
bool Stmt::IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

Db::~Db() {
  for (auto& [sql, s] : cache_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path) {
  // Before SQLite initializes (the first open does): no process-wide memory statistics. Nothing
  // here reads them, and keeping them takes a global mutex on every allocation SQLite makes.
  static std::once_flag configured;
  std::call_once(configured, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : "out of memory";
    Status s = raw ? SqliteStatus(raw, rc, "open") : Status::Internal("");
    sqlite3_close(raw);
    if (s.code() == Code::kStorage) return s;
    return Status::Internal("cannot open database " + path + ": " + msg);
  }
  std::unique_ptr<Db> db(new Db(raw));
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_commit_hook(
      raw,
      [](void* self) {
        ++static_cast<Db*>(self)->commits_;
        return 0;  // 0: let the commit proceed
      },
      db.get());
  // WAL with synchronous=NORMAL: a committed transaction survives a crash of the process (the WAL
  // is in the OS's hands at commit); FULL would add an fsync per commit for power-loss safety.
  OAK_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"));
  return db;
}

Status Db::Error(std::string_view what) const { return SqliteStatus(db_, sqlite3_errcode(db_), what); }

Result<std::unique_ptr<Stmt>> Db::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s,
                                nullptr);
    if (rc != SQLITE_OK) return SqliteStatus(db_, rc, "prepare");
    it = cache_.emplace(std::string(sql), s).first;
  }
  return std::make_unique<Stmt>(it->second);
}

Status Db::Exec(std::string_view sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    Status s = SqliteStatus(db_, rc, "exec");
    if (s.code() == Code::kStorage) return s;
    return Status(s.code(), "exec: " + msg);
  }
  return Status::Ok();
}

Status Db::Migrate(const std::vector<std::string>& migrations) {
  int64_t version = 0;
  {
    auto st = Prepare("PRAGMA user_version");
    if (!st.ok()) return st.status();
    if ((*st)->Step()) version = (*st)->Int(0);
  }
  if (version > static_cast<int64_t>(migrations.size())) {
    return Status::Internal("database schema version " + std::to_string(version) +
                            " is newer than this binary knows (" + std::to_string(migrations.size()) + ")");
  }
  for (size_t i = static_cast<size_t>(version); i < migrations.size(); ++i) {
    Tx tx(*this);
    OAK_RETURN_IF_ERROR(tx.status());
    OAK_RETURN_IF_ERROR(Exec(migrations[i]));
    OAK_RETURN_IF_ERROR(Exec("PRAGMA user_version=" + std::to_string(i + 1)));
    OAK_RETURN_IF_ERROR(tx.Commit());
  }
  return Status::Ok();
}

Status Db::Begin() {
  auto st = Prepare("BEGIN IMMEDIATE");
  if (!st.ok()) return st.status();
  return (*st)->Run();
}

Status Db::Commit() {
  auto st = Prepare("COMMIT");
  if (!st.ok()) return st.status();
  return (*st)->Run();
}

void Db::Rollback() {
  if (sqlite3_get_autocommit(db_)) return;
  auto st = Prepare("ROLLBACK");
  if (st.ok()) (void)(*st)->Run();
}

int64_t Db::Changes() const { return sqlite3_changes64(db_); }

bool Db::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

}  // namespace oak
