// Bounds how many registrations the agents of one process run at once, so that `oak sim` with
// thousands of nodes (or all of them re-registering after a cluster restart) does not stampede the
// cluster. Single-threaded: used on the event loop only.
#pragma once

#include <deque>
#include <functional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

namespace oak::node {

class RegistrationGate {
 public:
  RegistrationGate(boost::asio::any_io_executor ex, int max_in_flight) : ex_(std::move(ex)), max_(max_in_flight) {}

  // Runs `go` (posted, never inline) once a slot is free. Every `go` that runs must be paired with
  // one Release(), also when its caller has lost interest meanwhile.
  void Acquire(std::function<void()> go) {
    if (in_flight_ < max_) {
      ++in_flight_;
      boost::asio::post(ex_, std::move(go));
    } else {
      waiting_.push_back(std::move(go));
    }
  }
  void Release() {
    if (!waiting_.empty()) {
      boost::asio::post(ex_, std::move(waiting_.front()));  // the slot passes on
      waiting_.pop_front();
    } else if (in_flight_ > 0) {
      --in_flight_;
    }
  }
  int in_flight() const { return in_flight_; }
  size_t waiting() const { return waiting_.size(); }

 private:
  boost::asio::any_io_executor ex_;
  int max_;
  int in_flight_ = 0;
  std::deque<std::function<void()>> waiting_;
};

}  // namespace oak::node
