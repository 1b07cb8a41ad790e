// The simulated runtime's life cycle on real asio timers of a few milliseconds, pumped on the test
// thread with deadlines.
#include "node/runtime/simulated.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "support/process.h"

namespace oak::node {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class SimulatedRuntimeTest : public ::testing::Test {
 protected:
  void Make(SimulatedOptions o = {}) {
    o.start_delay = o.start_delay.count() ? o.start_delay : 2ms;
    rt_ = std::make_unique<SimulatedRuntime>(io_.get_executor(), o);
    rt_->SetEventHandler([this](const InstanceStatus& s) { events_.push_back(s); });
  }
  static DeploySpec Spec(const std::string& job, int n, bool one_shot = false) {
    DeploySpec d;
    d.key = {job, n};
    d.one_shot = one_shot;
    d.memory_mb = 256;
    d.vcpus = 1;
    return d;
  }
  std::vector<std::string> StatusesOf(const InstanceKey& k) const {
    std::vector<std::string> out;
    for (const auto& e : events_) {
      if (e.key == k) out.push_back(e.status);
    }
    return out;
  }
  bool PumpUntil(const std::function<bool()>& cond) { return oak::testing::PumpUntil(io_, cond, 5s); }
  std::string StatusNow(const InstanceKey& k) const {
    for (const auto& i : rt_->List()) {
      if (i.key == k) return i.status;
    }
    return "";
  }

