#include "cluster/cluster_server.h"

#include <cmath>
#include <cstdio>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "cluster/broker.h"
#include "cluster/cluster_api.h"
#include "cluster/log_requests.h"
#include "cluster/manager.h"
#include "cluster/node_protocol.h"
#include "cluster/node_registry.h"
#include "cluster/root_link.h"
#include "cluster/store.h"
#include "common/fs.h"
#include "common/host_port.h"
#include "common/http_server.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/mqtt.h"

namespace oak::cluster {

namespace asio = boost::asio;

namespace {

class MqttBus final : public Bus {
 public:
  explicit MqttBus(MqttClient& c) : c_(c) {}
  Status Publish(std::string_view topic, std::string_view payload) override { return c_.Publish(topic, payload, 1); }

 private:
  MqttClient& c_;
};

struct MqttTarget {
  std::string host, user, password;
  uint16_t port = 1883;
};

// mqtt://[user[:password]@]host[:port]
Result<MqttTarget> ParseMqttUrl(const std::string& url) {
  constexpr std::string_view kScheme = "mqtt://";
  if (url.rfind(kScheme, 0) != 0) return Status::Invalid("mqtt-url: expected mqtt://[user:password@]host:port");
  std::string rest = url.substr(kScheme.size());
  MqttTarget t;
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    t.user = cred.substr(0, colon);
    if (colon != std::string::npos) t.password = cred.substr(colon + 1);
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find(':') == std::string::npos) rest += ":1883";
  auto hp = ParseHostPort(rest, "mqtt-url");
  if (!hp.ok()) return hp.status();
  if (hp->host.empty()) return Status::Invalid("mqtt-url: missing host");
  t.host = hp->host;
  t.port = hp->port;
  return t;
}

// Every 250 ms: the restart back-off is only as precise as the tick. The node-count check for an
// early heartbeat stays once a second.
asio::awaitable<void> TickLoop(Manager& manager, RootLink& root) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (uint64_t turn = 1;; ++turn) {
    timer.expires_after(std::chrono::milliseconds(250));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    manager.Tick();
    if (turn % 4 == 0) root.HeartbeatIfNodesChanged();
  }
}

}  // namespace

