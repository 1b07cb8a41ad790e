#include "cluster/cluster_api.h"

#include <openssl/crypto.h>

#include <charconv>
#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/ids.h"

namespace oak::cluster {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kBatchWindow{10};
// Mosquitto rereads its files on SIGHUP at its next loop turn; answering a moment later keeps a
// node from connecting before its credentials are known.
constexpr std::chrono::milliseconds kReloadSettle{25};

Result<int64_t> ParseInstanceNumber(const std::string& text, bool allow_all) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || (n < 0 && !(allow_all && n == -1)))
    return Status::Invalid("instance_number: expected a non-negative integer" + std::string(allow_all ? " or -1" : ""));
  return n;
}

// Absent: 64 KiB; more than 1 MiB is lowered to 1 MiB (the node caps its reply there too).
Result<size_t> ParseMaxLogBytes(const std::string& text) {
  constexpr size_t kDefault = 64 * 1024, kMax = 1024 * 1024;
  if (text.empty()) return kDefault;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) return kMax;
  if (ec != std::errc() || p != text.data() + text.size()) return Status::Invalid("max_bytes: expected a non-negative integer");
  return std::min<uint64_t>(v, kMax);
}

}  // namespace

bool SecretEquals(std::string_view a, std::string_view b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

ClusterApi::Batch::Batch(asio::io_context& io) : gate(io, asio::steady_timer::time_point::max()) {}

ClusterApi::ClusterApi(ClusterApiDeps deps) : d_(std::move(deps)) {}

void ClusterApi::Register(Router& r) {
  r.AddAsync(http::verb::post, "/api/node/register", [this](HttpRequest& q) { return RegisterNode(q); });
  r.Add(http::verb::post, "/api/service/{}/{}", [this](HttpRequest& q) { return DeployInstance(q); });
  r.AddAsync(http::verb::post, "/api/instances/deploy", [this](HttpRequest& q) { return DeployInstances(q); });
  r.Add(http::verb::delete_, "/api/service/{}/{}", [this](HttpRequest& q) { return UndeployInstance(q); });
  r.AddAsync(http::verb::get, "/api/service/{}/{}/logs", [this](HttpRequest& q) { return InstanceLogs(q); });
  r.Add(http::verb::get, "/api/nodes", [this](HttpRequest& q) { return ListNodes(q); });
  r.Add(http::verb::get, "/healthz", [this](HttpRequest&) {
    return HttpResponse::Json(200, {{"status", "ok"},
                                    {"registered", d_.root.registered()},
                                    {"cluster_id", d_.root.cluster_id()},
                                    {"active_nodes", d_.nodes.Aggregate().active_nodes}});
  });
  r.Add(http::verb::get, "/metrics", [this](HttpRequest&) {
    std::string text;
    d_.metrics.Render(text);
    const auto& c = d_.manager.counters();
    text += "# TYPE oak_cluster_nodes gauge\noak_cluster_nodes " + std::to_string(d_.nodes.Nodes().size()) + "\n";
    text += "# TYPE oak_cluster_active_nodes gauge\noak_cluster_active_nodes " +
            std::to_string(d_.nodes.Aggregate().active_nodes) + "\n";
    text += "# TYPE oak_cluster_instances gauge\noak_cluster_instances " +
            std::to_string(d_.manager.instances().size()) + "\n";
    text += "# TYPE oak_cluster_mqtt_dropped_total counter\noak_cluster_mqtt_dropped_total " +
            std::to_string(c.dropped_messages) + "\n";
    text += "# TYPE oak_cluster_stray_deletes_total counter\noak_cluster_stray_deletes_total " +
            std::to_string(c.stray_deletes) + "\n";
    text += "# TYPE oak_cluster_intake_held_total counter\noak_cluster_intake_held_total " +
            std::to_string(intake_.held_batches) + "\n";
    text += "# TYPE oak_cluster_intake_held_seconds_total counter\noak_cluster_intake_held_seconds_total " +
            std::to_string(static_cast<double>(intake_.held_ms) / 1000) + "\n";
    return HttpResponse::Text(200, std::move(text));
  });
}

bool ClusterApi::FromRoot(const HttpRequest& req) const {
  return d_.root.registered() && SecretEquals(req.BearerToken(), d_.root.secret());
}

asio::awaitable<HttpResponse> ClusterApi::RegisterNode(HttpRequest& req) {
  if (!SecretEquals(req.BearerToken(), d_.node_token))
    co_return HttpResponse::Error(401, "missing or wrong node token (Authorization: Bearer <node token>)");
  json body = json::parse(req.body(), nullptr, false);
  if (body.is_discarded()) co_return HttpResponse::Error(400, "body: not valid JSON");
  auto desc = ParseNodeDescription(body);
  if (!desc.ok()) co_return HttpResponse::FromStatus(desc.status());
  auto node = d_.nodes.Register(*desc);
  if (!node.ok()) co_return HttpResponse::FromStatus(node.status());
  std::string id = (*node)->rec.id;
  std::string password;
  if (d_.broker) {
    password = RandomHex(16);
    Broker::ClientSpec spec{id, password, NodeAcl(id)};
    Status s = co_await AddCredentials(&spec);
    if (!s.ok()) {
      spdlog::error("msg=\"cannot add node credentials to the broker\" node={} error=\"{}\"", id, s.message());
      // A full or read-only data directory keeps its own message and code (507).
      if (s.code() == Code::kStorage) co_return HttpResponse::Error(507, s.message() + "; the node was not added to the broker");
      co_return HttpResponse::Error(503, "broker: cannot add the node's credentials: " + s.message());
    }
  }
  spdlog::info("msg=\"node registered\" node={} name={} ip={}", id, desc->host, desc->ip);
  co_return HttpResponse::Json(200, {{"id", id},
                                     {"MQTT_BROKER_PORT", d_.mqtt_port},
                                     {"MQTT_BROKER_HOST", d_.mqtt_host},
                                     {"mqtt_username", d_.broker ? id : ""},
                                     {"mqtt_password", password},
                                     {"report_interval_s", d_.report_interval_s},
                                     {"subnet", (*node)->rec.subnet}});
}

asio::awaitable<Status> ClusterApi::AddCredentials(const Broker::ClientSpec* spec) {
  if (!open_batch_) {
    open_batch_ = std::make_shared<Batch>(d_.io);
    asio::co_spawn(d_.io, FlushCredentials(), asio::detached);
  }
  std::shared_ptr<Batch> batch = open_batch_;
  batch->specs.push_back(*spec);
  co_await batch->gate.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return batch->result;
}

asio::awaitable<void> ClusterApi::FlushCredentials() {
  asio::steady_timer t(d_.io);
  t.expires_after(kBatchWindow);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  std::shared_ptr<Batch> batch = std::move(open_batch_);
  open_batch_.reset();
  batch->result = d_.broker->AddClients(std::move(batch->specs));
  t.expires_after(kReloadSettle);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  batch->gate.cancel();
}

HttpResponse ClusterApi::DeployInstance(HttpRequest& req) {
  if (!FromRoot(req)) return HttpResponse::Error(401, "only the root may deploy here (Authorization: Bearer <cluster secret>)");
  auto n = ParseInstanceNumber(req.params[1], false);
  if (!n.ok()) return HttpResponse::FromStatus(n.status());
  json doc = json::parse(req.body(), nullptr, false);
  if (doc.is_discarded()) return HttpResponse::Error(400, "body: not valid JSON");
  Status s = d_.manager.Deploy(req.params[0], *n, doc);
  if (!s.ok()) return HttpResponse::FromStatus(s);
  return HttpResponse::Json(200, {{"message", "accepted"}, {"job_id", req.params[0]}, {"instance_number", *n}});
}

asio::awaitable<HttpResponse> ClusterApi::DeployInstances(HttpRequest& req) {
  auto parsed = ParseDeployBatch(req);
  if (!parsed.ok()) co_return HttpResponse::FromStatus(parsed.status());
  // Admission: while the nodes are behind (Manager::NodesBehind), new instances wait a little
  // before they add to the backlog, and the root's queue holds them meanwhile. The wait stays well
  // below the root's request timeout.
  constexpr auto kMaxAdmitWait = std::chrono::milliseconds(2'000);
  if (d_.manager.NodesBehind()) {
    const auto since = std::chrono::steady_clock::now();
    asio::steady_timer t(d_.io);
    do {
      t.expires_after(std::chrono::milliseconds(20));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    } while (d_.manager.NodesBehind() && std::chrono::steady_clock::now() - since < kMaxAdmitWait);
    ++intake_.held_batches;
    intake_.held_ms += std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
  }
  co_return DeployParsed(parsed->first, parsed->second);
}

Result<std::pair<std::shared_ptr<json>, std::vector<Manager::DeployJob>>> ClusterApi::ParseDeployBatch(
    const HttpRequest& req) const {
  if (!FromRoot(req)) return Status::Unauthorized("only the root may deploy here (Authorization: Bearer <cluster secret>)");
  auto body = std::make_shared<json>(json::parse(req.body(), nullptr, false));
  if (body->is_discarded() || !body->is_object()) return Status::Invalid("body: not a JSON object");
  auto jobs_it = body->find("jobs");
  if (jobs_it == body->end() || !jobs_it->is_array()) return Status::Invalid("jobs: required array");
  // The whole body is checked before anything is deployed; a document the manager refuses fails
  // only its own instances.
  std::vector<Manager::DeployJob> jobs;
  jobs.reserve(jobs_it->size());
  for (size_t j = 0; j < jobs_it->size(); ++j) {
    const json& e = (*jobs_it)[j];
    const std::string at = "jobs[" + std::to_string(j) + "]";
    if (!e.is_object()) return Status::Invalid(at + ": must be an object");
    auto id = e.find("job_id");
    if (id == e.end() || !id->is_string()) return Status::Invalid(at + ".job_id: required string");
    auto svc = e.find("service");
    if (svc == e.end() || !svc->is_object()) return Status::Invalid(at + ".service: required object");
    auto nums = e.find("instance_numbers");
    if (nums == e.end() || !nums->is_array()) return Status::Invalid(at + ".instance_numbers: required array");
    Manager::DeployJob job{id->get<std::string>(), &*svc, {}};
    job.numbers.reserve(nums->size());
    for (const json& n : *nums) {
      if (!n.is_number_integer() || n.get<int64_t>() < 0)
        return Status::Invalid(at + ".instance_numbers: expected non-negative integers");
      job.numbers.push_back(n.get<int64_t>());
    }
    jobs.push_back(std::move(job));
  }
  return std::make_pair(std::move(body), std::move(jobs));
}

HttpResponse ClusterApi::DeployParsed(const std::shared_ptr<json>&, const std::vector<Manager::DeployJob>& jobs) {
  auto statuses = d_.manager.DeployBatch(jobs);
  json results = json::array();
  for (size_t j = 0; j < jobs.size(); ++j) {
    for (size_t i = 0; i < jobs[j].numbers.size(); ++i) {
      const Status& s = statuses[j][i];
      json r{{"job_id", jobs[j].job_id}, {"instance_number", jobs[j].numbers[i]}, {"code", s.ok() ? 200u : HttpCodeFor(s.code())}};
      if (!s.ok()) r["message"] = s.message();
      results.push_back(std::move(r));
    }
  }
  return HttpResponse::Json(200, {{"results", std::move(results)}});
}

HttpResponse ClusterApi::UndeployInstance(HttpRequest& req) {
  if (!FromRoot(req)) return HttpResponse::Error(401, "only the root may undeploy here (Authorization: Bearer <cluster secret>)");
  auto n = ParseInstanceNumber(req.params[1], true);
  if (!n.ok()) return HttpResponse::FromStatus(n.status());
  Status s = d_.manager.Undeploy(req.params[0], *n);
  if (!s.ok()) return HttpResponse::FromStatus(s);
  return HttpResponse::Json(200, {{"message", "removed"}});
}

asio::awaitable<HttpResponse> ClusterApi::InstanceLogs(HttpRequest& req) {
  if (!FromRoot(req)) co_return HttpResponse::Error(401, "only the root may read logs here (Authorization: Bearer <cluster secret>)");
  auto n = ParseInstanceNumber(req.params[1], false);
  if (!n.ok()) co_return HttpResponse::FromStatus(n.status());
  auto max_bytes = ParseMaxLogBytes(req.QueryParam("max_bytes"));
  if (!max_bytes.ok()) co_return HttpResponse::FromStatus(max_bytes.status());
  const std::string instance = req.params[0] + "/" + std::to_string(*n);
  const Instance* inst = d_.manager.Find({req.params[0], *n});
  if (!inst) co_return HttpResponse::Error(404, "instance " + instance + " is not on this cluster");
  if (inst->node_id.empty())
    co_return HttpResponse::Error(409, "instance " + instance + " is on no node now (status " + inst->status +
                                           (inst->detail.empty() ? "" : ": " + inst->detail) + ")");
  // Copied before the wait: the instance may move or go meanwhile.
  LogQuery q{inst->node_id, inst->node_id, inst->job_name, *n, *max_bytes};
  std::string node_name;
  if (const NodeState* node = d_.nodes.Find(inst->node_id)) {
    node_name = node->rec.name;
    q.node_label = node_name + " (" + node->rec.id + ")";
    if (!node->active)
      co_return HttpResponse::Error(504, "node " + q.node_label + " is not connected: " + node->inactive_reason);
  }
  if (d_.logs.full())
    co_return HttpResponse::Error(503, std::to_string(d_.logs.pending()) + " log requests are waiting for nodes; try again");
  auto logs = co_await d_.logs.Fetch(&q);
  if (logs.ok()) co_return HttpResponse::Json(200, {{"logs", *logs}, {"node_id", q.node_id}, {"node_name", node_name}});
  // A silent node is a gateway timeout; its own answers keep their meaning.
  if (logs.status().code() == Code::kUnavailable) co_return HttpResponse::Error(504, logs.status().message());
  if (logs.status().code() == Code::kNotFound) co_return HttpResponse::Error(404, logs.status().message());
  co_return HttpResponse::Error(502, logs.status().message());
}

HttpResponse ClusterApi::ListNodes(HttpRequest& req) {
  if (!FromRoot(req) && !SecretEquals(req.BearerToken(), d_.node_token))
    return HttpResponse::Error(401, "missing or wrong token (cluster secret or node token)");
  // One pass over the instances, not one per node.
  std::map<std::string, json> placed;
  for (const auto& [key, inst] : d_.manager.instances()) {
    if (inst.node_id.empty()) continue;
    json& list = placed[inst.node_id];
    if (list.is_null()) list = json::array();
    list.push_back({{"job_id", inst.job_id}, {"job_name", inst.job_name}, {"instance_number", inst.number},
                    {"status", inst.status}});
  }
  json out = json::array();
  for (const NodeState* n : d_.nodes.Nodes()) {
    json j = d_.nodes.ToJson(*n);
    auto it = placed.find(n->rec.id);
    j["instances"] = it == placed.end() ? json::array() : std::move(it->second);
    out.push_back(std::move(j));
  }
  return HttpResponse::Json(200, out);
}

}  // namespace oak::cluster
