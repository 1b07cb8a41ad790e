// The node -> cluster half of the Manager: information reports, instance events, usage and wills.
#include <spdlog/spdlog.h>

#include "cluster/manager.h"
#include "cluster/node_protocol.h"
#include "common/json_text.h"
#include "model/status_names.h"

namespace oak::cluster {

using nlohmann::json;
namespace st = model::status;

namespace {
// How far a start has got, among the statuses that occupy a node; -1 for the others.
int Progress(std::string_view s) {
  if (s == st::kNodeScheduled) return 0;
  if (s == st::kCreating) return 1;
  if (s == st::kCreated) return 2;
  if (s == st::kRunning) return 3;
  return -1;
}
}  // namespace

void Manager::Drop(std::string_view topic, const Status& why) {
  ++counters_.dropped_messages;
  spdlog::warn("msg=\"dropped MQTT message\" topic=\"{}\" error=\"{}\"", topic.substr(0, 200), why.message());
}

void Manager::OnMessage(std::string_view topic, std::string_view payload) {
  auto [id, rest] = SplitNodeTopic(topic);
  if (id.empty()) return Drop(topic, Status::Invalid("topic: not under nodes/<id>/"));
  NodeState* node = nodes_.Find(id);
  if (!node) return Drop(topic, Status::NotFound("node: not registered here"));
  if (rest == "information") return OnInformation(*node, payload);
  if (rest == "job") return OnJob(*node, payload);
  if (rest == "jobs/resources") return OnResources(*node, payload);
  if (rest == "will") {
    if (nodes_.MarkInactive(*node, "connection lost (last will)")) NodeLost(*node, "connection lost");
    return;
  }
  if (rest.substr(0, 8) == "control/") return;  // our own commands, if subscribed widely
  Drop(topic, Status::Invalid("topic: unknown"));
}

void Manager::OnInformation(NodeState& node, std::string_view payload) {
  auto report = ParseNodeReport(payload);
  if (!report.ok()) return Drop("nodes/" + node.rec.id + "/information", report.status());
  const bool listed = report->instances.has_value();
  bool revived = nodes_.ApplyReport(node, std::move(*report));  // keeps the list as node.reported
  if (listed) {
    for (const ReportedInstance& ri : node.reported) {
      Instance* inst = FindByName(ri.job_name, ri.instance);
      bool live = OccupiesNode(ri.status);
      if (!inst || (!inst->node_id.empty() && inst->node_id != node.rec.id)) {
        // Unknown here, or replaced on another node while this one was away: never run it twice.
        if (live || ri.status == st::kCompleted || ri.status == st::kFailed || ri.status == st::kDead) {
          ++counters_.stray_deletes;
          SendDelete(node.rec.id, ri.job_name, ri.instance);
        }
        continue;
      }
      if (inst->node_id.empty() && live && !OccupiesNode(inst->status)) {
        // Lost with its node and not placed elsewhere since: the node still runs it, adopt it back.
        auto svc = services_.find(inst->job_id);
        if (svc != services_.end()) {
          nodes_.Allocate(node, svc->second.req);
          inst->allocated = true;
        }
        AssignNode(*inst, node.rec.id);
        inst->publicip = node.desc.ip;
        held_.erase({inst->job_id, inst->number});
        inst->moved_from.clear();  // back where it was
        SetStatus(*inst, ri.status, "");
      } else if (inst->node_id == node.rec.id && Progress(inst->status) >= 0 &&
                 Progress(ri.status) > Progress(inst->status)) {
        // A start the node is further on with than this cluster knows: an event it missed, or
        // progress it had not yet written when it restarted (ManagerOptions::lazy_write_ms). An
        // instance that ended stays ended: a report taken before the end still lists it live.
        SetStatus(*inst, ri.status, "");
      }
    }
  }
  if (listed) FindMissing(node);
  if (revived && !held_.empty()) RetryHeld();
}

void Manager::FindMissing(NodeState& node) {
  // A report lists all the node holds. An instance the cluster has RUNNING there (or past its
  // CREATING) that two reports in a row leave out is gone (the node lost its state, e.g. it was
  // restarted from scratch while the cluster was away): it is deployed again. Two, because a
  // report captured just before a deploy may arrive after the deploy's first events.
  std::set<std::pair<std::string_view, int64_t>> listed;
  for (const ReportedInstance& ri : node.reported) listed.emplace(ri.job_name, ri.instance);
  std::vector<Instance*> gone;
  for (Instance* inst : OnNode(node.rec.id)) {
    const bool started = inst->status == st::kCreating || inst->status == st::kCreated || inst->status == st::kRunning;
    if (!started || listed.count({inst->job_name, inst->number})) {
      inst->missing_reports = 0;
      continue;
    }
    if (++inst->missing_reports >= 2) gone.push_back(inst);
  }
  for (Instance* inst : gone) {
    spdlog::warn("msg=\"node no longer runs an instance; deploying it again\" node={} job={} instance={}", node.rec.id,
                 inst->job_name, inst->number);
    Replace(*inst, node, "it no longer runs the instance", node.rec.id);
  }
}

void Manager::OnJob(NodeState& node, std::string_view payload) {
  auto ev = ParseJobEvent(payload);
  if (!ev.ok()) return Drop("nodes/" + node.rec.id + "/job", ev.status());
  Instance* inst = FindByName(ev->job_name, ev->instance);
  if (!inst || inst->node_id != node.rec.id) {
    if (ev->status == st::kUndeployed) return;  // confirms a delete we sent
    Drop("nodes/" + node.rec.id + "/job",
         Status::NotFound("instance: " + ev->job_name + "/" + std::to_string(ev->instance) + " is not on this node"));
    if (OccupiesNode(ev->status)) {
      ++counters_.stray_deletes;
      SendDelete(node.rec.id, ev->job_name, ev->instance);
    }
    return;
  }
  if (!ev->publicip.empty()) inst->publicip = ev->publicip;
  std::string status = ev->status;
  if (status == st::kUndeployed) {
    // The node removed an instance we still want: that is a failure of the instance.
    status = std::string(st::kFailed);
    if (ev->detail.empty()) ev->detail = "removed by node " + node.rec.name;
  }
  if (!OccupiesNode(inst->status) && OccupiesNode(status) && inst->status != st::kNodeScheduled) {
    // A late event for an instance that already ended (e.g. RUNNING after DEAD): keep the end.
    if (inst->status == st::kCompleted || inst->status == st::kDead) return;
  }
  if (OccupiesNode(status) && !inst->allocated) {
    auto svc = services_.find(inst->job_id);
    if (svc != services_.end()) {
      nodes_.Allocate(node, svc->second.req);
      inst->allocated = true;
    }
  }
  if (status == st::kDead) {
    // The process ended on its own: the restart policy takes over (manager_restarts.cc). A repeated
    // DEAD of the same end (e.g. from a node's re-sent event) is not a second crash.
    if (inst->status != st::kDead) OnCrash(*inst, ev->detail);
    return;
  }
  SetStatus(*inst, status, ev->detail);
}

void Manager::OnResources(NodeState& node, std::string_view payload) {
  auto usage = ParseJobResources(payload);
  if (!usage.ok()) return Drop("nodes/" + node.rec.id + "/jobs/resources", usage.status());
  for (const InstanceUsage& u : *usage) {
    Instance* inst = FindByName(u.job_name, u.instance);
    if (!inst || inst->node_id != node.rec.id) continue;
    inst->cpu_percent = u.cpu_percent;
    inst->memory_percent = u.memory_percent;
    inst->disk = u.disk;
  }
}

json Manager::InstanceJson(const Instance& inst) const {
  json j{{"instance_number", inst.number},
         {"status", inst.status},
         {"status_detail", inst.detail},
         {"cpu_percent", inst.cpu_percent},
         {"memory_percent", inst.memory_percent},
         {"disk", inst.disk}};
  if (!inst.node_id.empty()) {
    j["worker_id"] = inst.node_id;
    j["publicip"] = inst.publicip;
    j["host_ip"] = inst.publicip;
    if (auto* n = nodes_.Find(inst.node_id)) j["worker_name"] = n->rec.name;
  }
  return j;
}

void Manager::AppendInstanceJson(std::string& out, const Instance& inst) const {
  out += '{';
  AppendJsonKey(out, "instance_number");
  AppendJsonNumber(out, inst.number);
  AppendJsonKey(out, "status");
  AppendJsonString(out, inst.status);
  AppendJsonKey(out, "status_detail");
  AppendJsonString(out, inst.detail);
  AppendJsonKey(out, "cpu_percent");
  AppendJsonNumber(out, inst.cpu_percent);
  AppendJsonKey(out, "memory_percent");
  AppendJsonNumber(out, inst.memory_percent);
  AppendJsonKey(out, "disk");
  AppendJsonNumber(out, inst.disk);
  if (!inst.node_id.empty()) {
    AppendJsonKey(out, "worker_id");
    AppendJsonString(out, inst.node_id);
    for (const char* key : {"publicip", "host_ip"}) {
      AppendJsonKey(out, key);
      AppendJsonString(out, inst.publicip);
    }
    if (auto* n = nodes_.Find(inst.node_id)) {
      AppendJsonKey(out, "worker_name");
      AppendJsonString(out, n->rec.name);
    }
  }
  out += '}';
}

}  // namespace oak::cluster