int RunCluster(const ClusterOptions& o) {
  if (Status s = InitLogging(o.log_level, "cluster"); !s.ok()) {
    fprintf(stderr, "oak cluster: %s\n", s.message().c_str());
    return 2;
  }
  auto fail = [](const Status& s) {
    spdlog::critical("msg=\"cannot start\" error=\"{}\"", s.message());
    return 1;
  };
  if (o.data_dir.empty()) return fail(Status::Invalid("--data-dir is required"));
  if (o.name.empty()) return fail(Status::Invalid("--name is required"));
  if (o.root_url.empty()) return fail(Status::Invalid("--root is required"));
  if (o.cluster_token.empty()) return fail(Status::Invalid("--cluster-token is required (the root's DATA_DIR/cluster.token)"));
  auto listen = ParseHostPort(o.listen, "listen");
  if (!listen.ok()) return fail(listen.status());
  auto mqtt_listen = ParseHostPort(o.mqtt_listen, "mqtt-listen");
  if (!mqtt_listen.ok()) return fail(mqtt_listen.status());
  auto policy = scheduler::ParsePolicy(o.policy);
  if (!policy.ok()) return fail(policy.status());
  if (Status s = EnsureDir(o.data_dir, 0700); !s.ok()) return fail(s);
  auto store = OpenSqliteStore(o.data_dir + "/cluster.db");
  if (!store.ok()) return fail(store.status());
  std::string node_token = o.node_token;
  if (node_token.empty()) {
    auto t = LoadOrCreateSecret(o.data_dir + "/node.token", 24);
    if (!t.ok()) return fail(t.status());
    node_token = *t;
    spdlog::info("msg=\"node join token\" path={}/node.token", o.data_dir);
  }

  asio::io_context io;
  SystemClock clock;

  // The broker: ours (supervised mosquitto) unless the operator runs one.
  std::unique_ptr<Broker> broker;
  MqttOptions mopts;
  std::string mqtt_advertise_host;
  uint16_t mqtt_advertise_port = 0;
  if (o.mqtt_url.empty()) {
    BrokerOptions bopts;
    bopts.data_dir = o.data_dir;
    bopts.listen_host = mqtt_listen->host.empty() ? "0.0.0.0" : mqtt_listen->host;
    bopts.port = mqtt_listen->port;
    bopts.admin_password = RandomHex(16);
    broker = std::make_unique<Broker>(io, bopts);
    if (Status s = broker->Start(); !s.ok()) return fail(s);
    mopts.host = IsWildcardHost(bopts.listen_host) ? "127.0.0.1" : bopts.listen_host;
    mopts.port = bopts.port;
    mopts.username = bopts.admin_user;
    mopts.password = bopts.admin_password;
    mqtt_advertise_host = IsWildcardHost(bopts.listen_host) ? "" : bopts.listen_host;
    mqtt_advertise_port = bopts.port;
    // Our own broker on this host, restarted within a fraction of a second when it dies: retry
    // every second rather than backing off to 10 s, which once left node silence uncounted for 7 s.
    mopts.reconnect_max_s = 1;
  } else {
    auto t = ParseMqttUrl(o.mqtt_url);
    if (!t.ok()) return fail(t.status());
    mopts.host = t->host;
    mopts.port = t->port;
    mopts.username = t->user;
    mopts.password = t->password;
    mqtt_advertise_host = t->host;
    mqtt_advertise_port = t->port;
  }
  mopts.client_id = "oak-cluster-" + RandomHex(4);
  // libmosquitto walks its list of unacknowledged messages at every PUBACK, so a window of
  // 10,000 made each acknowledgement cost thousands of steps once a burst filled it (the
  // client's network thread then used most of a core); 256 keeps loopback round trips busy.
  mopts.max_inflight = 256;
  // The session runs on this loop, like everything else of the cluster: no network thread whose
  // every message and every publish crosses threads (a wake-up each way).
  mopts.driver = MqttDriver::kExecutor;
  MqttClient mqtt(io.get_executor());

  NodeRegistry nodes(**store, clock, o.node_timeout_s * 1000);
  if (!o.location.empty()) {
    double lat = 0, lon = 0;
    if (std::sscanf(o.location.c_str(), "%lf,%lf", &lat, &lon) != 2 || std::fabs(lat) > 90 || std::fabs(lon) > 180)
      return fail(Status::Invalid("location: expected \"lat,long,radius_km\""));
    nodes.SetDefaultLocation(scheduler::GeoPoint{lat, lon});
  }
  if (Status s = nodes.Load(); !s.ok()) return fail(s);
  MqttBus bus(mqtt);
  Manager manager(**store, nodes, bus, clock,
                  ManagerOptions{.policy = *policy,
                                 .placement_grace_ms = (o.node_timeout_s + 2) * 1000,
                                 // Instance rows changed by node events wait up to 20 ms, so
                                 // that a burst writes them in few transactions (deploys are
                                 // written before their answer regardless).
                                 .defer = [&io](std::function<void()> fn) {
                                   auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(20));
                                   t->async_wait([t, fn = std::move(fn)](const boost::system::error_code&) { fn(); });
                                 },
                                 // The steps of a start (CREATING, RUNNING) share one write.
                                 .lazy_write_ms = 1'000});
  if (Status s = manager.Load(); !s.ok()) return fail(s);

  LogRequests logs(io.get_executor(), bus, std::chrono::milliseconds(o.logs_timeout_ms));
  mqtt.OnMessage([&](const std::string& topic, const std::string& payload) {
    auto [node_id, rest] = SplitNodeTopic(topic);
    if (rest == "logs") return logs.OnReply(node_id, payload);
    manager.OnMessage(topic, payload);
  });
  mqtt.OnConnect([&](bool ok, const std::string& reason) {
    if (ok) spdlog::info("msg=\"connected to the broker\" host={} port={}", mopts.host, mopts.port);
    else spdlog::warn("msg=\"broker refused the connection\" reason=\"{}\"", reason);
    if (ok) nodes.SetBrokerConnected(true);
  });
  mqtt.OnDisconnect([&](bool unexpected) {
    if (!unexpected) return;
    spdlog::warn("msg=\"lost the broker connection; node silence is not counted until it is back\"");
    nodes.SetBrokerConnected(false);
  });
  // Periodic reports are superseded by the next one: QoS 0 to the cluster halves the broker's work
  // for them. Instance events and wills must not be lost: QoS 1.
  mqtt.Subscribe("nodes/+/information", 0);
  mqtt.Subscribe("nodes/+/jobs/resources", 0);
  mqtt.Subscribe("nodes/+/job", 1);
  mqtt.Subscribe("nodes/+/will", 1);
  mqtt.Subscribe("nodes/+/logs", 1);
  if (Status s = mqtt.Connect(mopts); !s.ok()) return fail(s);

  HttpMetrics http_metrics;
  HttpServerOptions sopts;
  sopts.body_limit = o.body_limit;
  sopts.cors_origins = {};
  Router router;
  HttpServer server(io, router, sopts);
  server.SetObserver([&](const std::string& route, std::string_view method, unsigned status, double secs) {
    http_metrics.Observe(route, std::string(method), status, secs);
    spdlog::debug("msg=request method={} route=\"{}\" status={} ms={:.3f}", method, route, status, secs * 1000);
  });
  auto port = server.Listen(listen->host, listen->port);
  if (!port.ok()) return fail(port.status());

  RootLinkOptions ropts;
  ropts.root_url = o.root_url;
  ropts.cluster_token = o.cluster_token;
  ropts.name = o.name;
  ropts.location = o.location;
  ropts.manager_url = o.advertise_url;
  if (ropts.manager_url.empty() && !IsWildcardHost(listen->host))
    ropts.manager_url = "http://" + listen->host + ":" + std::to_string(*port);
  ropts.manager_port = *port;
  ropts.heartbeat = std::chrono::seconds(o.heartbeat_interval_s);
  RootLink root(io, **store, nodes, manager, ropts);
  manager.OnChange([&](const InstanceKey& k) { root.MarkDirty(k); });

  ClusterApi api(ClusterApiDeps{io, nodes, manager, root, logs, broker.get(), http_metrics, node_token, mqtt_advertise_host,
                                mqtt_advertise_port, o.report_interval_s});
  api.Register(router);
  spdlog::info("msg=\"listening\" addr={}:{} mqtt={}:{} data_dir={}", listen->host, *port, mopts.host, mopts.port,
               o.data_dir);
  if (!o.ready_file.empty()) {
    if (Status s = WriteFileAtomic(o.ready_file, listen->host + ":" + std::to_string(*port) + "\n", 0644); !s.ok())
      return fail(s);
  }
  root.Start();
  asio::co_spawn(io, TickLoop(manager, root), asio::detached);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    spdlog::info("msg=\"stopping\" signal={}", sig);
    root.Stop();
    server.Stop();
    mqtt.Disconnect();
    if (broker) broker->Stop();
    io.stop();
  });
  io.run();
  manager.Flush();
  return 0;
}

}  // namespace oak::cluster
