#include "cluster/manager.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <spdlog/spdlog.h>

#include "cluster/node_protocol.h"
#include "model/status_names.h"

namespace oak::cluster {

using nlohmann::json;
namespace st = model::status;

namespace {
bool OneShot(const json& doc) {
  auto it = doc.find("one_shot");
  return it != doc.end() && it->is_boolean() && it->get<bool>();
}
InstanceRow RowOf(const Instance& i) {
  return {i.job_id,   i.number,     i.node_id,  i.status,    i.detail,
          i.publicip, i.updated_ms, i.restarts, i.last_exit, i.restart_at_ms};
}
}  // namespace

bool OccupiesNode(std::string_view s) {
  return s == st::kNodeScheduled || s == st::kCreating || s == st::kCreated || s == st::kRunning;
}

Manager::Manager(Store& store, NodeRegistry& nodes, Bus& bus, const Clock& clock, ManagerOptions opts)
    : store_(store), nodes_(nodes), bus_(bus), clock_(clock), opts_(opts), started_ms_(clock.NowMs()) {}

Manager::Service Manager::MakeService(const std::string& doc_text, const json& doc, std::string job_name,
                                      scheduler::Request req) {
  Service svc{std::hash<std::string>{}(doc_text), 0, std::move(job_name), req.virtualization, std::move(req),
              OneShot(doc), {}, {}};
  // The payload is the document with the instance's number: rendered once with a marker number
  // and cut there, so that each deploy only joins three strings (the same bytes as a full dump).
  constexpr int64_t kMarker = 987'654'321'987'654'321;
  const std::string number = std::to_string(kMarker);
  json with = doc;
  with["instance_number"] = kMarker;
  std::string text = with.dump(-1, ' ', false, json::error_handler_t::replace);
  const std::string marker = "\"instance_number\":" + number;
  size_t at = text.find(marker);
  if (at != std::string::npos && text.find(marker, at + 1) == std::string::npos) {
    at += marker.size() - number.size();
    svc.payload_head = text.substr(0, at);
    svc.payload_tail = text.substr(at + number.size());
  }
  return svc;
}

Status Manager::Load() {
  auto services = store_.ListServices();
  if (!services.ok()) return services.status();
  for (auto& s : *services) {
    auto full = store_.GetService(s.job_id);
    if (!full.ok()) return full.status();
    if (!*full) continue;
    json doc = json::parse((*full)->doc_text, nullptr, false);
    auto req = scheduler::RequestFromService(doc);
    if (!req.ok()) {
      spdlog::warn("msg=\"stored service unreadable\" job_id={} error=\"{}\"", s.job_id, req.status().message());
      continue;
    }
    services_[s.job_id] = MakeService((*full)->doc_text, doc, s.job_name, std::move(*req));
    job_ids_[s.job_name] = s.job_id;
  }
  auto rows = store_.ListInstances();
  if (!rows.ok()) return rows.status();
  for (auto& r : *rows) {
    auto svc = services_.find(r.job_id);
    if (svc == services_.end()) continue;
    Instance inst{r.job_id, r.number, svc->second.job_name, r.node_id, r.status, r.status_detail, r.publicip,
                  r.updated_ms};
    inst.restarts = r.restarts;
    inst.last_exit = r.last_exit;
    inst.restart_at_ms = inst.status == st::kDead ? r.restart_at_ms : 0;
    if (inst.status == st::kRunning) inst.running_since_ms = r.updated_ms;
    NodeState* node = inst.node_id.empty() ? nullptr : nodes_.Find(inst.node_id);
    if (node && OccupiesNode(inst.status)) {
      nodes_.Allocate(*node, svc->second.req);
      inst.allocated = true;
    }
    auto key = InstanceKey{r.job_id, r.number};
    if (inst.node_id.empty() && inst.status == st::kClusterScheduled) held_.insert(key);
    if (inst.restart_at_ms > 0) restarting_.insert(key);
    if (inst.restarts > 0) crashed_.insert(key);
    if (!inst.node_id.empty()) on_node_[inst.node_id].insert(key);
    instances_.emplace(key, std::move(inst));
  }
  spdlog::info("msg=\"state loaded\" services={} instances={} nodes={}", services_.size(), instances_.size(),
               nodes_.Nodes().size());
  return Status::Ok();
}

Result<const Manager::Service*> Manager::AcceptService(const std::string& job_id, const json& doc) {
  if (job_id.empty() || job_id.size() > 64) return Status::Invalid("job_id: expected 1-64 characters");
  if (!doc.is_object()) return Status::Invalid("body: expected the service document as a JSON object");
  auto name_it = doc.find("job_name");
  if (name_it == doc.end() || !name_it->is_string() || name_it->get_ref<const std::string&>().empty())
    return Status::Invalid("job_name: required string");
  const std::string& job_name = name_it->get_ref<const std::string&>();
  // The root sends a service's document with every batch of its instances: one it sent before is
  // known by the hash of its tree, without the checks, the copy and the rendering below.
  const size_t tree_hash = std::hash<json>{}(doc);
  if (auto known = services_.find(job_id);
      known != services_.end() && known->second.tree_hash == tree_hash && known->second.job_name == job_name)
    return &known->second;
  auto req = scheduler::RequestFromService(doc);
  if (!req.ok()) return req.status();
  if (auto other = job_ids_.find(job_name); other != job_ids_.end() && other->second != job_id)
    return Status::Conflict("job_name: already used by service " + other->second);
  // Stored without a number (the batched hand-over sends it so; the single form's is dropped), so
  // that every instance of a service brings the same text and it is written once.
  json bare = doc;
  bare.erase("instance_number");
  std::string doc_text = bare.dump(-1, ' ', false, json::error_handler_t::replace);
  auto svc = services_.find(job_id);
  if (svc == services_.end() || svc->second.doc_hash != std::hash<std::string>{}(doc_text)) {
    OAK_RETURN_IF_ERROR(store_.PutService({job_id, job_name, doc_text}));
    svc = services_.insert_or_assign(job_id, MakeService(doc_text, bare, job_name, std::move(*req))).first;
  }
  svc->second.tree_hash = tree_hash;
  job_ids_[job_name] = job_id;
  return &svc->second;
}

Status Manager::Deploy(const std::string& job_id, int64_t number, const json& doc) {
  if (number < 0) return Status::Invalid("instance_number: must not be negative");
  std::vector<DeployJob> one{{job_id, &doc, {number}}};
  return DeployBatch(one)[0][0];
}

std::vector<std::vector<Status>> Manager::DeployBatch(const std::vector<DeployJob>& jobs) {
  std::vector<std::vector<Status>> out(jobs.size());
  // What a deploy replaced, to be put back should the write fail: an ended instance, or nothing.
  struct Placed {
    size_t job, index;
    InstanceKey key;
    std::optional<Instance> before;
  };
  std::vector<Placed> placed;
  std::vector<std::pair<size_t, size_t>> repeated;  // already placed or running: answered OK
  // The root takes the answer as a promise: the instances are on disk before it, and before their
  // nodes hear of them. A write that fails (full or read-only disk) undoes the placements and
  // answers the error, so the root tries again later.
  hold_sends_ = true;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const DeployJob& job = jobs[j];
    out[j].assign(job.numbers.size(), Status::Ok());
    Result<const Service*> svc = Status::Invalid("body: service document missing");
    if (job.doc) svc = AcceptService(job.job_id, *job.doc);
    for (size_t i = 0; i < job.numbers.size(); ++i) {
      if (!svc.ok()) {
        out[j][i] = svc.status();
        continue;
      }
      if (job.numbers[i] < 0) {
        out[j][i] = Status::Invalid("instance_number: must not be negative");
        continue;
      }
      auto key = InstanceKey{job.job_id, job.numbers[i]};
      // A DEAD instance waiting for its restart is alive for the root: the restart is on its way.
      if (auto it = instances_.find(key);
          it != instances_.end() && !model::IsSchedulingFailure(it->second.status) &&
          it->second.status != st::kFailed && (it->second.status != st::kDead || it->second.restart_at_ms > 0)) {
        if (on_change_) on_change_(key);  // the root may have missed the last status: tell it again
        repeated.emplace_back(j, i);
        continue;
      }
      auto [it, fresh] = instances_.try_emplace(key);
      Instance& inst = it->second;
      Placed p{j, i, key, std::nullopt};
      if (!fresh) {
        Release(inst);
        awaiting_.erase({inst.updated_ms, key});
        p.before = inst;
      }
      AssignNode(inst, "");
      ForgetRestarts(key);  // a deploy of an ended instance starts it afresh, with no crash count
      inst = Instance{};
      inst.job_id = job.job_id;
      inst.number = job.numbers[i];
      inst.job_name = (*svc)->job_name;
      inst.status = std::string(st::kClusterScheduled);
      Place(inst);
      placed.push_back(std::move(p));
    }
  }
  hold_sends_ = false;
  auto messages = std::move(held_sends_);
  held_sends_.clear();
  Status saved = FlushUnsaved();
  if (!saved.ok()) {
    for (auto p = placed.rbegin(); p != placed.rend(); ++p) {
      auto it = instances_.find(p->key);
      Instance& inst = it->second;
      Release(inst);
      held_.erase(p->key);
      awaiting_.erase({inst.updated_ms, p->key});
      AssignNode(inst, "");
      if (p->before) {
        std::string node_id = std::exchange(p->before->node_id, std::string());
        inst = std::move(*p->before);
        AssignNode(inst, node_id);
      } else {
        instances_.erase(it);
        unsaved_.erase(p->key);
      }
      out[p->job][p->index] = saved;
    }
    // An instance answered as already placed may be one whose row still waits for this write.
    for (auto [j, i] : repeated)
      if (unsaved_.count({jobs[j].job_id, jobs[j].numbers[i]})) out[j][i] = saved;
    return out;
  }
  for (auto& [topic, payload] : messages) Send(std::move(topic), std::move(payload));
  return out;
}

