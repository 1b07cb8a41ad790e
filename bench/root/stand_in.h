// Stand-in cluster managers for the root benchmarks: each registers with `oak root`, accepts every
// deploy on its own loopback port and reports instances back, as cheaply as it can, so that the
// benchmarks measure the root rather than the stand-in. Every stand-in of a process shares one
// server thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "common/http_server.h"
#include "common/router.h"
#include "common/status.h"

namespace oak::bench {

using InstanceKey = std::pair<std::string, int64_t>;  // service (job) id, instance number

class StandIn {
 public:
  StandIn(boost::asio::io_context& io, std::string root_url, std::string join_token, std::string name);

  Status Listen();    // on 127.0.0.1, an ephemeral port
  Status Register();  // with the root, as `name`

  // A full heartbeat with a capacity that never runs out; reports the instances received since
  // the last one as RUNNING, once (beyond 2,000 of them, in status pushes after the heartbeat).
  // Answers the root's HTTP status (0: no answer).
  unsigned Heartbeat();
  // A status push (a body with only `jobs`) of up to `batch` held instances, taken in turn from
  // where the previous push stopped. Each pass over the held instances reports them with the other
  // of CREATED and RUNNING, so that every report changes the instance at the root. Answers the
  // HTTP status and how many instances it reported (0 when it holds none).
  std::pair<unsigned, size_t> Push(size_t batch);

  size_t received() const;  // deploy requests accepted
  size_t held() const;      // distinct instances held now
  size_t reported() const;  // instances reported RUNNING so far
  const std::string& id() const { return id_; }

 private:
  HttpResponse Deploy(HttpRequest& req);
  HttpResponse Remove(HttpRequest& req);
  unsigned Post(const std::string& body);

  std::string root_url_, join_token_, name_;
  std::string id_, secret_, url_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
  mutable std::mutex mu_;  // guards what the server thread and the reporting threads share
  std::set<InstanceKey> held_;
  std::vector<InstanceKey> fresh_;  // received since the last heartbeat
  size_t received_ = 0;
  size_t reported_ = 0;
  std::vector<InstanceKey> push_order_;  // snapshot of held_ that pushes walk through
  size_t push_next_ = 0;
  size_t push_pass_ = 0;
};

}  // namespace oak::bench
