#include "cluster/instance_key.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

namespace oak::cluster {
namespace {

TEST(InstanceKeyTest, IdCompareIsATotalOrderThatTellsEveryDifference) {
  // Ids of one process share their head; lengths and heads that are not whole words count too.
  std::vector<std::string> ids = {"6b105a7db605cd90c4862c54", "6b105a7db605cd90c4862c55", "7b105a7db605cd90c4862c54",
                                  "6b105a7db605cd91c4862c54", "short", "shoru", "", "a.b.c.d", "a.b.c.e", "b.b.c.d",
                                  std::string("x\0y", 3), std::string("x\0z", 3)};
  for (const auto& a : ids) {
    EXPECT_EQ(IdCompare(a, a), 0) << a;
    for (const auto& b : ids) {
      if (&a == &b) continue;
      EXPECT_NE(IdCompare(a, b), 0) << a << " vs " << b;
      EXPECT_EQ(IdCompare(a, b) < 0, IdCompare(b, a) > 0) << a << " vs " << b;
      for (const auto& c : ids) {
        if (IdCompare(a, b) < 0 && IdCompare(b, c) < 0) {
          EXPECT_LT(IdCompare(a, c), 0) << a << " " << b << " " << c;
        }
      }
    }
  }
}

TEST(InstanceKeyTest, AServicesInstancesStayTogetherAndInOrder) {
  std::vector<std::string> services = {"6b105a7db605cd90c4862c54", "6b105a7db605cd90c4862c55", "6b105a7db605cd90c4862d54"};
  std::vector<InstanceKey> keys;
  for (const auto& s : services)
    for (int64_t n : {3, 0, 10, 2}) keys.emplace_back(s, n);
  std::shuffle(keys.begin(), keys.end(), std::mt19937(7));
  InstanceSet set(keys.begin(), keys.end());
  ASSERT_EQ(set.size(), keys.size());
  std::string current;
  std::set<std::string> seen;
  int64_t last = -1;
  for (const auto& [job, n] : set) {
    if (job != current) {
      EXPECT_TRUE(seen.insert(job).second) << job << " appears in two runs";
      current = job;
      last = -1;
    }
    EXPECT_GT(n, last);
    last = n;
  }
  // A range over one service, as Undeploy takes it.
  auto lo = set.lower_bound({services[1], INT64_MIN});
  std::vector<int64_t> numbers;
  for (auto it = lo; it != set.end() && it->first == services[1]; ++it) numbers.push_back(it->second);
  EXPECT_EQ(numbers, (std::vector<int64_t>{0, 2, 3, 10}));
}

}  // namespace
}  // namespace oak::cluster
