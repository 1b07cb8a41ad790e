// spread: the candidate left with the most headroom after placement (Oakestra's default), so load
// evens out across the fleet; ties go to the lower cpu load, then to the earlier candidate.
#include "scheduler/policy.h"

namespace oak::scheduler::internal {
namespace {

struct SpreadOrder {
  Resources need;  // a copy: the loop then keeps it in registers across the out-of-line checks
  struct Key {
    double score = 0;
    double cpu_percent = 0;
  };
  Key KeyOf(const Candidate& c) const { return {HeadroomScore(need, c), c.cpu_percent}; }
  bool Better(const Key& a, const Key& b) const {
    if (a.score != b.score) return a.score > b.score;
    return a.cpu_percent < b.cpu_percent;
  }
};

}  // namespace

int PickSpread(const Prepared& p, std::span<const Candidate> candidates) {
  return SelectBest(p, candidates, SpreadOrder{p.req->need});
}

}  // namespace oak::scheduler::internal
