#include "model/status_names.h"

#include <algorithm>
#include <array>

namespace oak::model {
namespace {

constexpr std::array<std::string_view, 17> kAll = {
    status::kRequested,          status::kClusterScheduled,        status::kNodeScheduled,
    status::kTargetClusterNotFound, status::kTargetClusterNotActive, status::kTargetClusterNoCapacity,
    status::kNoActiveClusterWithCapacity, status::kNoWorkerCapacity, status::kNoQualifiedWorkerFound,
    status::kNoNodeFound,        status::kCreating,                status::kCreated,
    status::kRunning,            status::kFailed,                  status::kDead,
    status::kCompleted,          status::kUndeployed,
};

constexpr std::array<std::string_view, 7> kSchedulingFailures = {
    status::kTargetClusterNotFound,       status::kTargetClusterNotActive, status::kTargetClusterNoCapacity,
    status::kNoActiveClusterWithCapacity, status::kNoWorkerCapacity,       status::kNoQualifiedWorkerFound,
    status::kNoNodeFound,
};

template <std::size_t N>
bool Contains(const std::array<std::string_view, N>& set, std::string_view s) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

}  // namespace

bool IsKnownStatus(std::string_view s) { return Contains(kAll, s); }

bool IsSchedulingFailure(std::string_view s) { return Contains(kSchedulingFailures, s); }

bool IsFinal(std::string_view s) { return s == status::kCompleted || s == status::kUndeployed; }

std::span<const std::string_view> AllStatuses() { return kAll; }

}  // namespace oak::model