void Manager::Send(std::string topic, std::string payload) {
  if (hold_sends_) {
    held_sends_.emplace_back(std::move(topic), std::move(payload));
    return;
  }
  if (Status s = bus_.Publish(topic, payload); !s.ok())
    spdlog::warn("msg=\"publish failed; the broker will get it on reconnect\" topic={} error=\"{}\"", topic,
                 s.message());
}

void Manager::Place(Instance& inst, const std::string& why, const std::string& prefer) {
  auto svc = services_.find(inst.job_id);
  assert(svc != services_.end());
  const auto& candidates = nodes_.Candidates();
  if (NodeState* node = prefer.empty() ? nullptr : nodes_.Find(prefer); node && node->active) {
    std::vector<scheduler::Candidate> only{candidates[node->slot]};
    if (scheduler::Schedule(scheduler::Level::kNode, svc->second.req, only, opts_.policy).ok()) {
      held_.erase({inst.job_id, inst.number});
      return PlaceOn(inst, *node, svc->second);
    }
  }
  scheduler::Decision d = scheduler::Schedule(scheduler::Level::kNode, svc->second.req, candidates, opts_.policy);
  auto key = InstanceKey{inst.job_id, inst.number};
  if (!d.ok()) {
    bool any_active = false;
    for (const auto& c : candidates) any_active = any_active || c.active;
    if (!any_active && clock_.NowMs() - started_ms_ < opts_.placement_grace_ms) {
      held_.insert(key);
      if (inst.status != st::kClusterScheduled) SetStatus(inst, st::kClusterScheduled, "waiting for a node");
      else Persist(inst);
      return;
    }
    held_.erase(key);
    SetStatus(inst, d.status, why.empty() ? d.detail : why + "; not placed again: " + d.detail);
    return;
  }
  held_.erase(key);
  PlaceOn(inst, *nodes_.Nodes()[d.index], svc->second);
}

