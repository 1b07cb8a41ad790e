#include "root/group_commit.h"

#include <algorithm>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>

namespace oak::root {

namespace asio = boost::asio;

GroupCommit::GroupCommit(asio::io_context& io, Store& store) : io_(io), store_(store) {}

// Writes still queued were never acknowledged; their handlers are dropped with them.
GroupCommit::~GroupCommit() = default;

void GroupCommit::Enqueue(BatchOp op, Handler done) {
  ops_.push_back(std::move(op));
  done_.push_back(std::move(done));
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  asio::post(io_, [this, alive = std::weak_ptr<int>(alive_)] {
    if (!alive.expired()) Flush();
  });
}

void GroupCommit::Flush() {
  flush_scheduled_ = false;
  // Completions may queue new writes: those go to a fresh batch with its own flush.
  std::vector<BatchOp> ops = std::move(ops_);
  std::vector<Handler> done = std::move(done_);
  ops_.clear();
  done_.clear();
  std::vector<Status> results;
  store_.RunBatch(ops, results);
  ++batches_;
  writes_ += ops.size();
  largest_ = std::max(largest_, ops.size());
  for (size_t i = 0; i < done.size(); ++i) {
    auto ex = asio::get_associated_executor(done[i], io_.get_executor());
    asio::dispatch(ex, [h = std::move(done[i]), s = std::move(results[i])]() mutable { std::move(h)(std::move(s)); });
  }
}

}  // namespace oak::root
