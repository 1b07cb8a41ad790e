#include "node/agent.h"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "model/status_names.h"

namespace oak::node {

namespace asio = boost::asio;
namespace st = model::status;
using nlohmann::json;

NodeAgent::NodeAgent(asio::any_io_executor ex, AgentOptions opts, NodeProbe& probe, Runtime& runtime,
                     RegistrationGate* gate)
    : ex_(ex),
      opts_(std::move(opts)),
      probe_(probe),
      runtime_(runtime),
      gate_(gate),
      rng_(opts_.seed ? opts_.seed : std::random_device{}()),
      register_timer_(ex),
      report_timer_(ex),
      held_timer_(ex) {}

NodeAgent::~NodeAgent() { Stop(); }

Status NodeAgent::Start() {
  auto url = ParseUrl(opts_.cluster_url);
  if (!url.ok()) return Status::Invalid("cluster: " + url.status().message());
  cluster_ = *url;
  info_ = probe_.Describe();
  if (!opts_.data_dir.empty()) {
    if (auto text = ReadFile(opts_.data_dir + "/node.json"); text.ok()) {
      json j = json::parse(*text, nullptr, false);
      if (j.is_object() && j.value("id", json()).is_string()) id_ = j["id"].get<std::string>();
    }
  }
  runtime_.SetEventHandler([this, alive = alive_](const InstanceStatus& s) {
    if (*alive) OnInstanceEvent(s);
  });
  spdlog::log(opts_.routine_log_level, "msg=\"registering\" cluster={} host={} known_id={}", opts_.cluster_url, info_.host,
               id_.empty() ? "-" : id_);
  Register();
  return Status::Ok();
}

void NodeAgent::Stop() {
  if (stopped_) return;
  stopped_ = true;
  *alive_ = false;
  register_timer_.cancel();
  report_timer_.cancel();
  held_timer_.cancel();
  held_.clear();
  held_order_.clear();
  if (mqtt_) {
    mqtt_->Disconnect();
    mqtt_.reset();
  }
}

void NodeAgent::Fail(const Status& s) {
  spdlog::critical("msg=\"giving up\" host={} error=\"{}\"", info_.host, s.message());
  Stop();
  if (auto h = on_fatal_) h(s);
}

// --- registration ---

void NodeAgent::Register() {
  if (stopped_ || registering_) return;
  registering_ = true;
  auto go = [this, alive = alive_, gate = gate_] {
    if (!*alive) {
      if (gate) gate->Release();
      return;
    }
    asio::co_spawn(ex_, RegisterOnce(alive), asio::detached);
  };
  if (gate_) gate_->Acquire(std::move(go));
  else asio::post(ex_, std::move(go));
}

asio::awaitable<void> NodeAgent::RegisterOnce(std::shared_ptr<bool> alive) {
  RegistrationGate* gate = gate_;
  ClientRequest req;
  req.method = boost::beast::http::verb::post;
  req.target = "/api/node/register";
  req.bearer = opts_.node_token;
  req.timeout = opts_.register_timeout;
  json body = RegistrationBody(info_, runtime_.Virtualizations(), opts_.supported_addons);
  if (opts_.on_subnet) body["subnet_wanted"] = true;
  req.body = body.dump();
  Url url = cluster_;
  auto res = co_await HttpFetch(ex_, url, std::move(req));
  if (gate) gate->Release();
  if (!*alive) co_return;  // the agent is gone; touch nothing of it
  OnRegisterAnswer(res);
}

void NodeAgent::OnRegisterAnswer(const Result<ClientResponse>& res) {
  registering_ = false;
  if (!res.ok()) return RetryRegister(res.status().message());
  const ClientResponse& r = *res;
  auto message = [&] {
    json j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.value("message", json()).is_string() ? j["message"].get<std::string>() : r.body;
  };
  if (r.status == 401 || r.status == 403) {
    return Fail(Status::Unauthorized("the cluster refused the node token (HTTP " + std::to_string(r.status) +
                                     "): check --node-token"));
  }
  if (r.status == 400) return Fail(Status::Invalid("the cluster refused this node's description: " + message()));
  if (r.status / 100 != 2) return RetryRegister("HTTP " + std::to_string(r.status) + ": " + message());
  auto reg = ParseRegistration(r.body);
  if (!reg.ok()) return RetryRegister(reg.status().message());
  OnRegistered(*reg);
}

std::chrono::milliseconds NodeAgent::NextBackoff() {
  backoff_ = backoff_.count() == 0 ? opts_.register_backoff_min : std::min(backoff_ * 2, opts_.register_backoff_max);
  // Half fixed, half random: nodes that lost the cluster together do not come back in lockstep.
  auto half = backoff_.count() / 2;
  return std::chrono::milliseconds(half + std::uniform_int_distribution<int64_t>(0, half)(rng_));
}

void NodeAgent::RetryRegister(const std::string& why) {
  auto delay = NextBackoff();
  spdlog::warn("msg=\"registration failed, retrying\" host={} retry_ms={} error=\"{}\"", info_.host, delay.count(), why);
  register_timer_.expires_after(delay);
  register_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!ec && *alive) Register();
  });
}

