#include "common/malloc_tuning.h"

#include <gtest/gtest.h>

namespace oak {
namespace {

TEST(MallocTuningTest, AddsTheTcacheCountAndKeepsWhatTheOperatorSet) {
  EXPECT_EQ(WithTcacheTunable(nullptr), "glibc.malloc.tcache_count=256");
  EXPECT_EQ(WithTcacheTunable(""), "glibc.malloc.tcache_count=256");
  EXPECT_EQ(WithTcacheTunable("glibc.malloc.check=3"), "glibc.malloc.check=3:glibc.malloc.tcache_count=256");
  // An operator's own count wins, and the value is left exactly as it was: no exec again.
  EXPECT_EQ(WithTcacheTunable("glibc.malloc.tcache_count=7"), "glibc.malloc.tcache_count=7");
  EXPECT_EQ(WithTcacheTunable("glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0"),
            "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0");
}

}  // namespace
}  // namespace oak
