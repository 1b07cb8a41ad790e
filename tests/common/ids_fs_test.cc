#include <sys/stat.h>

#include <gtest/gtest.h>

#include <set>

#include "common/fs.h"
#include "common/ids.h"
#include "support/process.h"

namespace oak {
namespace {

TEST(IdsTest, ObjectIdsAre24HexAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewObjectId();
    EXPECT_TRUE(IsObjectId(id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(IsObjectId("xyz"));
  EXPECT_FALSE(IsObjectId("ABCDEF0123456789abcdef01"));  // upper case is not what we emit
  EXPECT_EQ(RandomHex(16).size(), 32u);
}

TEST(FsTest, AtomicWriteReplacesContentWithMode) {
  testing::TempDir dir("fs");
  std::string path = dir / "secret";
  ASSERT_TRUE(WriteFileAtomic(path, "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(path, "two", 0600).ok());
  EXPECT_EQ(*ReadFile(path), "two");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(ReadFile(dir / "missing").ok());
  EXPECT_FALSE(WriteFileAtomic(dir / "no/such/dir/file", "x").ok());
}

TEST(FsTest, EnsureDirCreatesNestedPrivateDirectories) {
  testing::TempDir dir("fs");
  std::string nested = dir / "a/b/c";
  ASSERT_TRUE(EnsureDir(nested, 0700).ok());
  struct stat st {};
  ASSERT_EQ(::stat(nested.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

}  // namespace
}  // namespace oak
