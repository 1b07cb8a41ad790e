// firstfit: the first candidate in the caller's order that passes every filter; the caller's order
// is the policy (e.g. preference order), and the scan stops early.
#include "scheduler/policy.h"

namespace oak::scheduler::internal {

int PickFirstFit(const Prepared& p, std::span<const Candidate> candidates) {
  const int n = static_cast<int>(candidates.size());
  for (int i = 0; i < n; ++i) {
    if (Passes(p, candidates[i])) return i;
  }
  return -1;
}

}  // namespace oak::scheduler::internal
