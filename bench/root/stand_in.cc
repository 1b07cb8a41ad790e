#include "stand_in.h"

#include <algorithm>
#include <climits>

#include "common/http_client.h"

namespace oak::bench {

using nlohmann::json;
namespace http = boost::beast::http;

StandIn::StandIn(boost::asio::io_context& io, std::string root_url, std::string join_token, std::string name)
    : root_url_(std::move(root_url)), join_token_(std::move(join_token)), name_(std::move(name)) {
  router_.Add(http::verb::post, "/api/service/{}/{}", [this](HttpRequest& req) { return Deploy(req); });
  router_.Add(http::verb::delete_, "/api/service/{}/{}", [this](HttpRequest& req) { return Remove(req); });
  server_ = std::make_unique<HttpServer>(io, router_, HttpServerOptions{});
}

Status StandIn::Listen() {
  auto port = server_->Listen("127.0.0.1", 0);
  if (!port.ok()) return port.status();
  url_ = "http://127.0.0.1:" + std::to_string(*port);
  return Status::Ok();
}

HttpResponse StandIn::Deploy(HttpRequest& req) {
  {
    std::lock_guard lock(mu_);
    if (secret_.empty() || req.BearerToken() != secret_) return HttpResponse::Error(401, "not the root");
  }
  // A real cluster reads the service document; so does the stand-in, to cost about the same.
  auto body = json::parse(req.body(), nullptr, false);
  if (!body.is_object() || !body.contains("job_name")) return HttpResponse::Error(400, "not a service document");
  InstanceKey key{req.params[0], std::stoll(req.params[1])};
  std::lock_guard lock(mu_);
  ++received_;
  if (held_.insert(key).second) fresh_.push_back(std::move(key));  // deploys are idempotent
  return HttpResponse::RawJson(200, R"({"message":"accepted"})");
}

HttpResponse StandIn::Remove(HttpRequest& req) {
  std::lock_guard lock(mu_);
  if (secret_.empty() || req.BearerToken() != secret_) return HttpResponse::Error(401, "not the root");
  const std::string& job = req.params[0];
  int64_t n = std::stoll(req.params[1]);
  for (auto it = held_.lower_bound({job, INT64_MIN}); it != held_.end() && it->first == job;)
    it = n == -1 || it->second == n ? held_.erase(it) : std::next(it);
  return HttpResponse::RawJson(200, R"({"message":"removed"})");
}

Status StandIn::Register() {
  auto url = ParseUrl(root_url_);
  if (!url.ok()) return url.status();
  ClientRequest req;
  req.method = http::verb::post;
  req.target = "/api/clusters/register";
  req.bearer = join_token_;
  req.body = json{{"cluster_name", name_},
                  {"cluster_location", "48.1,11.5,50"},
                  {"manager_url", url_},
                  {"virtualization", {"container"}},
                  {"supported_addons", json::array()}}
                 .dump();
  auto res = HttpFetchSync(*url, std::move(req));
  if (!res.ok()) return res.status();
  auto j = json::parse(res->body, nullptr, false);
  if (res->status != 200 || !j.is_object() || !j.contains("id") || !j.contains("secret"))
    return Status::Unavailable("register answered " + std::to_string(res->status) + ": " + res->body);
  std::lock_guard lock(mu_);
  id_ = j["id"];
  secret_ = j["secret"];
  return Status::Ok();
}

namespace {

// `jobs` for the given instances (sorted by service), all with `status`.
json Jobs(const std::vector<InstanceKey>& keys, const std::string& status, const std::string& worker) {
  json jobs = json::array();
  for (size_t i = 0; i < keys.size();) {
    json list = json::array();
    const std::string& job = keys[i].first;
    for (; i < keys.size() && keys[i].first == job; ++i)
      list.push_back({{"instance_number", keys[i].second}, {"status", status}, {"worker_id", worker},
                      {"publicip", "127.0.0.1"}});
    jobs.push_back({{"_id", job}, {"instance_list", std::move(list)}});
  }
  return jobs;
}

}  // namespace

unsigned StandIn::Post(const std::string& body) {
  auto url = ParseUrl(root_url_);
  if (!url.ok()) return 0;
  ClientRequest req;
  req.method = http::verb::post;
  {
    std::lock_guard lock(mu_);
    req.target = "/api/information/" + id_;
    req.bearer = secret_;
  }
  req.body = body;
  auto res = HttpFetchSync(*url, std::move(req));
  return res.ok() ? res->status : 0;
}

unsigned StandIn::Heartbeat() {
  std::vector<InstanceKey> fresh;
  {
    std::lock_guard lock(mu_);
    fresh.swap(fresh_);
  }
  std::sort(fresh.begin(), fresh.end());
  // At most kPerReport instances per body: the heartbeat carries the first ones, status pushes the
  // rest, so that no body comes near the root's body limit (1 MiB by default) after a burst.
  constexpr size_t kPerReport = 2000;
  unsigned code = 0;
  size_t sent = 0;
  while (sent == 0 || sent < fresh.size()) {
    const size_t n = std::min(kPerReport, fresh.size() - sent);
    std::vector<InstanceKey> part(fresh.begin() + static_cast<std::ptrdiff_t>(sent),
                                  fresh.begin() + static_cast<std::ptrdiff_t>(sent + n));
    json body = {{"jobs", Jobs(part, "RUNNING", name_ + "-worker")}};
    if (sent == 0) {
      body.update({{"cpu_percent", 1.0}, {"memory_percent", 1.0}, {"vcpus", 1'000'000}, {"memory", 1'000'000'000},
                   {"vgpus", 0}, {"virtualization", {"container"}}, {"supported_addons", json::array()},
                   {"active_nodes", 1}});
    }
    code = Post(body.dump());
    if (code != 200) break;
    sent += n;
    if (n == 0) break;
  }
  std::lock_guard lock(mu_);
  reported_ += sent;
  // Report the rest again next time.
  fresh_.insert(fresh_.end(), fresh.begin() + static_cast<std::ptrdiff_t>(sent), fresh.end());
  return code;
}

std::pair<unsigned, size_t> StandIn::Push(size_t batch) {
  std::vector<InstanceKey> keys;
  std::string status;
  {
    std::lock_guard lock(mu_);
    if (push_next_ >= push_order_.size()) {
      push_order_.assign(held_.begin(), held_.end());
      push_next_ = 0;
      ++push_pass_;
    }
    status = push_pass_ % 2 == 1 ? "CREATED" : "RUNNING";  // heartbeats reported them RUNNING
    size_t end = std::min(push_order_.size(), push_next_ + batch);
    keys.assign(push_order_.begin() + static_cast<std::ptrdiff_t>(push_next_),
                push_order_.begin() + static_cast<std::ptrdiff_t>(end));
    push_next_ = end;
  }
  if (keys.empty()) return {0, 0};
  return {Post(json{{"jobs", Jobs(keys, status, name_ + "-worker")}}.dump()), keys.size()};
}

size_t StandIn::received() const {
  std::lock_guard lock(mu_);
  return received_;
}

size_t StandIn::reported() const {
  std::lock_guard lock(mu_);
  return reported_;
}

size_t StandIn::held() const {
  std::lock_guard lock(mu_);
  return held_.size();
}

}  // namespace oak::bench
