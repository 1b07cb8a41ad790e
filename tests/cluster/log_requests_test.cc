// LogRequests on a real io_context: the request goes out on the bus, the node's answer (or its
// silence) completes the wait, and nothing stays pending.
#include "cluster/log_requests.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "support/process.h"

namespace oak::cluster {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using namespace std::chrono_literals;

class RecordingBus : public Bus {
 public:
  Status Publish(std::string_view topic, std::string_view payload) override {
    if (fail) return Status::Unavailable("broker down");
    sent.emplace_back(std::string(topic), json::parse(payload));
    return Status::Ok();
  }
  std::vector<std::pair<std::string, json>> sent;
  bool fail = false;
};

class LogRequestsTest : public ::testing::Test {
 protected:
  // Starts a Fetch; its result lands in `result` once the wait is over.
  void Start(LogRequests& logs, std::optional<Result<std::string>>& result) {
    asio::co_spawn(io_, logs.Fetch(&query_), [&result](std::exception_ptr e, Result<std::string> r) {
      ASSERT_FALSE(e);
      result = std::move(r);
    });
  }
  bool Pump(const std::function<bool()>& cond) { return oak::testing::PumpUntil(io_, cond, 5s); }
  std::string Reply(const std::string& request_id, const std::string& body) {
    return R"({"request_id":")" + request_id + R"(","job_name":"a.b.c.d","instance_number":1,)" + body + "}";
  }

  asio::io_context io_;
  // Keeps io_ from stopping whenever it runs out of work between two pumps.
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  RecordingBus bus_;
  LogQuery query_{"n1", "edge-1 (n1)", "a.b.c.d", 1, 4096};
};

TEST_F(LogRequestsTest, AnswerCompletesTheWait) {
  LogRequests logs(io_.get_executor(), bus_, 5s);
  std::optional<Result<std::string>> result;
  Start(logs, result);
  ASSERT_TRUE(Pump([&] { return !bus_.sent.empty(); }));
  ASSERT_EQ(bus_.sent[0].first, "nodes/n1/control/logs");
  const json& req = bus_.sent[0].second;
  EXPECT_EQ(req["job_name"], "a.b.c.d");
  EXPECT_EQ(req["instance_number"], 1);
  EXPECT_EQ(req["max_bytes"], 4096);
  std::string id = req["request_id"];
  EXPECT_EQ(logs.pending(), 1u);

  logs.OnReply("n2", Reply(id, R"("logs":"forged")"));  // another node cannot answer for n1
  logs.OnReply("n1", Reply("unknown", R"("logs":"stray")"));
  logs.OnReply("n1", "not json");
  logs.OnReply("n1", Reply(id, R"("logs":"simulated: RUNNING\n")"));
  ASSERT_TRUE(Pump([&] { return result.has_value(); }));
  ASSERT_TRUE(result->ok()) << result->status().message();
  EXPECT_EQ(**result, "simulated: RUNNING\n");
  EXPECT_EQ(logs.pending(), 0u);
}

TEST_F(LogRequestsTest, NodeErrorsKeepTheirMeaning) {
  LogRequests logs(io_.get_executor(), bus_, 5s);
  std::optional<Result<std::string>> result;
  Start(logs, result);
  ASSERT_TRUE(Pump([&] { return !bus_.sent.empty(); }));
  logs.OnReply("n1", Reply(bus_.sent[0].second["request_id"], R"("error":{"code":"not_found","message":"no such instance"})"));
  ASSERT_TRUE(Pump([&] { return result.has_value(); }));
  EXPECT_EQ(result->status().code(), Code::kNotFound);
  EXPECT_NE(result->status().message().find("edge-1 (n1)"), std::string::npos) << result->status().message();
}

TEST_F(LogRequestsTest, SilenceTimesOutNamingTheNodeAndLeavesNothingPending) {
  LogRequests logs(io_.get_executor(), bus_, 50ms);
  std::optional<Result<std::string>> result;
  auto t0 = std::chrono::steady_clock::now();
  Start(logs, result);
  ASSERT_TRUE(Pump([&] { return result.has_value(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
  EXPECT_EQ(result->status().code(), Code::kUnavailable);
  EXPECT_NE(result->status().message().find("edge-1 (n1) did not answer"), std::string::npos)
      << result->status().message();
  EXPECT_EQ(logs.pending(), 0u);
  // A late answer is dropped quietly.
  logs.OnReply("n1", Reply(bus_.sent[0].second["request_id"], R"("logs":"late")"));
  EXPECT_EQ(logs.pending(), 0u);
}

TEST_F(LogRequestsTest, BoundedAndBrokerFailuresAnswerAtOnce) {
  LogRequests logs(io_.get_executor(), bus_, 5s, /*max_pending=*/1);
  std::optional<Result<std::string>> first, second;
  Start(logs, first);
  Start(logs, second);
  ASSERT_TRUE(Pump([&] { return second.has_value(); }));
  EXPECT_EQ(second->status().code(), Code::kUnavailable);
  EXPECT_FALSE(first.has_value());
  logs.OnReply("n1", Reply(bus_.sent[0].second["request_id"], R"("logs":"")"));
  ASSERT_TRUE(Pump([&] { return first.has_value(); }));
  EXPECT_TRUE(first->ok());

  bus_.fail = true;
  std::optional<Result<std::string>> third;
  Start(logs, third);
  ASSERT_TRUE(Pump([&] { return third.has_value(); }));
  EXPECT_NE(third->status().message().find("broker down"), std::string::npos);
  EXPECT_EQ(logs.pending(), 0u);
}

}  // namespace
}  // namespace oak::cluster
