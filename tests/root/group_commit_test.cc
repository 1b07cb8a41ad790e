// GroupCommit and Store::RunBatch over a real SQLite store.
#include "root/group_commit.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/ids.h"
#include "root/sqlite_store.h"
#include "support/process.h"

namespace oak::root {
namespace {

namespace asio = boost::asio;

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*SqliteStore::Open(dir_ / "root.db"));
    NewApplication na;
    na.app = {NewObjectId(), "u1", "app", "ns", nlohmann::json::object()};
    na.services.push_back({NewObjectId(), na.app.id, "u1", "app.ns.svc.ns", "", 0, {{"microservice_name", "svc"}}});
    sid_ = na.services[0].id;
    ASSERT_TRUE(store_->CreateApplications({na}).ok());
  }
  std::vector<int64_t> Numbers() {
    std::vector<int64_t> out;
    auto list = store_->ListInstances(sid_);
    EXPECT_TRUE(list.ok());
    if (list.ok())
      for (auto& i : *list) out.push_back(i.number);
    return out;
  }

  testing::TempDir dir_{"group-commit"};
  std::unique_ptr<SqliteStore> store_;
  std::string sid_;
};

TEST_F(GroupCommitTest, WritesOfOneTurnShareOneTransaction) {
  asio::io_context io;
  GroupCommit commit(io, *store_);
  const uint64_t commits_before = store_->commits();
  std::vector<int64_t> numbers(50, -1);
  std::vector<Status> results(50, Status::Internal("not completed"));
  std::vector<uint64_t> commits_seen(50, 0);
  for (int i = 0; i < 50; ++i) {
    commit.Write(
        [&, i]() -> Status {
          auto inst = store_->CreateInstance(sid_, i);
          if (!inst.ok()) return inst.status();
          numbers[i] = inst->number;
          return Status::Ok();
        },
        [&, i](Status s) {
          results[i] = s;
          commits_seen[i] = store_->commits();  // completions run only after the commit
        });
  }
  EXPECT_EQ(store_->ListInstances(sid_)->size(), 0u) << "ops run at the flush, not when queued";
  io.run();
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(results[i].ok()) << results[i].message();
    EXPECT_EQ(numbers[i], i) << "ops run in the order they were queued";
    EXPECT_EQ(commits_seen[i], commits_before + 1);
  }
  EXPECT_EQ(store_->commits(), commits_before + 1) << "50 writes, one transaction";
  EXPECT_EQ(commit.batches(), 1u);
  EXPECT_EQ(commit.writes(), 50u);
  EXPECT_EQ(Numbers().size(), 50u);
}

TEST_F(GroupCommitTest, AFailingWriteLeavesNothingAndSparesTheOthers) {
  asio::io_context io;
  GroupCommit commit(io, *store_);
  std::vector<Status> results(3);
  auto create = [&]() -> Status { return store_->CreateInstance(sid_, 1).status(); };
  commit.Write(create, [&](Status s) { results[0] = s; });
  commit.Write(
      [&]() -> Status {
        OAK_RETURN_IF_ERROR(store_->CreateInstance(sid_, 2).status());  // written, then undone
        return store_->CreateInstance("no-such-service", 2).status();
      },
      [&](Status s) { results[1] = s; });
  commit.Write(create, [&](Status s) { results[2] = s; });
  io.run();
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].code(), Code::kNotFound);
  EXPECT_TRUE(results[2].ok());
  // The failed op's instance (number 1) is gone and its number was never taken.
  EXPECT_EQ(Numbers(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(store_->GetStoredService(sid_)->next_instance, 2);
}

TEST_F(GroupCommitTest, MultiStatementStoreCallsNestInsideABatch) {
  std::vector<Status> results;
  NewApplication ok_app, bad_app;
  ok_app.app = {NewObjectId(), "u1", "other", "ns", nlohmann::json::object()};
  ok_app.services.push_back({NewObjectId(), ok_app.app.id, "u1", "other.ns.s.ns", "", 0, {}});
  bad_app.app = {NewObjectId(), "u1", "third", "ns", nlohmann::json::object()};
  bad_app.services.push_back({NewObjectId(), bad_app.app.id, "u1", "app.ns.svc.ns", "", 0, {}});  // job name taken
  std::vector<BatchOp> ops = {[&] { return store_->CreateApplications({ok_app}); },
                              [&] { return store_->CreateApplications({bad_app}); }};
  store_->RunBatch(ops, results);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok()) << results[0].message();
  EXPECT_EQ(results[1].code(), Code::kConflict);
  EXPECT_TRUE(store_->GetApplication(ok_app.app.id).ok());
  EXPECT_EQ(store_->GetApplication(bad_app.app.id).status().code(), Code::kNotFound)
      << "a failed op's application must not be half written";
  // Outside a batch the same calls are transactions of their own again.
  EXPECT_TRUE(store_->CreateInstance(sid_, 1).ok());
}

TEST_F(GroupCommitTest, AwaitingWritersResumeWithTheirOwnOutcome) {
  asio::io_context io;
  GroupCommit commit(io, *store_);
  int ok = 0, not_found = 0;
  for (int i = 0; i < 10; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          const std::string sid = i % 2 == 0 ? sid_ : "missing";
          Status s = co_await commit.Write([&] { return store_->CreateInstance(sid, 1).status(); },
                                           asio::use_awaitable);
          if (s.ok()) ++ok;
          else if (s.code() == Code::kNotFound) ++not_found;
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(not_found, 5);
  EXPECT_EQ(commit.batches(), 1u);
}

TEST_F(GroupCommitTest, WritesQueuedByCompletionsGoToTheNextBatch) {
  asio::io_context io;
  GroupCommit commit(io, *store_);
  bool second_done = false;
  commit.Write([&] { return store_->CreateInstance(sid_, 1).status(); },
               [&](Status) {
                 commit.Write([&] { return store_->CreateInstance(sid_, 2).status(); },
                              [&](Status s) { second_done = s.ok(); });
               });
  io.run();
  EXPECT_TRUE(second_done);
  EXPECT_EQ(commit.batches(), 2u);
  EXPECT_EQ(Numbers().size(), 2u);
}

}  // namespace
}  // namespace oak::root
