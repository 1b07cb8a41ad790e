// binpack: the candidate left with the least headroom that still fits, so whole candidates stay
// free for large requests (and can be powered down); ties go to the earlier candidate.
#include "scheduler/policy.h"

namespace oak::scheduler::internal {
namespace {

struct BinpackOrder {
  Resources need;
  using Key = double;
  Key KeyOf(const Candidate& c) const { return HeadroomScore(need, c); }
  bool Better(Key a, Key b) const { return a < b; }
};

}  // namespace

int PickBinpack(const Prepared& p, std::span<const Candidate> candidates) {
  return SelectBest(p, candidates, BinpackOrder{p.req->need});
}

}  // namespace oak::scheduler::internal
