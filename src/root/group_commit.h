// Group commit: store writes queued during one turn of the event loop are applied together in one
// transaction (Store::RunBatch), and each writer resumes only after that transaction committed.
//
// Why: a commit costs far more than the statements in it (WAL frames for every touched page, file
// locks, system calls), and at thousands of deploys and status reports per second one commit per
// write was the root's main cost. Batching keeps the guarantee that an acknowledged write is
// durable, since callers answer only once their batch committed.
//
// When: the first write queued schedules a flush with asio::post, so the flush runs after the
// handlers that were already ready to run (typically every request read in the same epoll round).
// While a flush runs, new writes queue for the next one, so batches grow with the load by
// themselves and an idle root adds no delay.
//
// Ops run at flush time, not when queued, and see the committed state plus the earlier ops of
// their batch. They must have no effects outside the store: callers apply in-memory changes when
// their completion reports success.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>

#include "root/store.h"

namespace oak::root {

class GroupCommit {
 public:
  GroupCommit(boost::asio::io_context& io, Store& store);
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;

  // Queues `op` for the next batch; completes with its Status once the batch committed (or with
  // the commit's failure). Token: e.g. asio::use_awaitable, or a callback void(Status).
  template <typename Token>
  auto Write(BatchOp op, Token&& token) {
    return boost::asio::async_initiate<Token, void(Status)>(
        [this](auto handler, BatchOp op) {
          Enqueue(std::move(op), Handler(std::move(handler)));
        },
        token, std::move(op));
  }

  uint64_t batches() const { return batches_; }
  uint64_t writes() const { return writes_; }
  size_t largest_batch() const { return largest_; }

 private:
  using Handler = boost::asio::any_completion_handler<void(Status)>;
  void Enqueue(BatchOp op, Handler done);
  void Flush();

  boost::asio::io_context& io_;
  Store& store_;
  std::vector<BatchOp> ops_;  // the next batch, in arrival order
  std::vector<Handler> done_;
  bool flush_scheduled_ = false;
  uint64_t batches_ = 0, writes_ = 0;
  size_t largest_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // a posted flush checks it
};

}  // namespace oak::root
