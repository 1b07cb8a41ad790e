#include "common/mqtt.h"

#include <spdlog/spdlog.h>

#include "common/mqtt_state.h"

namespace oak {

namespace asio = boost::asio;

namespace mqtt_internal {

Status FromMosq(int rc, const std::string& what) {
  std::string m = what + ": " + mosquitto_strerror(rc);
  switch (rc) {
    case MOSQ_ERR_SUCCESS: return Status::Ok();
    case MOSQ_ERR_NO_CONN:
    case MOSQ_ERR_CONN_LOST:
    case MOSQ_ERR_ERRNO: return Status::Unavailable(m);
    case MOSQ_ERR_INVAL:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_QOS_NOT_SUPPORTED: return Status::Invalid(m);
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_OVERSIZE_PACKET: return Status::TooLarge(m);
    case MOSQ_ERR_AUTH:
    case MOSQ_ERR_CONN_REFUSED: return Status::Unauthorized(m);
    default: return Status::Internal(m);
  }
}

}  // namespace mqtt_internal

using mqtt_internal::FromMosq;

namespace {

std::once_flag g_lib_init;

// --- libmosquitto callbacks: the network thread (or, with the executor driver, inside
// mosquitto_loop_read/write on the owner's thread). They only copy data and post. ---

void OnConnectCb(mosquitto* mosq, void* obj, int rc) {
  auto* st = static_cast<MqttClient::State*>(obj);
  if (rc == 0) {
    if (st->on_executor) st->session_up = true;  // owner thread in that mode
    std::lock_guard lock(st->mu);
    st->connected = true;
    // With clean sessions the broker forgot our subscriptions; re-make them before any user code
    // learns about the connection, so nothing published after on_connect is missed.
    for (const auto& [pattern, qos] : st->subs) mosquitto_subscribe(mosq, nullptr, pattern.c_str(), qos);
  }
  std::string reason = rc == 0 ? "" : mosquitto_connack_string(rc);
  st->Post([ok = rc == 0, reason](MqttClient::State& s) {
    auto h = s.on_connect;  // copy: the handler may destroy the client
    if (h) h(ok, reason);
  });
}

void OnDisconnectCb(mosquitto*, void* obj, int rc) {
  auto* st = static_cast<MqttClient::State*>(obj);
  {
    std::lock_guard lock(st->mu);
    st->connected = false;
  }
  bool unexpected = rc != 0 && !st->closing;
  st->Post([unexpected](MqttClient::State& s) {
    auto h = s.on_disconnect;
    if (h) h(unexpected);
  });
}

void OnMessageCb(mosquitto*, void* obj, const mosquitto_message* msg) {
  auto* st = static_cast<MqttClient::State*>(obj);
  std::string topic(msg->topic);
  std::string payload(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen));
  st->Post([topic = std::move(topic), payload = std::move(payload)](MqttClient::State& s) {
    auto h = s.on_message;
    if (h) h(topic, payload);
  });
}

}  // namespace

MqttClient::MqttClient(asio::any_io_executor executor) : state_(std::make_shared<State>(std::move(executor))) {
  std::call_once(g_lib_init, [] { mosquitto_lib_init(); });
}

MqttClient::~MqttClient() {
  Disconnect();
  state_->alive = false;
  state_->on_message = nullptr;
  state_->on_connect = nullptr;
  state_->on_disconnect = nullptr;
}

void MqttClient::OnMessage(MessageHandler h) { state_->on_message = std::move(h); }
void MqttClient::OnConnect(ConnectHandler h) { state_->on_connect = std::move(h); }
void MqttClient::OnDisconnect(DisconnectHandler h) { state_->on_disconnect = std::move(h); }

