// Internal to mqtt.cc and mqtt_executor.cc: what MqttClient shares with libmosquitto's callbacks,
// and the executor driver (MqttDriver::kExecutor).
#pragma once

#include <mosquitto.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/mqtt.h"

namespace oak {

// Invariants:
//  - `mosq`, `handlers`, `alive` and every executor-driver field are read and written on the
//    owner's thread only (a network thread receives `this` as mosquitto's userdata and never reads
//    those fields);
//  - `subs` and `connected` transitions happen under `mu`, so a Subscribe racing a (re)connect
//    is made either by Subscribe itself or by the connect callback, never lost;
//  - the State outlives the network thread (Disconnect joins it before the object can go), and
//    posted callbacks hold a shared_ptr, so a callback queued after the client died is a no-op.
struct MqttClient::State : std::enable_shared_from_this<MqttClient::State> {
  explicit State(boost::asio::any_io_executor e) : ex(std::move(e)) {}

  boost::asio::any_io_executor ex;
  mosquitto* mosq = nullptr;
  bool alive = true;
  MessageHandler on_message;
  ConnectHandler on_connect;
  DisconnectHandler on_disconnect;

  std::mutex mu;
  std::map<std::string, int> subs;  // pattern -> qos
  std::atomic<bool> connected{false};
  std::atomic<bool> closing{false};  // our own Disconnect is in progress: not "unexpected"

  // --- executor driver: libmosquitto has no thread; asio watches its socket. ---
  bool on_executor = false;
  // A dup of libmosquitto's socket, so asio never watches a descriptor number that libmosquitto
  // has closed and the kernel may have handed to someone else.
  std::unique_ptr<boost::asio::posix::stream_descriptor> sock;
  uint64_t io_gen = 0;  // bumped whenever `sock` changes; handlers of an older socket do nothing
  bool reading = false;  // a read wait is armed or a read is posted
  bool writing = false;  // a write wait is armed
  bool session_up = false;  // CONNACK accepted since the socket was opened
  // Read end of the socket pair libmosquitto writes a byte into for every queued packet (to wake
  // its thread), drained once a second; -1 when the pair was pointed at /dev/null or is unknown.
  // See mqtt_executor.cc.
  int wake_fd = -1;
  std::chrono::seconds reconnect_delay{1}, reconnect_min{1}, reconnect_max{10};
  std::unique_ptr<boost::asio::steady_timer> misc_timer, reconnect_timer;

  // Runs `fn(state)` on the owner's executor unless the client is gone by then.
  template <typename Fn>
  void Post(Fn fn) {
    boost::asio::post(ex, [self = shared_from_this(), fn = std::move(fn)]() mutable {
      if (self->alive) fn(*self);
    });
  }
};

namespace mqtt_internal {

Status FromMosq(int rc, const std::string& what);

// The two lowest free descriptor numbers: where mosquitto_new() will put its socket pair (read
// end first).
struct WakePairGuess {
  int first = -1, second = -1;
};
WakePairGuess GuessWakePair();
// Right after mosquitto_new(): if the guessed descriptors hold a fresh, connected pair of unnamed
// AF_UNIX stream sockets, puts /dev/null under both numbers (libmosquitto keeps writing its wake-up
// bytes, now for nothing, and closes the numbers itself) and answers true; else changes nothing.
bool SilenceWakePair(WakePairGuess guess);
// `guess` if, right after mosquitto_new(), it holds an unnamed AF_UNIX stream socket; else -1.
int ConfirmWakeFd(int guess);
// Starts the first connection attempt without a network thread (`st.mosq` is configured).
Status StartOnExecutor(MqttClient::State& st, const MqttOptions& o);
// After anything that may have queued packets: write what can go, keep read/write waits armed.
void PumpOnExecutor(MqttClient::State& st);
// Sends DISCONNECT (flushing for a bounded time), stops timers and closes our socket.
void StopOnExecutor(MqttClient::State& st);

}  // namespace mqtt_internal
}  // namespace oak