  asio::io_context io_;
  // Keeps io_ from stopping whenever it runs out of timers between two pumps.
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<SimulatedRuntime> rt_;
  std::vector<InstanceStatus> events_;
};

TEST_F(SimulatedRuntimeTest, DeployGoesCreatingThenRunning) {
  Make();
  InstanceKey k{"app.ns.svc.ns", 0};
  ASSERT_TRUE(rt_->Deploy(Spec(k.job_name, 0)).ok());
  EXPECT_TRUE(events_.empty()) << "events must be posted, not delivered inside Deploy";
  EXPECT_EQ(StatusNow(k), "CREATING");
  ASSERT_TRUE(PumpUntil([&] { return StatusesOf(k).size() == 2; }));
  EXPECT_EQ(StatusesOf(k), (std::vector<std::string>{"CREATING", "RUNNING"}));
  EXPECT_EQ(StatusNow(k), "RUNNING");
  EXPECT_EQ(k.ContainerName(), "app.ns.svc.ns.instance.0");
}

TEST_F(SimulatedRuntimeTest, OneShotCompletes) {
  SimulatedOptions o;
  o.one_shot_run = 5ms;
  Make(o);
  InstanceKey k{"app.ns.job.ns", 3};
  ASSERT_TRUE(rt_->Deploy(Spec(k.job_name, 3, /*one_shot=*/true)).ok());
  ASSERT_TRUE(PumpUntil([&] { return StatusesOf(k).size() == 3; }));
  EXPECT_EQ(StatusesOf(k), (std::vector<std::string>{"CREATING", "RUNNING", "COMPLETED"}));
  EXPECT_EQ(events_.back().detail, "exited with code 0");
  EXPECT_TRUE(rt_->Usage().empty()) << "a completed instance uses nothing";
}

TEST_F(SimulatedRuntimeTest, FailureRateOneFailsEveryDeployWithADetail) {
  SimulatedOptions o;
  o.failure_rate = 1.0;
  Make(o);
  InstanceKey k{"a.b.c.d", 0};
  ASSERT_TRUE(rt_->Deploy(Spec(k.job_name, 0)).ok());
  ASSERT_TRUE(PumpUntil([&] { return StatusesOf(k).size() == 2; }));
  EXPECT_EQ(StatusesOf(k), (std::vector<std::string>{"CREATING", "FAILED"}));
  EXPECT_NE(events_.back().detail.find("simulated"), std::string::npos) << events_.back().detail;
}

TEST_F(SimulatedRuntimeTest, FailureRateIsSeededAndRoughlyHonoured) {
  auto failures = [&](uint64_t seed) {
    SimulatedOptions o;
    o.failure_rate = 0.3;
    o.seed = seed;
    o.start_delay = 1ms;
    Make(o);
    events_.clear();
    for (int i = 0; i < 200; ++i) EXPECT_TRUE(rt_->Deploy(Spec("a.b.c.d", i)).ok());
    EXPECT_TRUE(PumpUntil([&] { return events_.size() == 400; }));
    std::vector<int> failed;
    for (const auto& e : events_) {
      if (e.status == "FAILED") failed.push_back(e.key.instance);
    }
    return failed;
  };
  auto a = failures(42), b = failures(42), c = failures(7);
  EXPECT_EQ(a, b) << "same seed, same failures";
  EXPECT_NE(a, c);
  EXPECT_GT(a.size(), 30u);
  EXPECT_LT(a.size(), 90u);
}

TEST_F(SimulatedRuntimeTest, RemoveReportsUndeployedAndForgets) {
  Make();
  InstanceKey k{"app.ns.svc.ns", 1};
  ASSERT_TRUE(rt_->Deploy(Spec(k.job_name, 1)).ok());
  ASSERT_TRUE(PumpUntil([&] { return StatusNow(k) == "RUNNING"; }));
  ASSERT_TRUE(rt_->Remove(k).ok());
  EXPECT_TRUE(rt_->List().empty());
  ASSERT_TRUE(PumpUntil([&] { return !events_.empty() && events_.back().status == "UNDEPLOYED"; }));
  EXPECT_EQ(rt_->Remove(k).code(), Code::kNotFound);
}

TEST_F(SimulatedRuntimeTest, RemoveWhileCreatingStopsTheStart) {
  SimulatedOptions o;
  o.start_delay = 20ms;
  Make(o);
  InstanceKey k{"app.ns.svc.ns", 0};
  ASSERT_TRUE(rt_->Deploy(Spec(k.job_name, 0)).ok());
  ASSERT_TRUE(rt_->Remove(k).ok());
  oak::testing::PumpUntil(io_, [] { return false; }, 60ms);  // past the start delay
  EXPECT_EQ(StatusesOf(k), (std::vector<std::string>{"CREATING", "UNDEPLOYED"}));
}

TEST_F(SimulatedRuntimeTest, DeployIsIdempotentWhileLiveAndReplacesAnEndedInstance) {
  SimulatedOptions o;
  o.one_shot_run = 1ms;
  Make(o);
  InstanceKey k{"app.ns.svc.ns", 0};
  ASSERT_TRUE(rt_->Deploy(Spec(k.job_name, 0)).ok());
  EXPECT_EQ(rt_->Deploy(Spec(k.job_name, 0)).code(), Code::kConflict);
  ASSERT_TRUE(PumpUntil([&] { return StatusNow(k) == "RUNNING"; }));
  EXPECT_EQ(rt_->Deploy(Spec(k.job_name, 0)).code(), Code::kConflict);
  oak::testing::PumpUntil(io_, [] { return false; }, 20ms);
  EXPECT_EQ(StatusesOf(k), (std::vector<std::string>{"CREATING", "RUNNING"})) << "nothing changed";
  EXPECT_EQ(rt_->List().size(), 1u);

  InstanceKey j{"app.ns.job.ns", 0};
  ASSERT_TRUE(rt_->Deploy(Spec(j.job_name, 0, /*one_shot=*/true)).ok());
  ASSERT_TRUE(PumpUntil([&] { return StatusNow(j) == "COMPLETED"; }));
  ASSERT_TRUE(rt_->Deploy(Spec(j.job_name, 0, true)).ok()) << "an ended instance may be deployed again";
  ASSERT_TRUE(PumpUntil([&] { return StatusesOf(j).size() == 6; }));
  EXPECT_EQ(StatusNow(j), "COMPLETED");
}

TEST_F(SimulatedRuntimeTest, UsageRespectsTheSla) {
  SimulatedOptions o;
  o.node_memory_mb = 4096;
  Make(o);
  for (int i = 0; i < 20; ++i) {
    DeploySpec d = Spec("a.b.c.d", i);
    d.memory_mb = 100 + i * 10;
    d.vcpus = i % 2 ? 0.5 : 2;
    d.storage_mb = 1000;
    ASSERT_TRUE(rt_->Deploy(d).ok());
  }
  ASSERT_TRUE(PumpUntil([&] { return rt_->Usage().size() == 20; }));
  for (int round = 0; round < 10; ++round) {
    for (const auto& u : rt_->Usage()) {
      int i = u.key.instance;
      EXPECT_GT(u.cpu_percent, 0);
      EXPECT_LE(u.cpu_percent, (i % 2 ? 0.5 : 2) * 100);
      EXPECT_GT(u.memory_mb, 0);
      EXPECT_LE(u.memory_mb, 100 + i * 10);
      EXPECT_NEAR(u.memory_percent, u.memory_mb * 100 / 4096, 1e-9);
      EXPECT_LE(u.disk_mb, 1000);
      EXPECT_EQ(u.virtualization, "container");
    }
  }
}

TEST_F(SimulatedRuntimeTest, RefusesUnsupportedVirtualizationAndBadOptions) {
  Make();
  DeploySpec d = Spec("a.b.c.d", 0);
  d.virtualization = "unikernel";
  EXPECT_EQ(rt_->Deploy(d).code(), Code::kInvalid);
  SimulatedOptions bad;
  bad.failure_rate = 1.5;
  EXPECT_EQ(SimulatedRuntime::Validate(bad).code(), Code::kInvalid);
  bad.failure_rate = -0.1;
  EXPECT_EQ(SimulatedRuntime::Validate(bad).code(), Code::kInvalid);
}

TEST_F(SimulatedRuntimeTest, NoEventAfterShutdown) {
  Make();
  ASSERT_TRUE(rt_->Deploy(Spec("a.b.c.d", 0)).ok());
  rt_->Shutdown();
  oak::testing::PumpUntil(io_, [] { return false; }, 20ms);
  EXPECT_TRUE(events_.empty());
  EXPECT_EQ(rt_->Deploy(Spec("a.b.c.d", 1)).code(), Code::kUnavailable);
}

TEST_F(SimulatedRuntimeTest, LogsKeepALinePerStatusChangeUntilRemoved) {
  SimulatedOptions o;
  o.failure_rate = 1;
  Make(o);
  InstanceKey k{"app.ns.svc.ns", 0};
  EXPECT_EQ(rt_->Logs(k, 100).status().code(), Code::kNotFound);
  ASSERT_TRUE(rt_->Deploy(Spec(k.job_name, 0)).ok());
  EXPECT_EQ(*rt_->Logs(k, 100), "simulated: CREATING\n");
  ASSERT_TRUE(PumpUntil([&] { return StatusNow(k) == "FAILED"; }));
  EXPECT_EQ(*rt_->Logs(k, 1000), "simulated: CREATING\nsimulated: FAILED: simulated start failure (failure rate 1)\n");
  EXPECT_EQ(*rt_->Logs(k, 8), "rate 1)\n") << "the last max_bytes bytes";
  EXPECT_EQ(*rt_->Logs(k, 0), "");
  ASSERT_TRUE(rt_->Remove(k).ok());
  EXPECT_EQ(rt_->Logs(k, 100).status().code(), Code::kNotFound);
}

TEST_F(SimulatedRuntimeTest, ARedeployStartsAFreshLog) {
  SimulatedOptions o;
  o.one_shot_run = 1ms;
  Make(o);
  InstanceKey k{"app.ns.svc.ns", 0};
  // Replacing an ended instance replaces its log as well.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(rt_->Deploy(Spec(k.job_name, 0, true)).ok());
    ASSERT_TRUE(PumpUntil([&] { return StatusNow(k) == "COMPLETED"; }));
  }
  EXPECT_EQ(*rt_->Logs(k, 1 << 20),
            "simulated: CREATING\nsimulated: RUNNING\nsimulated: COMPLETED: exited with code 0\n");
}

}  // namespace
}  // namespace oak::node