Status MqttClient::Connect(const MqttOptions& o) {
  State& st = *state_;
  if (st.mosq) return Status::Conflict("mqtt: already connected; Disconnect first");
  if (o.host.empty() || o.port == 0) return Status::Invalid("mqtt: host and port are required");
  if (o.client_id.empty() && !o.clean_session) return Status::Invalid("mqtt: a persistent session needs a client id");
  if (o.max_inflight < 1 || o.max_inflight > 65535) return Status::Invalid("mqtt: max_inflight must be 1..65535");
  if (o.reconnect_min_s < 1 || o.reconnect_max_s < o.reconnect_min_s) {
    return Status::Invalid("mqtt: reconnect delays must satisfy 1 <= min <= max");
  }

  const bool on_executor = o.driver == MqttDriver::kExecutor;
  const auto wake_guess = on_executor ? mqtt_internal::GuessWakePair() : mqtt_internal::WakePairGuess{};
  mosquitto* m = mosquitto_new(o.client_id.empty() ? nullptr : o.client_id.c_str(), o.clean_session, &st);
  if (!m) return Status::Internal("mqtt: cannot create client");
  st.on_executor = on_executor;
  st.wake_fd = -1;
  if (on_executor && !mqtt_internal::SilenceWakePair(wake_guess)) {
    st.wake_fd = mqtt_internal::ConfirmWakeFd(wake_guess.first);
    if (st.wake_fd < 0) spdlog::debug("msg=\"mqtt: libmosquitto's wake-up pair not found; it will fill up\"");
  }
  auto fail = [&](int rc, const std::string& what) {
    mosquitto_destroy(m);
    return FromMosq(rc, "mqtt: " + what);
  };
  int rc = mosquitto_max_inflight_messages_set(m, static_cast<unsigned>(o.max_inflight));
  if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  if (rc != MOSQ_ERR_SUCCESS) return fail(rc, "options");
  if (!o.username.empty()) {
    rc = mosquitto_username_pw_set(m, o.username.c_str(), o.password.empty() ? nullptr : o.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) return fail(rc, "credentials");
  }
  if (o.will) {
    rc = mosquitto_will_set(m, o.will->topic.c_str(), static_cast<int>(o.will->payload.size()),
                            o.will->payload.data(), o.will->qos, o.will->retain);
    if (rc != MOSQ_ERR_SUCCESS) return fail(rc, "last will");
  }
  mosquitto_reconnect_delay_set(m, o.reconnect_min_s, o.reconnect_max_s, true);
  mosquitto_connect_callback_set(m, OnConnectCb);
  mosquitto_disconnect_callback_set(m, OnDisconnectCb);
  mosquitto_message_callback_set(m, OnMessageCb);

  st.closing = false;
  if (on_executor) {
    st.mosq = m;
    Status s = mqtt_internal::StartOnExecutor(st, o);
    if (!s.ok()) {
      mosquitto_destroy(m);
      st.mosq = nullptr;
      st.wake_fd = -1;
    }
    return s;
  }
  // Thread first, then connect_async: in that order libmosquitto makes even the first TCP connect
  // on its own thread, so a broker that is down is retried with back-off like a lost connection
  // (connecting first and starting the thread afterwards gives up after one refused attempt).
  rc = mosquitto_loop_start(m);
  if (rc != MOSQ_ERR_SUCCESS) return fail(rc, "network thread");
  rc = mosquitto_connect_async(m, o.host.c_str(), o.port, o.keepalive_s);
  if (rc != MOSQ_ERR_SUCCESS) {
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    return fail(rc, "connect to " + o.host + ":" + std::to_string(o.port));
  }
  st.mosq = m;
  return Status::Ok();
}

void MqttClient::Disconnect() {
  State& st = *state_;
  if (!st.mosq) return;
  st.closing = true;
  if (st.on_executor) {
    mqtt_internal::StopOnExecutor(st);
    mosquitto_destroy(st.mosq);
    st.mosq = nullptr;
    st.wake_fd = -1;
    st.connected = false;
    return;
  }
  // Sets the library's state to "disconnected", which ends its reconnect loop; the thread then
  // exits and loop_stop joins it (it also wakes the thread if it sleeps in a back-off).
  mosquitto_disconnect(st.mosq);
  mosquitto_loop_stop(st.mosq, false);
  mosquitto_destroy(st.mosq);
  st.mosq = nullptr;
  st.connected = false;
}

Status MqttClient::Publish(std::string_view topic, std::string_view payload, int qos, bool retain) {
  mosquitto* m = state_->mosq;
  if (!m) return Status::Unavailable("mqtt: not connected");
  std::string t(topic);
  int rc = mosquitto_publish(m, nullptr, t.c_str(), static_cast<int>(payload.size()), payload.data(), qos, retain);
  if (state_->on_executor) mqtt_internal::PumpOnExecutor(*state_);
  return FromMosq(rc, "mqtt: publish to " + t);
}

Status MqttClient::Subscribe(const std::string& pattern, int qos) {
  if (mosquitto_sub_topic_check(pattern.c_str()) != MOSQ_ERR_SUCCESS || qos < 0 || qos > 2) {
    return Status::Invalid("mqtt: bad subscription '" + pattern + "'");
  }
  int rc = MOSQ_ERR_SUCCESS;
  {
    std::lock_guard lock(state_->mu);
    state_->subs[pattern] = qos;
    if (state_->mosq && state_->connected) rc = mosquitto_subscribe(state_->mosq, nullptr, pattern.c_str(), qos);
  }
  // Outside the lock: a write error makes libmosquitto run the disconnect callback, which takes it.
  if (state_->on_executor) mqtt_internal::PumpOnExecutor(*state_);
  // Losing the connection right now is fine: the reconnect re-subscribes.
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) return FromMosq(rc, "mqtt: subscribe " + pattern);
  return Status::Ok();
}

Status MqttClient::Unsubscribe(const std::string& pattern) {
  int rc = MOSQ_ERR_SUCCESS;
  {
    std::lock_guard lock(state_->mu);
    if (state_->subs.erase(pattern) == 0) return Status::NotFound("mqtt: not subscribed to '" + pattern + "'");
    if (state_->mosq && state_->connected) rc = mosquitto_unsubscribe(state_->mosq, nullptr, pattern.c_str());
  }
  if (state_->on_executor) mqtt_internal::PumpOnExecutor(*state_);
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) return FromMosq(rc, "mqtt: unsubscribe " + pattern);
  return Status::Ok();
}

bool MqttClient::connected() const { return state_->connected; }

}  // namespace oak
