// How the cluster names and orders instances in its maps and sets.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace oak::cluster {

using InstanceKey = std::pair<std::string, int64_t>;  // job_id, instance number

// A total order on strings: by length, then by 8-byte words from the end. Ids made by one root
// or cluster share their leading bytes (time, process) and differ at the end (a counter), so
// this settles most comparisons with one word compared inline where lexicographic order scans
// both ids nearly whole. Not lexicographic: nothing here needs ids sorted as text.
inline int IdCompare(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  size_t n = a.size();
  while (n >= 8) {
    n -= 8;
    uint64_t x = 0, y = 0;
    std::memcpy(&x, a.data() + n, 8);
    std::memcpy(&y, b.data() + n, 8);
    if (x != y) return x < y ? -1 : 1;
  }
  return n == 0 ? 0 : std::memcmp(a.data(), b.data(), n);
}

struct IdLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return IdCompare(a, b) < 0; }
};

// By service (IdCompare), then by number: a service's instances stay together and in order,
// which is what ranges over one service (undeploy, the root link's grouping) need.
struct InstanceKeyLess {
  bool operator()(const InstanceKey& a, const InstanceKey& b) const {
    int c = IdCompare(a.first, b.first);
    return c != 0 ? c < 0 : a.second < b.second;
  }
};

using InstanceSet = std::set<InstanceKey, InstanceKeyLess>;
template <typename V>
using InstanceMap = std::map<InstanceKey, V, InstanceKeyLess>;

}  // namespace oak::cluster