void NodeAgent::OnRegistered(const Registration& reg) {
  ++registrations_;
  if (opts_.report_interval.count() > 0) report_interval_ = opts_.report_interval;
  else report_interval_ = std::chrono::seconds(reg.report_interval_s > 0 ? reg.report_interval_s : 2);
  if (id_ != reg.id) {
    if (!id_.empty()) spdlog::warn("msg=\"the cluster assigned a new id\" host={} old={} new={}", info_.host, id_, reg.id);
    id_ = reg.id;
    PersistId();
  }
  topic_prefix_ = "nodes/" + id_ + "/";
  if (opts_.on_subnet) opts_.on_subnet(reg.subnet);
  spdlog::log(opts_.routine_log_level, "msg=\"registered\" host={} id={} broker={}:{}", info_.host, id_,
               reg.broker_host.empty() ? cluster_.host : reg.broker_host, reg.broker_port);
  ConnectMqtt(reg);
}

void NodeAgent::PersistId() {
  if (opts_.data_dir.empty()) return;
  json j = {{"id", id_}, {"host", info_.host}, {"cluster", opts_.cluster_url}};
  if (Status s = WriteFileAtomic(opts_.data_dir + "/node.json", j.dump() + "\n"); !s.ok()) {
    spdlog::warn("msg=\"cannot store the node id\" error=\"{}\"", s.message());
  }
}

// --- MQTT ---

void NodeAgent::ConnectMqtt(const Registration& reg) {
  mqtt_.reset();  // a previous session (old id or credentials) ends with DISCONNECT: no will
  MqttOptions o;
  o.host = reg.broker_host.empty() ? cluster_.host : reg.broker_host;
  o.port = reg.broker_port;
  o.client_id = id_ + "-ne";
  o.username = reg.username;
  o.password = reg.password;
  o.keepalive_s = opts_.mqtt_keepalive_s;
  o.reconnect_max_s = std::max(1u, opts_.mqtt_reconnect_max_s);
  o.driver = opts_.mqtt_driver;
  o.will = MqttWill{topic_prefix_ + "will", WillMessage(id_), 1, false};
  refusals_ = 0;
  mqtt_ = std::make_unique<MqttClient>(ex_);
  mqtt_->OnConnect([this](bool ok, const std::string& reason) { OnMqttConnect(ok, reason); });
  mqtt_->OnDisconnect([this](bool unexpected) {
    if (unexpected) spdlog::warn("msg=\"broker connection lost, reconnecting\" id={}", id_);
  });
  mqtt_->OnMessage([this](const std::string& t, const std::string& p) { OnMessage(t, p); });
  if (Status s = mqtt_->Subscribe(topic_prefix_ + "control/#", 1); !s.ok()) {
    mqtt_.reset();
    return Fail(s);  // only a malformed id gets here, and ParseRegistration refuses those
  }
  if (Status s = mqtt_->Connect(o); !s.ok()) {
    mqtt_.reset();
    RetryRegister("mqtt: " + s.message());
  }
}