void Manager::PlaceOn(Instance& inst, NodeState& node, const Service& svc) {
  Result<std::string> payload = Status::Internal("service document missing");
  if (!svc.payload_head.empty()) {
    payload = svc.payload_head + std::to_string(inst.number) + svc.payload_tail;
  } else if (auto doc = store_.GetService(inst.job_id); doc.ok() && *doc) {
    payload = DeployPayload((*doc)->doc_text, inst.number);
  }
  if (!payload.ok()) {
    SetStatus(inst, st::kFailed, "cannot build the deploy message: " + payload.status().message());
    return;
  }
  nodes_.Allocate(node, svc.req);
  inst.allocated = true;
  AssignNode(inst, node.rec.id);
  inst.publicip = node.desc.ip;
  SetStatus(inst, st::kNodeScheduled, "");
  Send("nodes/" + node.rec.id + "/control/deploy", std::move(*payload));
}

Status Manager::Undeploy(const std::string& job_id, int64_t number) {
  std::vector<int64_t> numbers;
  auto lo = instances_.lower_bound({job_id, number < 0 ? INT64_MIN : number});
  for (auto it = lo; it != instances_.end() && it->first.first == job_id; ++it) {
    if (number >= 0 && it->first.second != number) break;
    numbers.push_back(it->first.second);
  }
  if (numbers.empty()) return Status::NotFound("no instance " + job_id + "/" + std::to_string(number) + " here");
  OAK_RETURN_IF_ERROR(store_.DeleteInstances(job_id, numbers));
  for (int64_t n : numbers) {
    auto it = instances_.find({job_id, n});
    Instance& inst = it->second;
    if (!inst.node_id.empty() && inst.status != st::kUndeployed) SendDelete(inst.node_id, inst.job_name, n);
    Release(inst);
    held_.erase(it->first);
    ForgetRestarts(it->first);  // an undeploy during the back-off cancels the restart
    awaiting_.erase({inst.updated_ms, it->first});
    AssignNode(inst, "");
    instances_.erase(it);
  }
  bool any_left = false;
  auto rest = instances_.lower_bound({job_id, INT64_MIN});
  any_left = rest != instances_.end() && rest->first.first == job_id;
  if (!any_left) {
    if (auto svc = services_.find(job_id); svc != services_.end()) {
      job_ids_.erase(svc->second.job_name);
      services_.erase(svc);
    }
  }
  return Status::Ok();
}

