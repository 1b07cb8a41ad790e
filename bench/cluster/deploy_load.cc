// Deploys instances through the root's API as fast as the root takes them and measures, for each
// instance, the time from its API call to RUNNING at the root (the instance's
// last_modified_timestamp once it is RUNNING). Prints one JSON object on stdout.
//
//   oak_bench_deploy --root URL --password PW [--services 100] [--instances 100000]
//                    [--concurrency 64] [--timeout 600]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "common/http_pool.h"

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

double NowS() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Ctx {
  oak::Url url;
  std::string password;
  std::string token;
  std::vector<std::string> services;
  int64_t total = 0;
  std::atomic<int64_t> next{0};
  int64_t acked = 0, refused = 0;
  // (service index, instance number) -> API call time
  std::map<std::pair<size_t, int64_t>, double> sent_at;
  std::string first_error;
  std::unique_ptr<oak::HttpPool> pool;  // kept-alive connections; null: one connection per call
};

oak::Result<oak::ClientResponse> Call(const oak::Url& url, http::verb method, const std::string& target,
                                      const std::string& token, const std::string& body) {
  oak::ClientRequest req;
  req.method = method;
  req.target = target;
  req.bearer = token;
  req.body = body;
  req.timeout = std::chrono::seconds(60);
  return oak::HttpFetchSync(url, std::move(req));
}

// Access tokens live 10 minutes; a long run logs in again when one expires.
bool Login(Ctx* ctx) {
  auto r = Call(ctx->url, http::verb::post, "/api/auth/login", "",
                json{{"username", "Admin"}, {"password", ctx->password}}.dump());
  if (!r.ok() || r->status != 200) return false;
  ctx->token = json::parse(r->body)["token"];
  return true;
}

asio::awaitable<oak::Result<oak::ClientResponse>> Fetch(Ctx* ctx, oak::ClientRequest req) {
  if (ctx->pool) co_return co_await ctx->pool->Fetch(ctx->url, std::move(req));
  co_return co_await oak::HttpFetch(co_await asio::this_coro::executor, ctx->url, std::move(req));
}

