// The batched hand-over: many instances, of several services, in one request to the cluster
// (POST /api/instances/deploy, docs/cluster.md). Each instance's outcome is the one the single
// form would have had: accepted, refused (4xx: FAILED) or retried (5xx, transport errors).
#include <map>

#include <spdlog/spdlog.h>

#include "model/status_names.h"
#include "root/dispatcher.h"

namespace oak::root {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// Bodies stay well below the clusters' default body limit (1 MiB); the rest waits for the next
// request.
constexpr size_t kMaxBatchBytes = 512 * 1024;

std::string MessageOf(const ClientResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  return "HTTP " + std::to_string(r.status);
}

}  // namespace

asio::awaitable<void> Dispatcher::AttemptBatch(std::string cluster_id, std::vector<Delivery> batch) {
  std::weak_ptr<int> alive = alive_;
  const ClusterState* c = clusters_.Find(cluster_id);
  Result<Url> url = c ? ParseUrl(c->rec.manager_url) : Result<Url>(Status::NotFound("cluster gone"));
  if (!c || !url.ok()) {
    const std::string error = c ? url.status().message() : "cluster " + cluster_id + " is no longer registered";
    for (Delivery& d : batch) {
      d.attempt = opts_.max_attempts;  // no retry
      std::string why = error;
      co_await Retry(cluster_id, std::move(d), std::move(why));
      if (alive.expired()) co_return;
    }
    co_return;
  }
  const std::string cluster_name = c->rec.name;

  // Grouped by service, in the order of first appearance; the body is rendered from each
  // service's cached document, never parsed again.
  std::vector<std::pair<std::shared_ptr<const ServiceInfo>, std::vector<Delivery>>> groups;
  std::map<std::string, size_t> group_of;
  std::vector<Delivery> later;  // beyond kMaxBatchBytes: back to the queue's front
  size_t bytes = 0;
  for (Delivery& d : batch) {
    auto g = group_of.find(d.service_id);
    if (g == group_of.end()) {
      auto svc = Service(d.service_id);
      if (!svc.ok()) {
        Done(d.service_id, d.number);  // deleted meanwhile
        continue;
      }
      if (!groups.empty() && bytes + (*svc)->doc_json.size() > kMaxBatchBytes) {
        later.push_back(std::move(d));
        continue;
      }
      bytes += (*svc)->doc_json.size() + 64;
      g = group_of.emplace(d.service_id, groups.size()).first;
      groups.emplace_back(std::move(*svc), std::vector<Delivery>{});
    }
    bytes += 12;
    groups[g->second].second.push_back(std::move(d));
  }
  if (!later.empty()) {
    Outbox& box = outboxes_[cluster_id];
    for (auto it = later.rbegin(); it != later.rend(); ++it) box.queue.push_front(std::move(*it));
  }
  if (groups.empty()) co_return;

  std::string body = "{\"jobs\":[";
  body.reserve(bytes + 16);
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& [info, list] = groups[i];
    if (i > 0) body += ',';
    body += "{\"job_id\":";
    body += json(info->id).dump();
    body += ",\"service\":";
    body += info->doc_json;
    body += ",\"instance_numbers\":[";
    for (size_t k = 0; k < list.size(); ++k) {
      if (k > 0) body += ',';
      body += std::to_string(list[k].number);
    }
    body += "]}";
  }
  body += "]}";

  ClientRequest creq;
  creq.method = boost::beast::http::verb::post;
  creq.target = "/api/instances/deploy";
  creq.body = std::move(body);
  creq.bearer = c->rec.secret;
  creq.timeout = opts_.request_timeout;
  auto res = co_await pool_.Fetch(*url, std::move(creq));
  if (alive.expired()) co_return;
  if (res.ok()) clusters_.NoteAnswer(cluster_id);

  if (res.ok() && (res->status == 404 || res->status == 405)) {
    // A cluster without the batched form: from now on one request per instance, these first.
    spdlog::info("msg=\"cluster takes one instance per request\" cluster={} status={}", cluster_name, res->status);
    Outbox& box = outboxes_[cluster_id];
    box.single_only = true;
    for (auto g = groups.rbegin(); g != groups.rend(); ++g)
      for (auto it = g->second.rbegin(); it != g->second.rend(); ++it) box.queue.push_front(std::move(*it));
    co_return;
  }
  // Per-instance answers; anything missing from them is retried.
  std::map<std::pair<std::string, int64_t>, std::pair<unsigned, std::string>> answers;
  std::string whole_error;
  bool refused_all = false;
  if (!res.ok()) {
    whole_error = "cluster " + cluster_name + ": " + res.status().message();
  } else if (res->status / 100 == 4) {
    refused_all = true;
    whole_error = "cluster " + cluster_name + " refused the instance: " + MessageOf(*res);
  } else if (res->status / 100 != 2) {
    whole_error = "cluster " + cluster_name + " answered " + MessageOf(*res);
  } else {
    json j = json::parse(res->body, nullptr, false);
    const json* results = j.is_object() && j.contains("results") && j["results"].is_array() ? &j["results"] : nullptr;
    if (results) {
      for (const json& r : *results) {
        if (!r.is_object()) continue;
        auto id = r.find("job_id");
        auto n = r.find("instance_number");
        auto code = r.find("code");
        if (id == r.end() || !id->is_string() || n == r.end() || !n->is_number_integer() || code == r.end() ||
            !code->is_number_unsigned())
          continue;
        answers[{id->get<std::string>(), n->get<int64_t>()}] = {code->get<unsigned>(), r.value("message", std::string())};
      }
    }
    whole_error = "cluster " + cluster_name + " gave no answer for the instance";
  }

  for (auto& [info, list] : groups) {
    for (Delivery& d : list) {
      auto a = answers.find({d.service_id, d.number});
      if (a != answers.end() && a->second.first / 100 == 2) {
        spdlog::debug("msg=\"instance sent\" service={} instance={} cluster={}", d.service_id, d.number, cluster_name);
        Done(d.service_id, d.number);
      } else if (refused_all || (a != answers.end() && a->second.first / 100 == 4)) {
        // Named arguments, not temporaries: GCC 12 destroys temporary coroutine arguments twice.
        std::string why = refused_all ? whole_error : "cluster " + cluster_name + " refused the instance: " + a->second.second;
        co_await Refused(cluster_id, d, std::move(why));
      } else {
        std::string error = a == answers.end() ? whole_error
                                               : "cluster " + cluster_name + " answered " +
                                                     std::to_string(a->second.first) + ": " + a->second.second;
        co_await Retry(cluster_id, std::move(d), std::move(error));
      }
      if (alive.expired()) co_return;
    }
  }
}

}  // namespace oak::root
