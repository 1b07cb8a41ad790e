// The dispatcher's hand-over to a cluster: a bounded queue, few connections, and backpressure.
#include "root/dispatcher.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "common/ids.h"
#include "root/counting_server.h"
#include "root/sqlite_store.h"
#include "support/process.h"

namespace oak::root {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*SqliteStore::Open(dir_ / "root.db"));
    NewApplication na;
    na.app = {NewObjectId(), "u1", "app", "ns", json::object()};
    na.services.push_back({NewObjectId(), na.app.id, "u1", "app.ns.svc.ns", "", 0,
                           {{"microservice_name", "svc"}, {"virtualization", "container"}, {"memory", 10}}});
    sid_ = na.services[0].id;
    ASSERT_TRUE(store_->CreateApplications({na}).ok());
  }
  // A registered, active cluster whose manager is `url`.
  std::string Cluster(ClusterRegistry& registry, const Url& url) {
    auto reg = registry.Register({{"cluster_name", "c1"},
                                  {"manager_url", "http://" + url.host + ":" + std::to_string(url.port)}},
                                 "127.0.0.1");
    EXPECT_TRUE(reg.ok());
    return reg->id;
  }
  // Instances stored as placed on `cluster_id`, waiting to be handed over.
  std::vector<int64_t> Placed(const std::string& cluster_id, int n) {
    std::vector<int64_t> out;
    for (int i = 0; i < n; ++i)
      out.push_back(store_->CreateInstance(InstanceRecord{sid_, 0, cluster_id, "CLUSTER_SCHEDULED", "", 1, json::object()})
                        ->number);
    return out;
  }

  testing::TempDir dir_{"dispatcher"};
  std::unique_ptr<SqliteStore> store_;
  std::string sid_;
  ManualClock clock_;
};

TEST_F(DispatcherTest, DeployAnswersWaitWhileTheQueueIsFull) {
  asio::io_context io;
  testing::CountingServer server(io, 0, std::chrono::milliseconds(50));
  ClusterRegistry registry(*store_, clock_, 15'000);
  const std::string cid = Cluster(registry, server.url());
  GroupCommit commit(io, *store_);
  Dispatcher d(io, *store_, commit, registry, clock_,
               {.max_connections_per_cluster = 2, .max_queued_per_cluster = 4, .max_batch = 1});
  for (int64_t n : Placed(cid, 10)) d.Send(sid_, n, cid);
  EXPECT_EQ(d.in_flight(), 10u);

  bool room = false;
  size_t queued_at_room = 99;
  std::vector<int> admitted;  // first come, first served
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await d.WaitForRoom(cid);
        room = true;
        queued_at_room = d.queued();
        admitted.push_back(1);
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await d.WaitForRoom(cid);
        admitted.push_back(2);
      },
      asio::detached);
  // Two connections at 50 ms per answer: the queue of 8 needs about 100 ms to drop below 4.
  testing::PumpUntil(io, [] { return false; }, std::chrono::milliseconds(40));
  EXPECT_FALSE(room) << "a full queue must hold the answer back";
  ASSERT_TRUE(testing::PumpUntil(io, [&] { return room; }, std::chrono::seconds(5)));
  EXPECT_LT(queued_at_room, 4u);
  ASSERT_TRUE(testing::PumpUntil(io, [&] { return admitted.size() == 2; }, std::chrono::seconds(5)));
  EXPECT_EQ(admitted, (std::vector<int>{1, 2}));
  ASSERT_TRUE(testing::PumpUntil(io, [&] { return d.in_flight() == 0; }, std::chrono::seconds(5)));
  EXPECT_EQ(server.requests, 10);
  EXPECT_LE(server.connections, 2);
  EXPECT_LE(server.max_concurrent, 2);
  EXPECT_EQ(d.queued(), 0u);

  // With room to spare, waiting costs nothing.
  room = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await d.WaitForRoom(cid);
        room = true;
      },
      asio::detached);
  io.poll();
  EXPECT_TRUE(room);
}