asio::awaitable<void> Worker(Ctx* ctx) {
  for (;;) {
    int64_t i = ctx->next++;
    if (i >= ctx->total) co_return;
    size_t svc = static_cast<size_t>(i) % ctx->services.size();
    oak::ClientRequest req;
    req.method = http::verb::post;
    req.target = "/api/service/" + ctx->services[svc] + "/instance";
    req.bearer = ctx->token;
    req.body = "{}";
    req.timeout = std::chrono::seconds(60);
    double t0 = NowS();
    auto res = co_await Fetch(ctx, std::move(req));
    if (res.ok() && res->status == 401 && Login(ctx)) {
      req = oak::ClientRequest{};
      req.method = http::verb::post;
      req.target = "/api/service/" + ctx->services[svc] + "/instance";
      req.bearer = ctx->token;
      req.body = "{}";
      req.timeout = std::chrono::seconds(60);
      t0 = NowS();
      res = co_await Fetch(ctx, std::move(req));
    }
    if (!res.ok() || res->status != 200) {
      ++ctx->refused;
      if (ctx->first_error.empty())
        ctx->first_error = res.ok() ? std::to_string(res->status) + " " + res->body : res.status().message();
      continue;
    }
    json j = json::parse(res->body, nullptr, false);
    if (!j.is_object() || !j.contains("instance_number")) continue;
    ++ctx->acked;
    ctx->sent_at[{svc, j["instance_number"].get<int64_t>()}] = t0;
  }
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Deploy burst through the root API, timed to RUNNING"};
  std::string root_url, password, prefix = "bench";
  int services = 100, concurrency = 64;
  int64_t instances = 100'000;
  double timeout_s = 600;
  bool no_keep_alive = false;
  app.add_option("--root", root_url)->required();
  app.add_option("--password", password)->required();
  app.add_option("--services", services);
  app.add_option("--instances", instances);
  app.add_option("--concurrency", concurrency);
  app.add_option("--timeout", timeout_s);
  app.add_option("--prefix", prefix, "Application name prefix");
  app.add_flag("--no-keep-alive", no_keep_alive, "One connection per deploy call instead of kept-alive ones");
  CLI11_PARSE(app, argc, argv);

  Ctx ctx;
  auto url = oak::ParseUrl(root_url);
  if (!url.ok()) return 2;
  ctx.url = *url;
  ctx.password = password;
  if (!Login(&ctx)) {
    std::fprintf(stderr, "login failed\n");
    return 1;
  }

  // 10 services per application, several applications per request.
  const int per_app = 10;
  json apps = json::array();
  for (int a = 0; a * per_app < services; ++a) {
    json ms = json::array();
    for (int s = 0; s < per_app && a * per_app + s < services; ++s)
      ms.push_back({{"microservice_name", "s" + std::to_string(s)}, {"microservice_namespace", "b"},
                    {"virtualization", "container"}, {"memory", 1}, {"vcpus", 0}, {"storage", 0},
                    {"code", "docker.io/library/busybox:latest"}, {"cmd", {"sleep", "3600"}}});
    apps.push_back({{"application_name", prefix + std::to_string(a)}, {"application_namespace", "b"},
                    {"application_desc", "placement benchmark"}, {"microservices", ms}});
  }
  auto created = Call(ctx.url, http::verb::post, "/api/application/", ctx.token,
                      json{{"sla_version", "v2.0"}, {"customerID", "Admin"}, {"applications", apps}}.dump());
  if (!created.ok() || created->status != 200) {
    std::fprintf(stderr, "create failed: %s\n", created.ok() ? created->body.c_str() : created.status().message().c_str());
    return 1;
  }
  for (auto& a : json::parse(created->body)) {
    std::string app_id = a["_id"]["$oid"];
    auto svcs = Call(ctx.url, http::verb::get, "/api/services/" + app_id, ctx.token, "");
    if (!svcs.ok() || svcs->status != 200) return 1;
    for (auto& s : json::parse(svcs->body)) ctx.services.push_back(s["_id"]["$oid"]);
  }
  ctx.total = instances;

  asio::io_context io(1);
  if (!no_keep_alive)
    ctx.pool = std::make_unique<oak::HttpPool>(
        io.get_executor(), oak::HttpPoolOptions{.max_per_host = static_cast<size_t>(concurrency)});
  double start = NowS();
  for (int i = 0; i < concurrency; ++i) asio::co_spawn(io, Worker(&ctx), asio::detached);
  io.run();
  double api_done = NowS();
  ctx.pool.reset();

  // Poll services until every acknowledged instance is RUNNING (or the timeout passes).
  std::vector<double> latencies;
  latencies.reserve(static_cast<size_t>(ctx.acked));
  std::vector<bool> done(ctx.services.size(), false);
  std::map<std::string, int64_t> final_status;
  double last_running = start;
  size_t remaining = ctx.services.size();
  while (remaining > 0 && NowS() - start < timeout_s) {
    for (size_t s = 0; s < ctx.services.size(); ++s) {
      if (done[s]) continue;
      auto r = Call(ctx.url, http::verb::get, "/api/service/" + ctx.services[s], ctx.token, "");
      if (r.ok() && r->status == 401) Login(&ctx);
      if (!r.ok() || r->status != 200) continue;
      json doc = json::parse(r->body, nullptr, false);
      int64_t running = 0, listed = 0;
      std::vector<double> lat;
      std::map<std::string, int64_t> statuses;
      for (auto& inst : doc["instance_list"]) {
        ++listed;
        std::string st = inst.value("status", "");
        statuses[st]++;
        if (st != "RUNNING") continue;
        ++running;
        auto it = ctx.sent_at.find({s, inst.value("instance_number", int64_t{-1})});
        double t = inst.value("last_modified_timestamp", 0.0);
        if (it != ctx.sent_at.end()) lat.push_back(t - it->second);
        last_running = std::max(last_running, t);
      }
      bool settled = true;
      for (auto& [st, n] : statuses)
        if (st == "REQUESTED" || st == "CLUSTER_SCHEDULED" || st == "NODE_SCHEDULED" || st == "CREATING" ||
            st == "CREATED")
          settled = false;
      if (settled && listed > 0) {
        done[s] = true;
        --remaining;
        latencies.insert(latencies.end(), lat.begin(), lat.end());
        for (auto& [st, n] : statuses) final_status[st] += n;
      }
    }
    if (remaining > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  int64_t running = final_status["RUNNING"];
  double span = last_running - start;
  json out{{"instances_requested", instances},
           {"instances_acknowledged", ctx.acked},
           {"api_refused", ctx.refused},
           {"first_error", ctx.first_error},
           {"services", ctx.services.size()},
           {"concurrency", concurrency},
           {"api_seconds", api_done - start},
           {"api_rate_per_s", ctx.acked / std::max(1e-9, api_done - start)},
           {"running", running},
           {"final_statuses", final_status},
           {"unsettled_services", remaining},
           {"seconds_to_all_running", span},
           {"running_rate_per_s", running / std::max(1e-9, span)},
           {"latency_p50_s", Percentile(latencies, 0.50)},
           {"latency_p99_s", Percentile(latencies, 0.99)},
           {"latency_max_s", latencies.empty() ? 0.0 : *std::max_element(latencies.begin(), latencies.end())}};
  std::printf("%s\n", out.dump().c_str());
  return running == ctx.acked && ctx.acked == instances ? 0 : 1;
}
