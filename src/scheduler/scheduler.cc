#include "scheduler/scheduler.h"

#include <string>

#include "scheduler/explain.h"
#include "scheduler/filters.h"
#include "scheduler/policy.h"

namespace oak::scheduler {

Decision Schedule(Level level, const Request& req, std::span<const Candidate> candidates, Policy policy) {
  const internal::Prepared p = internal::Prepare(level, req);
  Decision d;
  if (!p.pin_conflict) {
    switch (policy) {
      case Policy::kSpread: d.index = internal::PickSpread(p, candidates); break;
      case Policy::kBinpack: d.index = internal::PickBinpack(p, candidates); break;
      case Policy::kFirstFit: d.index = internal::PickFirstFit(p, candidates); break;
    }
  }
  if (d.index < 0) internal::Explain(p, candidates, &d);
  return d;
}

Result<Policy> ParsePolicy(std::string_view name) {
  if (name == "spread") return Policy::kSpread;
  if (name == "binpack") return Policy::kBinpack;
  if (name == "firstfit") return Policy::kFirstFit;
  return Status::Invalid("unknown scheduling policy '" + std::string(name) +
                         "': expected spread, binpack or firstfit");
}

std::string_view PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kSpread: return "spread";
    case Policy::kBinpack: return "binpack";
    case Policy::kFirstFit: return "firstfit";
  }
  return "unknown";
}

}  // namespace oak::scheduler
