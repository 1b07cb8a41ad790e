// An MQTT client (libmosquitto, MQTT 3.1.1) whose callbacks run on the owner's asio executor.
//
// Threading model, two drivers (MqttOptions::driver):
//   - kThread (default): libmosquitto runs its own network thread (mosquitto_loop_start), whose
//     loop implements keep-alive, in-flight windows and reconnect with back-off. The network thread
//     never runs user code: every callback is posted to the executor given at construction.
//   - kExecutor: no thread. The owner's executor watches the socket (asio) and calls
//     mosquitto_loop_read/write/misc; reconnect back-off is an asio timer. For processes with
//     hundreds of clients (`oak sim`): libmosquitto's own loop uses select(), which cannot watch a
//     descriptor numbered 1024 or above, so the thread driver stops working at about 330 clients
//     per process (three descriptors each), besides costing a thread per client.
// Either way the owner's event loop sees messages, connects and disconnects in order, on its own
// thread.
//
// Which methods may be called from where:
//   - Constructor, destructor, Connect, Disconnect, On*(): the owner's thread only (the thread that
//     runs the executor, or any single thread before the loop starts). Never from two threads.
//   - Publish, Subscribe, Unsubscribe, connected(): with kThread any thread (libmosquitto locks
//     internally and our subscription list has its own mutex); with kExecutor the owner's thread
//     only, and the executor must not run handlers on several threads at once.
//   - Destroying the client from inside one of its own callbacks is allowed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include "common/status.h"

namespace oak {

struct MqttWill {
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retain = false;
};

enum class MqttDriver { kThread, kExecutor };

struct MqttOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string client_id;  // empty: the library makes a random one (requires clean_session)
  std::string username;   // empty: anonymous
  std::string password;
  int keepalive_s = 10;
  bool clean_session = true;
  std::optional<MqttWill> will;
  // QoS 1/2 messages this client may have unacknowledged at once. The library default (20) caps a
  // single connection at a few thousand msg/s on loopback (SPEC §6); the cluster needs more.
  int max_inflight = 1000;
  // Reconnect back-off: the delay doubles from min to max between attempts (whole seconds: the
  // library's unit).
  unsigned reconnect_min_s = 1;
  unsigned reconnect_max_s = 10;
  MqttDriver driver = MqttDriver::kThread;  // see the top of this file
};

class MqttClient {
 public:
  using MessageHandler = std::function<void(const std::string& topic, const std::string& payload)>;
  // ok=false: the broker refused the connection (reason says why, e.g. "not authorised").
  using ConnectHandler = std::function<void(bool ok, const std::string& reason)>;
  // unexpected=false after our own Disconnect().
  using DisconnectHandler = std::function<void(bool unexpected)>;

  explicit MqttClient(boost::asio::any_io_executor executor);
  ~MqttClient();  // disconnects cleanly and joins the network thread; no callback runs afterwards
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  void OnMessage(MessageHandler h);
  void OnConnect(ConnectHandler h);
  void OnDisconnect(DisconnectHandler h);

  // Starts the network thread (kExecutor: the socket watch) and the first connection attempt. A
  // broker that is down is not an error: the client keeps retrying with back-off and reports
  // through OnConnect. Errors are bad options or a second Connect without Disconnect. The TCP
  // connect runs on the network thread (checked: a refused first attempt is retried; kExecutor:
  // non-blocking); name lookup may not, so prefer numeric hosts.
  Status Connect(const MqttOptions& opts);
  // Sends DISCONNECT (no last will is published) and stops the network thread (kExecutor: waits at
  // most half a second for the socket to take what is still queued, less if the broker stalls).
  void Disconnect();

  // QoS 0 publishes fail with kUnavailable while disconnected; QoS 1/2 ones are queued by the
  // library and sent after the reconnect (up to the in-flight window, then buffered).
  Status Publish(std::string_view topic, std::string_view payload, int qos = 1, bool retain = false);
  // Remembered and re-made after every (re)connect, so callers subscribe once.
  Status Subscribe(const std::string& pattern, int qos = 1);
  Status Unsubscribe(const std::string& pattern);
  bool connected() const;

  struct State;  // shared with the network thread; defined in mqtt.cc

 private:
  std::shared_ptr<State> state_;
};

}  // namespace oak