void NodeAgent::OnMqttConnect(bool ok, const std::string& reason) {
  if (ok) {
    refusals_ = 0;
    backoff_ = std::chrono::milliseconds(0);
    spdlog::log(opts_.routine_log_level, "msg=\"connected to the broker\" id={}", id_);
    full_report_due_ = true;
    Report();  // the cluster hears from us at once, not one interval later
    ArmReport();
    return;
  }
  ++refusals_;
  spdlog::warn("msg=\"the broker refused the connection\" id={} reason=\"{}\" refusals={}", id_, reason, refusals_);
  if (refusals_ < opts_.refusals_before_reregister) return;  // libmosquitto retries by itself
  mqtt_.reset();  // allowed inside the client's own callback
  RetryRegister("the broker keeps refusing our credentials");
}

void NodeAgent::OnMessage(const std::string& topic, const std::string& payload) {
  const std::string control = topic_prefix_ + "control/";
  if (topic.rfind(control, 0) != 0) return;
  std::string_view action(topic);
  action.remove_prefix(control.size());
  if (action == "deploy") HandleDeploy(payload);
  else if (action == "delete") HandleDelete(payload);
  else if (action == "logs") HandleLogs(payload);
  else spdlog::warn("msg=\"dropped control message\" topic={} error=\"unknown action\"", topic);
}

void NodeAgent::HandleDeploy(const std::string& payload) {
  auto spec = ParseDeploy(payload);
  if (!spec.ok()) {
    spdlog::warn("msg=\"dropped control message\" topic={}control/deploy error=\"{}\"", topic_prefix_,
                 spec.status().message());
    return;
  }
  spdlog::log(opts_.routine_log_level, "msg=deploy instance={} image={}", spec->key.ContainerName(), spec->image);
  Status s = runtime_.Deploy(*spec);
  if (s.ok()) return;  // events follow
  if (s.code() == Code::kConflict) {
    // Already there: say where it stands, change nothing.
    for (const auto& i : runtime_.List()) {
      if (i.key == spec->key) return PublishJob(i);
    }
  }
  PublishJob({spec->key, std::string(st::kFailed), s.message()});
}

void NodeAgent::HandleDelete(const std::string& payload) {
  auto key = ParseDelete(payload);
  if (!key.ok()) {
    spdlog::warn("msg=\"dropped control message\" topic={}control/delete error=\"{}\"", topic_prefix_,
                 key.status().message());
    return;
  }
  spdlog::log(opts_.routine_log_level, "msg=delete instance={}", key->ContainerName());
  Status s = runtime_.Remove(*key);
  if (s.code() == Code::kNotFound) PublishJob({*key, std::string(st::kUndeployed), ""});
  else if (!s.ok()) spdlog::warn("msg=\"cannot remove\" instance={} error=\"{}\"", key->ContainerName(), s.message());
}

void NodeAgent::HandleLogs(const std::string& payload) {
  auto req = ParseLogsRequest(payload);
  if (!req.ok()) {
    spdlog::warn("msg=\"dropped control message\" topic={}control/logs error=\"{}\"", topic_prefix_,
                 req.status().message());
    return;
  }
  if (!mqtt_) return;
  auto logs = runtime_.Logs(req->key, req->max_bytes);
  // QoS 1 like the request: the cluster is waiting for exactly this message.
  if (Status p = mqtt_->Publish(topic_prefix_ + "logs", LogsReply(*req, logs), 1); !p.ok()) {
    spdlog::warn("msg=\"cannot publish logs\" instance={} error=\"{}\"", req->key.ContainerName(), p.message());
  }
}