TEST_F(DispatcherTest, PlacementReservesAtOnce) {
  asio::io_context io;
  testing::CountingServer server(io);
  ClusterRegistry registry(*store_, clock_, 15'000);
  const std::string cid = Cluster(registry, server.url());
  ClusterState* c = *registry.Authenticate(cid, registry.Find(cid)->rec.secret);
  ASSERT_TRUE(registry.ApplyHeartbeat(*c, {{"memory", 25}, {"vcpus", 4}, {"virtualization", {"container"}}}).ok());
  GroupCommit commit(io, *store_);
  Dispatcher d(io, *store_, commit, registry, clock_, {});
  auto svc = **d.Service(sid_);
  // 25 MB free, 10 MB each: two placements fit before anything is stored, the third does not.
  EXPECT_EQ(d.Place(svc).cluster_id, cid);
  EXPECT_EQ(d.Place(svc).cluster_id, cid);
  Placement third = d.Place(svc);
  EXPECT_TRUE(third.cluster_id.empty());
  EXPECT_EQ(third.status, "NoActiveClusterWithCapacity");
  EXPECT_FALSE(third.status_detail.empty());
}

// An instance's time (last_modified_timestamp) is when its state changed; usage figures, which
// come with almost every report, refresh its document only, and alone at most every 30 s.
TEST_F(DispatcherTest, UsageAloneRewritesTheDocumentAtMostEvery30sAndNeverMovesTheTime) {
  asio::io_context io;
  testing::CountingServer server(io);
  ClusterRegistry registry(*store_, clock_, 15'000);
  const std::string cid = Cluster(registry, server.url());
  GroupCommit commit(io, *store_);
  Dispatcher d(io, *store_, commit, registry, clock_, {});
  const int64_t n = Placed(cid, 1)[0];
  auto report = [&](const std::string& status, json fields) {
    JobReport r{sid_, n, status, std::nullopt, std::move(fields)};
    EXPECT_TRUE(d.ApplyJobReports(cid, std::span<const JobReport>(&r, 1)).ok());
    auto stored = store_->GetInstance(sid_, n);
    EXPECT_TRUE(stored.ok());
    return stored.ok() ? *stored : InstanceRecord{};
  };
  clock_.Advance(1000);
  const InstanceRecord running = report("RUNNING", {{"worker_id", "w1"}, {"cpu_percent", 1.5}});
  EXPECT_EQ(running.updated_ms, clock_.NowMs());
  clock_.Advance(5000);
  const json figures{{"worker_id", "w1"}, {"cpu_percent", 7.25}, {"memory_percent", 3.0}, {"disk", 12}};
  EXPECT_EQ(report("RUNNING", figures).doc["cpu_percent"], 1.5)
      << "new figures alone rewrite the row at most every 30 s; the last were written 5 s ago";
  clock_.Advance(25'000);
  const InstanceRecord usage = report("RUNNING", figures);
  EXPECT_EQ(usage.doc["cpu_percent"], 7.25) << "30 s after the last ones, the figures are kept";
  EXPECT_EQ(usage.doc["disk"], 12);
  EXPECT_EQ(usage.updated_ms, running.updated_ms) << "but they are not a change of state";
  clock_.Advance(1000);
  EXPECT_EQ(report("FAILED", {{"cpu_percent", 0.5}}).doc["cpu_percent"], 0.5)
      << "with a change of state, the figures go too";
  clock_.Advance(1000);
  EXPECT_EQ(report("RUNNING", {{"cpu_percent", 0.5}}).updated_ms, clock_.NowMs());
  clock_.Advance(5000);
  EXPECT_EQ(report("RUNNING", {{"worker_id", "w2"}, {"cpu_percent", 7.25}}).updated_ms, clock_.NowMs())
      << "another worker is";
  clock_.Advance(5000);
  EXPECT_EQ(report("FAILED", json::object()).updated_ms, clock_.NowMs());
}

// A cluster's batched deploy route: answers every instance of the body with `code_of(number)`.
std::pair<unsigned, std::string> BatchAnswer(const std::string& body, const std::function<unsigned(int64_t)>& code_of,
                                             int* instances_seen) {
  json in = json::parse(body);
  json results = json::array();
  for (auto& job : in["jobs"]) {
    EXPECT_EQ(job["service"].value("job_id", ""), job.value("job_id", "?"));
    EXPECT_FALSE(job["service"].contains("instance_number"));
    for (auto& n : job["instance_numbers"]) {
      ++*instances_seen;
      unsigned code = code_of(n.get<int64_t>());
      json r{{"job_id", job["job_id"]}, {"instance_number", n}, {"code", code}};
      if (code != 200) r["message"] = "no";
      results.push_back(r);
    }
  }
  return {200, json{{"results", results}}.dump()};
}

TEST_F(DispatcherTest, BatchedHandOverSendsManyInstancesPerRequest) {
  asio::io_context io;
  testing::CountingServer server(io, 0, std::chrono::milliseconds(20));
  int seen = 0, single = 0;
  std::map<int64_t, int> tries;
  server.handler = [&](const std::string& target, const std::string& body) -> std::pair<unsigned, std::string> {
    if (target != "/api/instances/deploy") {
      ++single;
      return {200, "{}"};
    }
    return BatchAnswer(body, [&](int64_t n) -> unsigned {
      // Instance 3 is refused; instance 5 meets a busy cluster once, then goes through.
      if (n == 3) return 400;
      return n == 5 && tries[n]++ == 0 ? 503 : 200;
    }, &seen);
  };
  ClusterRegistry registry(*store_, clock_, 15'000);
  const std::string cid = Cluster(registry, server.url());
  GroupCommit commit(io, *store_);
  Dispatcher d(io, *store_, commit, registry, clock_,
               {.first_backoff = std::chrono::milliseconds(10), .max_batch = 64, .batch_connections_per_cluster = 2});
  auto numbers = Placed(cid, 200);
  for (int64_t n : numbers) d.Send(sid_, n, cid);
  ASSERT_TRUE(testing::PumpUntil(io, [&] { return d.in_flight() == 0; }, std::chrono::seconds(10)));
  EXPECT_EQ(single, 0);
  EXPECT_EQ(seen, 201);  // instance 5 twice
  // 200 instances at most 64 per request, plus the retry of instance 5.
  EXPECT_LE(server.requests, 6);
  EXPECT_GE(server.requests, 4);
  EXPECT_LE(server.max_concurrent, 2);
  for (int64_t n : numbers) {
    auto inst = store_->GetInstance(sid_, n);
    ASSERT_TRUE(inst.ok());
    if (n == 3) {
      EXPECT_EQ(inst->status, "FAILED");
      EXPECT_NE(inst->status_detail.find("refused the instance: no"), std::string::npos) << inst->status_detail;
    } else {
      EXPECT_EQ(inst->status, "CLUSTER_SCHEDULED") << n;
    }
  }
}

TEST_F(DispatcherTest, AClusterWithoutTheBatchedFormGetsOneRequestPerInstance) {
  asio::io_context io;
  testing::CountingServer server(io);
  int batch_calls = 0;
  std::set<std::string> singles;
  server.handler = [&](const std::string& target, const std::string&) -> std::pair<unsigned, std::string> {
    if (target == "/api/instances/deploy") {
      ++batch_calls;
      return {404, R"({"message":"no route"})"};
    }
    singles.insert(target);
    return {200, "{}"};
  };
  ClusterRegistry registry(*store_, clock_, 15'000);
  const std::string cid = Cluster(registry, server.url());
  GroupCommit commit(io, *store_);
  Dispatcher d(io, *store_, commit, registry, clock_, {});
  auto numbers = Placed(cid, 20);
  for (int64_t n : numbers) d.Send(sid_, n, cid);
  ASSERT_TRUE(testing::PumpUntil(io, [&] { return d.in_flight() == 0; }, std::chrono::seconds(10)));
  EXPECT_LE(batch_calls, 2);  // once per worker that tried it, then never again
  EXPECT_EQ(singles.size(), 20u);
  for (int64_t n : numbers) {
    EXPECT_TRUE(singles.count("/api/service/" + sid_ + "/" + std::to_string(n))) << n;
    EXPECT_EQ(store_->GetInstance(sid_, n)->status, "CLUSTER_SCHEDULED");
  }
  // Later instances go the single way at once.
  for (int64_t n : Placed(cid, 3)) d.Send(sid_, n, cid);
  ASSERT_TRUE(testing::PumpUntil(io, [&] { return d.in_flight() == 0; }, std::chrono::seconds(10)));
  EXPECT_LE(batch_calls, 2);
  EXPECT_EQ(singles.size(), 23u);
}

TEST_F(DispatcherTest, ABatchWithoutAnswersIsRetriedThenFails) {
  asio::io_context io;
  testing::CountingServer server(io);  // answers 200 with a body that is not the results
  ClusterRegistry registry(*store_, clock_, 15'000);
  const std::string cid = Cluster(registry, server.url());
  GroupCommit commit(io, *store_);
  Dispatcher d(io, *store_, commit, registry, clock_,
               {.max_attempts = 3, .first_backoff = std::chrono::milliseconds(5)});
  auto numbers = Placed(cid, 5);
  for (int64_t n : numbers) d.Send(sid_, n, cid);
  ASSERT_TRUE(testing::PumpUntil(io, [&] { return d.in_flight() == 0; }, std::chrono::seconds(10)));
  for (int64_t n : numbers) {
    auto inst = store_->GetInstance(sid_, n);
    EXPECT_EQ(inst->status, "FAILED");
    EXPECT_NE(inst->status_detail.find("gave no answer"), std::string::npos) << inst->status_detail;
  }
}

}  // namespace
}  // namespace oak::root
