// The policy interface: a policy is a Pick function returning the index of its choice among the
// candidates that pass every filter, or -1. Each policy lives in its own policy_<name>.cc and
// instantiates SelectBest with its own ordering, so filters and comparison inline into one loop.
#pragma once

#include <cstdint>
#include <span>

#include "scheduler/filters.h"
#include "scheduler/scheduler.h"

namespace oak::scheduler::internal {

int PickSpread(const Prepared& p, std::span<const Candidate> candidates);
int PickBinpack(const Prepared& p, std::span<const Candidate> candidates);
int PickFirstFit(const Prepared& p, std::span<const Candidate> candidates);

// Share of one resource left after placing the request (0..1 for a candidate that fits). Without a
// known total the candidate's reported load stands in, so all candidates share one 0..1 scale.
inline double LeftShare(int64_t free, int64_t need, int64_t total, double used_percent) {
  if (total > 0) return static_cast<double>(free - need) / static_cast<double>(total);
  return (100.0 - used_percent) / 100.0;
}

// Memory and vcpus weigh equally; the other resources only filter. With both totals known (the
// usual case) the two shares go over one common denominator: one division instead of two, and
// mathematically equal scores come out bit-equal, so ties are real ties.
inline double HeadroomScore(const Resources& need, const Candidate& c) {
  const int64_t tm = c.total.memory_mb;
  const int64_t tv = c.total.vcpus;
  if (tm > 0 && tv > 0) [[likely]] {
    const double m = static_cast<double>(c.free.memory_mb - need.memory_mb);
    const double v = static_cast<double>(c.free.vcpus - need.vcpus);
    return (m * static_cast<double>(tv) + v * static_cast<double>(tm)) /
           (static_cast<double>(tm) * static_cast<double>(tv));
  }
  return LeftShare(c.free.memory_mb, need.memory_mb, tm, c.memory_percent) +
         LeftShare(c.free.vcpus, need.vcpus, tv, c.cpu_percent);
}

// Order must provide `Key KeyOf(const Candidate&) const` and `bool Better(const Key& a, const Key& b)
// const` (strictly better; ties keep the earlier candidate, so lower index wins).
// The key is computed for every candidate, but the string and geo checks run only for candidates
// that fit and beat the best so far: a candidate that cannot beat a qualified one cannot be chosen,
// so the result equals filtering first, and on a shuffled fleet few candidates reach those checks.
template <typename Order>
int SelectBest(const Prepared& p, std::span<const Candidate> candidates, const Order& order) {
  const Resources need = p.req->need;
  int best = -1;
  typename Order::Key best_key{};
  const int n = static_cast<int>(candidates.size());
  for (int i = 0; i < n; ++i) {
    const Candidate& c = candidates[i];
    const auto key = order.KeyOf(c);
    const bool improves = best < 0 || order.Better(key, best_key);
    if (!(CheapPass(need, c) & improves)) continue;
    if (!Qualifies(p, c)) continue;
    best = i;
    best_key = key;
  }
  return best;
}

}  // namespace oak::scheduler::internal