void Manager::SetStatus(Instance& inst, std::string_view status, std::string detail) {
  // A crash loop, and a move off a lost node, stay visible while the instance runs again.
  if (OccupiesNode(status)) {
    if (!inst.moved_from.empty()) detail = inst.moved_from + (detail.empty() ? "" : "; " + detail);
    if (inst.restarts > 0)
      detail = "restarted " + std::to_string(inst.restarts) + (inst.restarts == 1 ? " time" : " times") +
               "; last: " + inst.last_exit + (detail.empty() ? "" : "; " + detail);
  }
  if (inst.status == status && inst.detail == detail) return;
  const bool progress = OccupiesNode(inst.status) && OccupiesNode(status);
  if (status == st::kRunning && inst.status != st::kRunning) inst.running_since_ms = clock_.NowMs();
  if (inst.status == st::kNodeScheduled) awaiting_.erase({inst.updated_ms, {inst.job_id, inst.number}});
  inst.status = std::string(status);
  inst.detail = std::move(detail);
  inst.updated_ms = clock_.NowMs();
  if (inst.status == st::kNodeScheduled) awaiting_.insert({inst.updated_ms, {inst.job_id, inst.number}});
  if (!OccupiesNode(inst.status)) Release(inst);
  Persist(inst, progress);
  if (on_change_) on_change_({inst.job_id, inst.number});
}

void Manager::Release(Instance& inst) {
  if (!inst.allocated) return;
  inst.allocated = false;
  NodeState* node = nodes_.Find(inst.node_id);
  auto svc = services_.find(inst.job_id);
  if (node && svc != services_.end()) nodes_.Release(*node, svc->second.req);
}

void Manager::Persist(const Instance& inst, bool progress) {
  InstanceKey key{inst.job_id, inst.number};
  if (progress && opts_.defer && opts_.lazy_write_ms > 0) {
    if (!unsaved_.count(key)) {  // else the coming flush writes it
      if (lazy_.empty()) lazy_since_ms_ = clock_.NowMs();
      lazy_.insert(std::move(key));
    }
    return;
  }
  unsaved_.insert(std::move(key));
  if (!opts_.defer) {
    (void)FlushUnsaved();
    return;
  }
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  opts_.defer([this] {
    flush_scheduled_ = false;
    (void)FlushUnsaved();
  });
}

Status Manager::FlushUnsaved() {
  if (unsaved_.empty()) return Status::Ok();
  std::vector<InstanceRow> rows;
  rows.reserve(unsaved_.size());
  for (const auto& k : unsaved_) {
    auto it = instances_.find(k);
    if (it == instances_.end()) continue;  // undeployed meanwhile: its row is already gone
    rows.push_back(RowOf(it->second));
  }
  Status s = rows.empty() ? Status::Ok() : store_.PutInstances(rows);
  if (!s.ok()) {
    // Retried at every Tick while the disk stays full: logged at the first failure and then
    // about every 10 s, not 4 times a second.
    if (flush_failures_++ % 40 == 0)
      spdlog::error("msg=\"cannot persist instances; kept in memory and retried\" count={} failures={} error=\"{}\"",
                    rows.size(), flush_failures_, s.message());
    return s;
  }
  flush_scheduled_ = false;  // nothing is left for a queued flush; the next change queues one
  if (flush_failures_ > 0) {
    spdlog::info("msg=\"instances persisted again\" count={} after_failures={}", rows.size(), flush_failures_);
    flush_failures_ = 0;
  }
  if (!lazy_.empty())
    for (const auto& k : unsaved_) lazy_.erase(k);
  unsaved_.clear();
  return Status::Ok();
}

Status Manager::Flush() {
  unsaved_.merge(lazy_);
  lazy_.clear();
  return FlushUnsaved();
}

