#include "common/sqlite.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "support/process.h"

namespace oak {
namespace {

TEST(SqliteTest, MigratesOnceAndRefusesNewerSchemas) {
  testing::TempDir dir("sqlite");
  std::string path = dir / "t.db";
  std::vector<std::string> v1 = {"CREATE TABLE a(x INTEGER);"};
  {
    auto db = Db::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Migrate(v1).ok());
    ASSERT_TRUE((*db)->Migrate(v1).ok());  // already applied: no second CREATE
  }
  const std::vector<std::string> v2 = {v1[0], "ALTER TABLE a ADD COLUMN y TEXT;"};
  {
    auto db = Db::Open(path);
    ASSERT_TRUE((*db)->Migrate(v2).ok());
    auto st = (*db)->Prepare("INSERT INTO a(x, y) VALUES(?, ?)");
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE((*st)->Bind(1, int64_t{1}).Bind(2, "y").Run().ok());
  }
  auto db = Db::Open(path);
  Status s = (*db)->Migrate(v1);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("newer"), std::string::npos);
}

TEST(SqliteTest, KeepsNoProcessWideMemoryStatistics) {
  testing::TempDir dir("sqlite-memstat");
  auto db = Db::Open(dir / "t.db");
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Exec("CREATE TABLE a(x TEXT); INSERT INTO a VALUES(printf('%.*c', 4000, 'x'));").ok());
  // With the statistics on, SQLite counts every byte it holds (the page cache alone is kilobytes).
  EXPECT_EQ(sqlite3_memory_used(), 0);
}

TEST(SqliteTest, TransactionRollsBackUnlessCommitted) {
  testing::TempDir dir("sqlite");
  auto db = Db::Open(dir / "t.db");
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t(k TEXT PRIMARY KEY)").ok());
  {
    Tx tx(**db);
    ASSERT_TRUE(tx.status().ok());
    ASSERT_TRUE((*(*db)->Prepare("INSERT INTO t VALUES('a')"))->Run().ok());
  }  // no commit
  {
    Tx tx(**db);
    ASSERT_TRUE((*(*db)->Prepare("INSERT INTO t VALUES('b')"))->Run().ok());
    ASSERT_TRUE(tx.Commit().ok());
  }
  auto st = (*db)->Prepare("SELECT group_concat(k) FROM t");
  ASSERT_TRUE((*st)->Step());
  EXPECT_EQ((*st)->Text(0), "b");
}

TEST(SqliteTest, ConstraintViolationIsConflict) {
  testing::TempDir dir("sqlite");
  auto db = Db::Open(dir / "t.db");
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t(k TEXT PRIMARY KEY)").ok());
  ASSERT_TRUE((*(*db)->Prepare("INSERT INTO t VALUES('a')"))->Run().ok());
  Status s = (*(*db)->Prepare("INSERT INTO t VALUES('a')"))->Run();
  EXPECT_EQ(s.code(), Code::kConflict);
  // The failure left no open transaction behind.
  EXPECT_TRUE((*(*db)->Prepare("INSERT INTO t VALUES('b')"))->Run().ok());
}

TEST(SqliteTest, BindingKeepsHostileTextAsData) {
  testing::TempDir dir("sqlite");
  auto db = Db::Open(dir / "t.db");
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t(k TEXT)").ok());
  std::string hostile = "x'); DROP TABLE t;--";
  ASSERT_TRUE((*(*db)->Prepare("INSERT INTO t VALUES(?)"))->Bind(1, hostile).Run().ok());
  auto st = (*db)->Prepare("SELECT k FROM t");
  ASSERT_TRUE((*st)->Step());
  EXPECT_EQ((*st)->Text(0), hostile);
}

}  // namespace
}  // namespace oak
