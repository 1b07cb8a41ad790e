// Instance status names (SPEC §3). The strings are Oakestra's, kept byte-for-byte so that its
// dashboard and CLI recognise them; note the mixed spelling styles are intentional.
#pragma once

#include <span>
#include <string_view>

namespace oak::model {

namespace status {

// Scheduling progress.
inline constexpr std::string_view kRequested = "REQUESTED";
inline constexpr std::string_view kClusterScheduled = "CLUSTER_SCHEDULED";
inline constexpr std::string_view kNodeScheduled = "NODE_SCHEDULED";

// Scheduling failures.
inline constexpr std::string_view kTargetClusterNotFound = "TargetClusterNotFound";
inline constexpr std::string_view kTargetClusterNotActive = "TargetClusterNotActive";
inline constexpr std::string_view kTargetClusterNoCapacity = "TargetClusterNoCapacity";
inline constexpr std::string_view kNoActiveClusterWithCapacity = "NoActiveClusterWithCapacity";
inline constexpr std::string_view kNoWorkerCapacity = "NO_WORKER_CAPACITY";
inline constexpr std::string_view kNoQualifiedWorkerFound = "NO_QUALIFIED_WORKER_FOUND";
inline constexpr std::string_view kNoNodeFound = "NO_NODE_FOUND";

// Execution.
inline constexpr std::string_view kCreating = "CREATING";
inline constexpr std::string_view kCreated = "CREATED";
inline constexpr std::string_view kRunning = "RUNNING";
inline constexpr std::string_view kFailed = "FAILED";
inline constexpr std::string_view kDead = "DEAD";
inline constexpr std::string_view kCompleted = "COMPLETED";
inline constexpr std::string_view kUndeployed = "UNDEPLOYED";

}  // namespace status

// Comparisons are exact and case-sensitive: "running" is not a status.
bool IsKnownStatus(std::string_view s);
bool IsSchedulingFailure(std::string_view s);
// An instance in a final status is never moved to another one (FAILED and DEAD may be rescheduled).
bool IsFinal(std::string_view s);
// Every status once, in the order of SPEC §3.
std::span<const std::string_view> AllStatuses();

}  // namespace oak::model
