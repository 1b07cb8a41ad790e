#pragma once

#include <span>

#include "scheduler/filters.h"
#include "scheduler/scheduler.h"

namespace oak::scheduler::internal {

// Fills status and detail of a failed decision. Only called once no candidate passed.
void Explain(const Prepared& p, std::span<const Candidate> candidates, Decision* d);

}  // namespace oak::scheduler::internal