void Manager::SendDelete(const std::string& node_id, const std::string& job_name, int64_t number) {
  std::string virt = "container";
  if (auto id = job_ids_.find(job_name); id != job_ids_.end())
    if (auto svc = services_.find(id->second); svc != services_.end() && !svc->second.virtualization.empty())
      virt = svc->second.virtualization;
  Status s = bus_.Publish("nodes/" + node_id + "/control/delete", DeletePayload(job_name, virt, number));
  if (!s.ok()) spdlog::warn("msg=\"delete publish failed\" node={} error=\"{}\"", node_id, s.message());
}

Instance* Manager::FindByName(const std::string& job_name, int64_t number) {
  auto id = job_ids_.find(job_name);
  if (id == job_ids_.end()) return nullptr;
  auto it = instances_.find({id->second, number});
  return it == instances_.end() ? nullptr : &it->second;
}

const Instance* Manager::Find(const InstanceKey& k) const {
  auto it = instances_.find(k);
  return it == instances_.end() ? nullptr : &it->second;
}

void Manager::AssignNode(Instance& inst, const std::string& node_id) {
  if (inst.node_id == node_id) return;
  const InstanceKey key{inst.job_id, inst.number};
  if (auto it = on_node_.find(inst.node_id); it != on_node_.end()) {
    it->second.erase(key);
    if (it->second.empty()) on_node_.erase(it);
  }
  inst.node_id = node_id;
  if (!node_id.empty()) on_node_[node_id].insert(key);
}

std::vector<Instance*> Manager::OnNode(const std::string& node_id) {
  std::vector<Instance*> out;
  auto it = on_node_.find(node_id);
  if (it == on_node_.end()) return out;
  for (const InstanceKey& k : it->second)
    if (auto inst = instances_.find(k); inst != instances_.end()) out.push_back(&inst->second);
  return out;
}

void Manager::Replace(Instance& inst, const NodeState& node, const std::string& reason, const std::string& prefer) {
  std::string why = "node " + node.rec.name + " lost: " + reason;
  SetStatus(inst, st::kFailed, why);  // releases its share of the node while node_id still names it
  AssignNode(inst, "");
  inst.missing_reports = 0;
  inst.moved_from = "moved from node " + node.rec.name + " (" + reason + ")";
  Place(inst, why, prefer);
}

void Manager::NodeLost(NodeState& node, const std::string& reason) {
  std::vector<Instance*> lost;
  for (Instance* inst : OnNode(node.rec.id))
    if (OccupiesNode(inst->status)) lost.push_back(inst);
  for (Instance* inst : lost) Replace(*inst, node, reason);
  if (!lost.empty())
    spdlog::warn("msg=\"rescheduled instances of a lost node\" node={} count={}", node.rec.id, lost.size());
}

bool Manager::NodesBehind() const {
  const size_t enough = std::max(kBehindMin, awaiting_.size() / 8);
  const int64_t since = clock_.NowMs() - kBehindAfterMs;
  size_t late = 0;
  for (auto it = awaiting_.begin(); it != awaiting_.end() && it->first < since; ++it)
    if (++late >= enough) return true;
  return false;
}

void Manager::Tick() {
  // A deploy a node never answered (its event was lost; the node's reports settle it) is no sign
  // of load after this long: it no longer slows the intake.
  constexpr int64_t kAwaitForgetMs = 10'000;
  while (!awaiting_.empty() && clock_.NowMs() - awaiting_.begin()->first > kAwaitForgetMs)
    awaiting_.erase(awaiting_.begin());
  if (!lazy_.empty() && clock_.NowMs() - lazy_since_ms_ >= opts_.lazy_write_ms) {
    (void)Flush();
  } else if (!unsaved_.empty() && !flush_scheduled_) {
    (void)FlushUnsaved();  // left over from a failed write
  }
  for (NodeState* n : nodes_.CheckLiveness()) NodeLost(*n, n->inactive_reason);
  if (!swept_absent_ && clock_.NowMs() - started_ms_ >= opts_.placement_grace_ms) {
    // Nodes are loaded inactive and only a report makes them active, so a node that died while
    // the cluster was down would hold its instances forever: the liveness check sees active nodes.
    swept_absent_ = true;
    for (NodeState* n : nodes_.Nodes())
      if (!n->active) NodeLost(*n, "no report since the cluster started");
  }
  if (!held_.empty()) RetryHeld();
  if (!restarting_.empty() || !crashed_.empty()) RunRestarts();
}

void Manager::RetryHeld() {
  std::vector<InstanceKey> keys(held_.begin(), held_.end());
  for (const auto& k : keys) {
    auto it = instances_.find(k);
    if (it == instances_.end()) {
      held_.erase(k);
      continue;
    }
    Place(it->second);
  }
}

}  // namespace oak::cluster
