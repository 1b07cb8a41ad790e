#include "model/status_names.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace oak::model {
namespace {

TEST(StatusNames, SpellingMatchesOakestra) {
  EXPECT_EQ(status::kRequested, "REQUESTED");
  EXPECT_EQ(status::kClusterScheduled, "CLUSTER_SCHEDULED");
  EXPECT_EQ(status::kNodeScheduled, "NODE_SCHEDULED");
  EXPECT_EQ(status::kTargetClusterNotFound, "TargetClusterNotFound");
  EXPECT_EQ(status::kTargetClusterNotActive, "TargetClusterNotActive");
  EXPECT_EQ(status::kTargetClusterNoCapacity, "TargetClusterNoCapacity");
  EXPECT_EQ(status::kNoActiveClusterWithCapacity, "NoActiveClusterWithCapacity");
  EXPECT_EQ(status::kNoWorkerCapacity, "NO_WORKER_CAPACITY");
  EXPECT_EQ(status::kNoQualifiedWorkerFound, "NO_QUALIFIED_WORKER_FOUND");
  EXPECT_EQ(status::kNoNodeFound, "NO_NODE_FOUND");
  EXPECT_EQ(status::kCreating, "CREATING");
  EXPECT_EQ(status::kCreated, "CREATED");
  EXPECT_EQ(status::kRunning, "RUNNING");
  EXPECT_EQ(status::kFailed, "FAILED");
  EXPECT_EQ(status::kDead, "DEAD");
  EXPECT_EQ(status::kCompleted, "COMPLETED");
  EXPECT_EQ(status::kUndeployed, "UNDEPLOYED");
}

TEST(StatusNames, AllStatusesListsEachOnceInSpecOrder) {
  auto all = AllStatuses();
  ASSERT_EQ(all.size(), 17u);
  EXPECT_EQ(all.front(), status::kRequested);
  EXPECT_EQ(all.back(), status::kUndeployed);
  std::set<std::string_view> unique(all.begin(), all.end());
  EXPECT_EQ(unique.size(), all.size());
  for (std::string_view s : all) EXPECT_TRUE(IsKnownStatus(s)) << s;
}

TEST(StatusNames, UnknownStatusesAreNotKnown) {
  EXPECT_FALSE(IsKnownStatus(""));
  EXPECT_FALSE(IsKnownStatus("running"));
  EXPECT_FALSE(IsKnownStatus("RUNNING "));
  EXPECT_FALSE(IsKnownStatus("NO_WORKER_CAPACITY\n"));
  EXPECT_FALSE(IsKnownStatus("targetclusternotfound"));
  EXPECT_FALSE(IsKnownStatus(std::string_view("RUNNING\0", 8)));
}

TEST(StatusNames, SchedulingFailuresAreExactlyTheSeven) {
  const std::set<std::string_view> failures = {
      status::kTargetClusterNotFound,       status::kTargetClusterNotActive, status::kTargetClusterNoCapacity,
      status::kNoActiveClusterWithCapacity, status::kNoWorkerCapacity,       status::kNoQualifiedWorkerFound,
      status::kNoNodeFound};
  for (std::string_view s : AllStatuses()) {
    EXPECT_EQ(IsSchedulingFailure(s), failures.count(s) == 1) << s;
  }
  EXPECT_FALSE(IsSchedulingFailure("no_worker_capacity"));
  EXPECT_FALSE(IsSchedulingFailure(""));
}

TEST(StatusNames, OnlyCompletedAndUndeployedAreFinal) {
  for (std::string_view s : AllStatuses()) {
    EXPECT_EQ(IsFinal(s), s == status::kCompleted || s == status::kUndeployed) << s;
  }
  EXPECT_FALSE(IsFinal("completed"));
  EXPECT_FALSE(IsFinal(""));
}

TEST(StatusNames, UsableAtCompileTime) {
  static_assert(status::kRunning == "RUNNING");
  static_assert(status::kNoWorkerCapacity.size() == 18);
}

}  // namespace
}  // namespace oak::model
