// The cluster side of the node protocol for tests: a real mosquitto (oak::cluster::Broker), a tiny
// HTTP server answering /api/node/register by adding the node's credentials to the broker, and an
// admin MQTT client that records everything published under nodes/#. All of it runs on `io`,
// pumped by the test thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "cluster/broker.h"
#include "common/http_server.h"
#include "common/mqtt.h"
#include "common/router.h"
#include "support/process.h"

namespace oak::node::testing {

struct Seen {
  std::string topic;
  std::string payload;
  nlohmann::json json;  // discarded when the payload is not JSON
  std::chrono::steady_clock::time_point at;
};

class TestCluster {
 public:
  explicit TestCluster(const std::string& name);
  ~TestCluster();

  // Broker on a free port, then the HTTP server (`http_port` 0: any), then the admin client.
  void Start(uint16_t http_port = 0);
  std::string url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  uint16_t http_port() const { return http_port_; }

  bool Pump(const std::function<bool()>& cond, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void Publish(const std::string& topic, const std::string& payload);

  // Messages received on exactly `topic`, oldest first.
  std::vector<Seen> On(const std::string& topic) const;
  // Statuses published on nodes/<id>/job for (sname, instance), in order.
  std::vector<std::string> JobStatuses(const std::string& id, const std::string& sname, int instance) const;
  std::string IdOf(const std::string& host) const;
  // Publishes on a marker topic and waits until it comes back: everything the broker handled before
  // has been delivered by then.
  bool Flush();

  oak::testing::TempDir dir;
  const std::string token = "node-join-token";
  boost::asio::io_context io;
  std::unique_ptr<cluster::Broker> broker;
  std::vector<Seen> seen;
  bool keep_messages = true;                          // false: only count (long runs, many nodes)
  std::map<std::string, int> information;            // node id -> information reports received
  std::map<std::string, std::string> job_status;     // "<id> <sname> <instance>" -> last status
  std::map<std::string, nlohmann::json> registered;  // host -> last registration body
  std::map<std::string, int> registrations;          // host -> count
  std::map<std::string, std::string> ids;            // host -> id

 private:
  HttpResponse OnRegister(HttpRequest& req);

  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io.get_executor()};
  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<MqttClient> admin_;
  uint16_t broker_port_ = 0;
  uint16_t http_port_ = 0;
  int markers_ = 0;
};

// Exit code of a wait status from Process::Stop, or -1 when it did not exit normally.
int ExitCode(int wait_status);

}  // namespace oak::node::testing
