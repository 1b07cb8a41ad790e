// NodeAgent: one worker node's connection to its cluster (docs/mqtt.md). It registers over HTTP,
// keeps an MQTT session under `nodes/<id>/`, turns control messages into Runtime calls and reports
// instance status changes, node resources and instance usage.
//
// Life cycle: Start() registers (retrying with back-off while the cluster is unreachable), then
// connects to the broker with the credentials of the answer. A broker that keeps refusing those
// credentials (the cluster reissued them) makes the agent register again. A 401 or 400 at
// registration is fatal: retrying cannot fix a wrong token or description.
//
// Threading: everything runs on the executor given at construction (one event loop); MqttClient
// and the runtime post their callbacks there. Several agents may share one executor (`oak sim`).
// One exception to "nothing blocks the loop": a `control/logs` request reads the instance's logs
// inline (Runtime::Logs, at most kMaxLogBytes = 1 MiB from a file), a short bounded read.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "common/http_client.h"
#include "common/mqtt.h"
#include "common/status.h"
#include "node/payloads.h"
#include "node/probe.h"
#include "node/registration_gate.h"
#include "node/runtime.h"

namespace oak::node {

struct AgentOptions {
  std::string cluster_url;  // http://host:port of the cluster's node API
  std::string node_token;
  std::string data_dir;     // where node.json keeps the id; empty: in memory only (sim nodes)
  // 0: the interval the cluster's registration answer names, else 2 s.
  std::chrono::milliseconds report_interval{0};
  std::chrono::milliseconds register_backoff_min{500};
  std::chrono::milliseconds register_backoff_max{30'000};
  std::chrono::milliseconds register_timeout{10'000};
  int mqtt_keepalive_s = 10;
  // kExecutor: the MQTT session runs on the agent's event loop, no extra thread (and no ceiling on
  // how many agents one process holds; see common/mqtt.h).
  MqttDriver mqtt_driver = MqttDriver::kExecutor;
  unsigned mqtt_reconnect_max_s = 10;
  // Consecutive broker refusals after which the agent registers again for new credentials. More
  // than one: right after registration the broker may not have reloaded its password file yet.
  int refusals_before_reregister = 2;
  std::vector<std::string> supported_addons;
  uint64_t seed = 0;  // back-off jitter; 0: random
  // Set by a node that runs real networking: registration asks the cluster for an instance subnet,
  // and every answer hands it ("" when the cluster has none left) to this callback on the loop.
  std::function<void(const std::string& subnet)> on_subnet;
  // Level of the per-node routine lines (registered, connected, instance status changes); `oak sim`
  // lowers it to debug so that a thousand nodes do not flood the log.
  spdlog::level::level_enum routine_log_level = spdlog::level::info;
  // A CREATING or CREATED status is published once it has lasted this long; a start that ends
  // sooner is reported by its outcome alone (RUNNING, FAILED), one QoS 1 message instead of two
  // or three. 0: every status at once.
  std::chrono::milliseconds passing_hold{100};
};

class NodeAgent {
 public:
  using FatalHandler = std::function<void(const Status&)>;

  // `probe`, `runtime` and `gate` (optional) must outlive the agent.
  NodeAgent(boost::asio::any_io_executor ex, AgentOptions opts, NodeProbe& probe, Runtime& runtime,
            RegistrationGate* gate = nullptr);
  ~NodeAgent();  // Stop()
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  // Called once when the agent gives up (bad token, bad description); it is stopped by then.
  void OnFatal(FatalHandler h) { on_fatal_ = std::move(h); }
  // kInvalid for a bad cluster URL. Everything else is retried and logged.
  Status Start();
  // Cancels timers and sends MQTT DISCONNECT, so the broker does not publish the last will.
  // The runtime is left to its owner. Idempotent.
  void Stop();

  const std::string& id() const { return id_; }
  bool connected() const { return mqtt_ && mqtt_->connected(); }
  int registrations() const { return registrations_; }

 private:
  void Register();
  boost::asio::awaitable<void> RegisterOnce(std::shared_ptr<bool> alive);
  void OnRegisterAnswer(const Result<ClientResponse>& res);
  void RetryRegister(const std::string& why);
  void OnRegistered(const Registration& reg);
  void PersistId();
  void ConnectMqtt(const Registration& reg);
  void OnMqttConnect(bool ok, const std::string& reason);
  void OnMessage(const std::string& topic, const std::string& payload);
  void HandleDeploy(const std::string& payload);
  void HandleDelete(const std::string& payload);
  void HandleLogs(const std::string& payload);
  void OnInstanceEvent(const InstanceStatus& s);
  // Publishes `s`, superseding a status of the same instance still held back.
  void PublishJob(const InstanceStatus& s);
  void SendJob(const InstanceStatus& s);
  void ArmHeld();
  void ArmReport();
  void Report();
  void Fail(const Status& s);
  std::chrono::milliseconds NextBackoff();

  boost::asio::any_io_executor ex_;
  AgentOptions opts_;
  NodeProbe& probe_;
  Runtime& runtime_;
  RegistrationGate* gate_;
  FatalHandler on_fatal_;

  Url cluster_;
  NodeInfo info_;
  std::string id_;
  std::string topic_prefix_;  // "nodes/<id>/"
  std::unique_ptr<MqttClient> mqtt_;
  std::string mqtt_password_;
  std::chrono::milliseconds report_interval_{2000};
  static constexpr int kFullReportEvery = 5;  // reports, see Report()
  int reports_since_full_ = 0;
  bool full_report_due_ = true;
  bool registering_ = false;
  bool stopped_ = false;
  int registrations_ = 0;
  int refusals_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::mt19937_64 rng_;
  boost::asio::steady_timer register_timer_;
  boost::asio::steady_timer report_timer_;
  bool report_armed_ = false;
  // Statuses in passing waiting for passing_hold, and their instances in the order they are due.
  struct HeldStatus {
    InstanceStatus status;
    std::chrono::steady_clock::time_point due;
  };
  std::map<InstanceKey, HeldStatus> held_;
  std::deque<std::pair<InstanceKey, std::chrono::steady_clock::time_point>> held_order_;
  boost::asio::steady_timer held_timer_;
  bool held_armed_ = false;
  // Checked by every callback that may outlive the agent (coroutines, runtime events, timers).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace oak::node
