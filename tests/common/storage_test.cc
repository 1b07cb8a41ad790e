// A full or read-only data directory: the error mapping, and files and databases on a small tmpfs
// the test mounts (root only; skipped elsewhere).
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/http.h"
#include "common/sqlite.h"
#include "support/small_fs.h"

namespace oak {
namespace {

using testing::SmallFs;

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(StorageErrorTest, ErrnoMapsToOneStorageCode) {
  Status full = ErrnoStatus(ENOSPC, "cannot write /d/x");
  EXPECT_EQ(full.code(), Code::kStorage);
  EXPECT_EQ(full.message().rfind("storage full: cannot write /d/x: ", 0), 0u) << full.message();
  EXPECT_EQ(ErrnoStatus(EDQUOT, "w").code(), Code::kStorage);
  EXPECT_TRUE(Has(ErrnoStatus(EDQUOT, "w").message(), "storage full"));
  Status ro = ErrnoStatus(EROFS, "cannot write /d/x");
  EXPECT_EQ(ro.code(), Code::kStorage);
  EXPECT_EQ(ro.message().rfind("data directory is read-only: ", 0), 0u) << ro.message();
  EXPECT_EQ(ErrnoStatus(EIO, "w").code(), Code::kStorage);
  EXPECT_EQ(ErrnoStatus(EACCES, "w").code(), Code::kInternal);
  EXPECT_EQ(ErrnoStatus(EACCES, "cannot write /d/x").message(), "cannot write /d/x: Permission denied");
  EXPECT_TRUE(IsStorageErrno(ENOSPC) && IsStorageErrno(EROFS) && !IsStorageErrno(ENOENT));
}

TEST(StorageErrorTest, DataDirIsNamedOnce) {
  Status s = InDataDir(Status::Storage("storage full: x"), "/var/lib/oak");
  EXPECT_EQ(s.message(), "storage full: x (data dir /var/lib/oak)");
  EXPECT_EQ(InDataDir(s, "/var/lib/oak").message(), s.message());
  EXPECT_EQ(InDataDir(Status::Internal("y"), "/d").message(), "y");  // only storage errors
}

TEST(StorageErrorTest, HttpAnswersInsufficientStorageWithTheMessage) {
  EXPECT_EQ(HttpCodeFor(Code::kStorage), 507u);
  HttpResponse r = HttpResponse::FromStatus(Status::Storage("storage full: cannot write /d/root.db"));
  EXPECT_EQ(r.status, 507u);
  EXPECT_EQ(nlohmann::json::parse(r.body)["message"], "storage full: cannot write /d/root.db");
  EXPECT_EQ(Status::Storage("m").ToString(), "storage: m");
}

TEST(StorageErrorTest, SqliteCodesMapToStorage) {
  EXPECT_EQ(SqliteStatus(nullptr, 13 /* SQLITE_FULL */, "q").code(), Code::kStorage);
  EXPECT_EQ(SqliteStatus(nullptr, 8 /* SQLITE_READONLY */, "q").code(), Code::kStorage);
  EXPECT_EQ(SqliteStatus(nullptr, 10 /* SQLITE_IOERR */, "q").code(), Code::kStorage);
  EXPECT_EQ(SqliteStatus(nullptr, 19 /* SQLITE_CONSTRAINT */, "q").code(), Code::kConflict);
  EXPECT_TRUE(Has(SqliteStatus(nullptr, 8, "q").message(), "data directory is read-only"));
}

class SmallFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    fs_ = std::make_unique<SmallFs>("storage", 4);
    if (!fs_->ok()) GTEST_SKIP() << fs_->error();
  }
  std::unique_ptr<SmallFs> fs_;
};

TEST_F(SmallFsTest, AtomicWriteOnAFullDiskKeepsTheOldFile) {
  std::string path = *fs_ / "state.json";
  ASSERT_TRUE(WriteFileAtomic(path, "old").ok());
  ASSERT_GT(fs_->Fill(), 0);
  Status s = WriteFileAtomic(path, std::string(64 * 1024, 'n'));
  ASSERT_EQ(s.code(), Code::kStorage) << s.ToString();
  EXPECT_TRUE(Has(s.message(), "storage full: ")) << s.message();
  EXPECT_TRUE(Has(s.message(), path)) << s.message();
  EXPECT_EQ(*ReadFile(path), "old");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  Status dir = EnsureDir(*fs_ / "a/b/c");
  // A directory may still fit in the inode table; if it does not, it is a storage error too.
  if (!dir.ok()) {
    EXPECT_EQ(dir.code(), Code::kStorage) << dir.ToString();
  }
  fs_->Unfill();
  ASSERT_TRUE(WriteFileAtomic(path, "new").ok());
  EXPECT_EQ(*ReadFile(path), "new");
}