void NodeAgent::OnInstanceEvent(const InstanceStatus& s) {
  spdlog::log(opts_.routine_log_level, "msg=\"instance status\" instance={} status={} detail=\"{}\"", s.key.ContainerName(), s.status, s.detail);
  const bool passing = s.status == st::kCreating || s.status == st::kCreated;
  if (!passing || opts_.passing_hold.count() <= 0) return PublishJob(s);
  const auto due = std::chrono::steady_clock::now() + opts_.passing_hold;
  auto [it, fresh] = held_.try_emplace(s.key, HeldStatus{s, due});
  if (!fresh) {
    it->second.status = s;  // CREATING -> CREATED: still due when CREATING was
    return;
  }
  held_order_.emplace_back(s.key, due);
  ArmHeld();
}

void NodeAgent::ArmHeld() {
  if (held_armed_ || held_order_.empty() || stopped_) return;
  held_armed_ = true;
  held_timer_.expires_at(held_order_.front().second);
  held_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    held_armed_ = false;
    const auto now = std::chrono::steady_clock::now();
    while (!held_order_.empty() && held_order_.front().second <= now) {
      auto [key, due] = std::move(held_order_.front());
      held_order_.pop_front();
      auto it = held_.find(key);
      if (it == held_.end() || it->second.due != due) continue;  // superseded meanwhile
      InstanceStatus status = std::move(it->second.status);
      held_.erase(it);
      SendJob(status);
    }
    ArmHeld();
  });
}

void NodeAgent::PublishJob(const InstanceStatus& s) {
  if (!held_.empty()) held_.erase(s.key);
  SendJob(s);
}

// Without a session (while registering again) the change is not queued anywhere: the next
// information report lists every instance with its status, which is what the cluster reconciles on.
void NodeAgent::SendJob(const InstanceStatus& s) {
  if (!mqtt_) return;
  if (Status p = mqtt_->Publish(topic_prefix_ + "job", JobMessage(s, info_.ip), 1); !p.ok()) {
    spdlog::warn("msg=\"cannot publish job status\" error=\"{}\"", p.message());
  }
}

// --- reports ---

void NodeAgent::ArmReport() {
  if (report_armed_ || stopped_) return;
  report_armed_ = true;
  report_timer_.expires_after(report_interval_);
  report_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    report_armed_ = false;
    Report();
    ArmReport();
  });
}

void NodeAgent::Report() {
  if (!connected()) return;  // a stale report queued for later is worth nothing
  auto usage = runtime_.Usage();
  NodeUsage node = probe_.Sample(usage);
  // The instance list and their usage go with the first report after a connect and with every
  // kFullReportEvery-th report; the reports in between carry the node's resources only. Changes
  // need no list: every one is its own QoS 1 event on nodes/<id>/job. The list is for what events
  // cannot tell (a cluster that lost its state, a node that comes back), and a list sent with every
  // change made most reports of a deploy burst full ones.
  const bool full = full_report_due_ || ++reports_since_full_ >= kFullReportEvery;
  std::vector<InstanceStatus> instances;
  if (full) {
    full_report_due_ = false;
    reports_since_full_ = 0;
    instances = runtime_.List();
  }
  // QoS 0: a lost periodic report is superseded by the next one, and the cluster reads reports at
  // QoS 0 anyway; acknowledging each would double the broker's packets for them.
  Status s = mqtt_->Publish(topic_prefix_ + "information", InformationMessage(node, full ? &instances : nullptr), 0);
  if (s.ok() && full && !instances.empty())
    s = mqtt_->Publish(topic_prefix_ + "jobs/resources", ResourcesMessage(usage), 0);
  if (!s.ok()) spdlog::warn("msg=\"cannot publish report\" error=\"{}\"", s.message());
}

}  // namespace oak::node
