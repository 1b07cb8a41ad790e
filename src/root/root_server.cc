#include "root/root_server.h"

#include <sys/stat.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/http_server.h"
#include "common/ids.h"
#include "common/log.h"
#include "root/api.h"
#include "root/sqlite_store.h"

namespace oak::root {

namespace asio = boost::asio;

namespace {

Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return Status::Invalid("listen: expected HOST:PORT");
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(s.substr(colon + 1), &used);
    if (used != s.size() - colon - 1) port = -1;
  } catch (...) {
  }
  if (port < 0 || port > 65535) return Status::Invalid("listen: bad port in '" + s + "'");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

Status BootstrapAdmin(Store& store, const Clock& clock, const std::string& password) {
  auto existing = store.GetUserByName("Admin");
  if (existing.ok()) return Status::Ok();
  if (existing.status().code() != Code::kNotFound) return existing.status();
  std::string pw = password;
  if (pw.empty()) {
    pw = "Admin";
    spdlog::warn("msg=\"bootstrap user Admin has the default password 'Admin'; set --admin-password\"");
  }
  auto hash = HashPassword(pw);
  if (!hash.ok()) return hash.status();
  UserRecord admin{NewObjectId(), "Admin", "", *hash,
                   {std::string(kRoleAdmin), std::string(kRoleAppProvider), std::string(kRoleInfraProvider)},
                   "", clock.NowMs()};
  OAK_RETURN_IF_ERROR(store.CreateUser(admin));
  spdlog::info("msg=\"created bootstrap user\" user=Admin");
  return Status::Ok();
}

asio::awaitable<void> LivenessLoop(ClusterRegistry& clusters, Dispatcher& dispatcher) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // Ticks on a fixed schedule, so that the time the work below takes does not make the next
  // tick look late to NoteTick.
  timer.expires_after(std::chrono::seconds(1));
  for (;;) {
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    const auto now = asio::steady_timer::clock_type::now();
    timer.expires_at(std::max(timer.expiry(), now - std::chrono::milliseconds(500)) + std::chrono::seconds(1));
    clusters.NoteTick(1000);
    clusters.CheckLiveness();
    dispatcher.FailOver();
    dispatcher.Maintain();
  }
}

}  // namespace

int RunRoot(const RootOptions& o) {
  if (Status s = InitLogging(o.log_level, "root"); !s.ok()) {
    fprintf(stderr, "oak root: %s\n", s.message().c_str());
    return 2;
  }
  auto fail = [](const Status& s) {
    spdlog::critical("msg=\"cannot start\" error=\"{}\"", s.message());
    return 1;
  };
  if (o.data_dir.empty()) return fail(Status::Invalid("--data-dir is required"));
  auto listen = SplitHostPort(o.listen);
  if (!listen.ok()) return fail(listen.status());
  auto policy = scheduler::ParsePolicy(o.policy);
  if (!policy.ok()) return fail(policy.status());
  if (Status s = EnsureDir(o.data_dir, 0700); !s.ok()) return fail(s);

  auto store = SqliteStore::Open(o.data_dir + "/root.db");
  if (!store.ok()) return fail(store.status());
  auto jwt_secret = LoadOrCreateSecret(o.data_dir + "/jwt.key", 64);
  if (!jwt_secret.ok()) return fail(jwt_secret.status());
  std::string cluster_token = o.cluster_token;
  if (cluster_token.empty()) {
    auto t = LoadOrCreateSecret(o.data_dir + "/cluster.token", 24);
    if (!t.ok()) return fail(t.status());
    cluster_token = *t;
    spdlog::info("msg=\"cluster join token\" path={}/cluster.token", o.data_dir);
  }
  SystemClock clock;
  if (Status s = BootstrapAdmin(**store, clock, o.admin_password); !s.ok()) return fail(s);

  asio::io_context io;  // not hint 1: the hashing pool posts results back, which needs locking
  asio::thread_pool hash_pool(1);
  TokenService tokens(*jwt_secret, clock, o.access_ttl_s, o.refresh_ttl_s);
  ClusterRegistry clusters(**store, clock, o.cluster_timeout_s * 1000);
  if (Status s = clusters.Load(); !s.ok()) return fail(s);
  GroupCommit commit(io, **store);
  Dispatcher dispatcher(io, **store, commit, clusters, clock,
                        DispatchOptions{.policy = *policy,
                                        .resume_grace = std::chrono::seconds(o.heartbeat_interval_s + 1)});
  HttpMetrics http_metrics;
  RootApi api(ApiDeps{io, hash_pool, **store, commit, tokens, clusters, dispatcher, clock, http_metrics, cluster_token,
                      o.heartbeat_interval_s});
  Router router;
  api.Register(router);

  HttpServerOptions sopts;
  sopts.body_limit = o.body_limit;
  sopts.cors_origins = o.cors_origins;
  HttpServer server(io, router, sopts);
  server.SetObserver([&](const std::string& route, std::string_view method, unsigned status, double secs) {
    http_metrics.Observe(route, std::string(method), status, secs);
    spdlog::debug("msg=request method={} route=\"{}\" status={} ms={:.3f}", method, route, status, secs * 1000);
  });
  auto port = server.Listen(listen->first, listen->second);
  if (!port.ok()) return fail(port.status());
  spdlog::info("msg=\"listening\" addr={}:{} data_dir={}", listen->first, *port, o.data_dir);
  if (!o.ready_file.empty()) {
    if (Status s = WriteFileAtomic(o.ready_file, listen->first + ":" + std::to_string(*port) + "\n", 0644); !s.ok())
      return fail(s);
  }

  if (Status s = dispatcher.Resume(); !s.ok()) return fail(s);
  asio::co_spawn(io, LivenessLoop(clusters, dispatcher), asio::detached);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    spdlog::info("msg=\"stopping\" signal={}", sig);
    server.Stop();
    io.stop();
  });
  io.run();
  hash_pool.join();
  return 0;
}

}  // namespace oak::root