TEST_F(SmallFsTest, AtomicWriteOnAReadOnlyFileSystemSaysSo) {
  std::string path = *fs_ / "state.json";
  ASSERT_TRUE(WriteFileAtomic(path, "old").ok());
  ASSERT_TRUE(fs_->RemountReadOnly()) << fs_->error();
  Status s = WriteFileAtomic(path, "new");
  EXPECT_EQ(s.code(), Code::kStorage);
  EXPECT_TRUE(Has(s.message(), "data directory is read-only: ")) << s.message();
  EXPECT_EQ(EnsureDir(*fs_ / "sub").code(), Code::kStorage);
  EXPECT_EQ(*ReadFile(path), "old");
  ASSERT_TRUE(fs_->RemountReadWrite()) << fs_->error();
  EXPECT_TRUE(WriteFileAtomic(path, "new").ok());
}

// Inserts `rows` rows of 2 KiB in one transaction.
Status InsertRows(Db& db, int first, int rows) {
  Tx tx(db);
  OAK_RETURN_IF_ERROR(tx.status());
  for (int i = first; i < first + rows; ++i) {
    auto st = db.Prepare("INSERT INTO t(k, v) VALUES(?, ?)");
    if (!st.ok()) return st.status();
    OAK_RETURN_IF_ERROR((*st)->Bind(1, int64_t{i}).Bind(2, std::string(2048, 'v')).Run());
  }
  return tx.Commit();
}

int64_t CountRows(Db& db) {
  auto st = db.Prepare("SELECT COUNT(*) FROM t");
  if (!st.ok() || !(*st)->Step()) return -1;
  return (*st)->Int(0);
}

void FullDiskRoundTrip(SmallFs& fs, const char* pragmas) {
  std::string path = fs / "t.db";
  auto db = Db::Open(path);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE((*db)->Exec(pragmas).ok());
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)").ok());
  ASSERT_TRUE(InsertRows(**db, 0, 10).ok());
  ASSERT_GT(fs.Fill(), 0);

  // The WAL has to grow for a transaction this size: it cannot, and none of its rows stays.
  Status s = InsertRows(**db, 100, 50);
  ASSERT_EQ(s.code(), Code::kStorage) << s.ToString();
  EXPECT_TRUE(Has(s.message(), "storage full: cannot write " + path)) << s.message();
  EXPECT_TRUE(Has(s.message(), "(data dir " + fs.path() + ")")) << s.message();
  EXPECT_FALSE((*db)->InTransaction());
  EXPECT_EQ(CountRows(**db), 10);  // reads go on, with the old state
  // Still full: still the same clear error, again and again.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(InsertRows(**db, 200 + i * 50, 50).code(), Code::kStorage);
  }
  EXPECT_EQ(CountRows(**db), 10);

  fs.Unfill();
  Status again = InsertRows(**db, 100, 50);
  ASSERT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ(CountRows(**db), 60);
  db->reset();
  auto reopened = Db::Open(path);  // and what was committed is on disk
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(CountRows(**reopened), 60);
}

TEST_F(SmallFsTest, DatabaseOnAFullDiskFailsCleanlyAndRecovers) { FullDiskRoundTrip(*fs_, "SELECT 1"); }

TEST_F(SmallFsTest, ExclusiveDatabaseOnAFullDiskFailsCleanlyAndRecovers) {
  FullDiskRoundTrip(*fs_, "PRAGMA temp_store=MEMORY; PRAGMA locking_mode=EXCLUSIVE");
}

TEST_F(SmallFsTest, DatabaseOnAReadOnlyFileSystemCannotOpenForWriting) {
  std::string path = *fs_ / "t.db";
  {
    auto db = Db::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)").ok());
  }
  ASSERT_TRUE(fs_->RemountReadOnly()) << fs_->error();
  auto db = Db::Open(path);
  if (db.ok()) {
    Status s = InsertRows(**db, 0, 1);
    EXPECT_EQ(s.code(), Code::kStorage) << s.ToString();
    EXPECT_TRUE(Has(s.message(), "read-only")) << s.message();
  } else {
    EXPECT_EQ(db.status().code(), Code::kStorage) << db.status().ToString();
    EXPECT_TRUE(Has(db.status().message(), "read-only")) << db.status().message();
  }
  ASSERT_TRUE(fs_->RemountReadWrite()) << fs_->error();
}

}  // namespace
}  // namespace oak
