#include "cluster/node_registry.h"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "common/ids.h"

namespace oak::cluster {

using nlohmann::json;

namespace {

int64_t Sub(int64_t a, int64_t b) { return std::max<int64_t>(0, a - b); }

void AddTo(scheduler::Resources& acc, const scheduler::Resources& r, int sign) {
  acc.vcpus = std::max<int64_t>(0, acc.vcpus + sign * r.vcpus);
  acc.memory_mb = std::max<int64_t>(0, acc.memory_mb + sign * r.memory_mb);
  acc.storage_mb = std::max<int64_t>(0, acc.storage_mb + sign * r.storage_mb);
  acc.vgpus = std::max<int64_t>(0, acc.vgpus + sign * r.vgpus);
}

json DescriptionJson(const NodeDescription& d) {
  json j{{"host", d.host},          {"ip", d.ip},          {"architecture", d.arch}, {"os", d.os},
         {"vcpus", d.vcpus},        {"memory", d.memory_mb}, {"disk", d.disk_mb},  {"gpu_cores", d.gpus},
         {"gpu_memory", d.gpu_memory_mb}, {"virtualization", d.virtualization}, {"supported_addons", d.addons}};
  if (d.location) j["location"] = std::to_string(d.location->lat) + "," + std::to_string(d.location->lon);
  return j;
}

}  // namespace

NodeRegistry::NodeRegistry(Store& store, const Clock& clock, int64_t timeout_ms)
    : store_(store), clock_(clock), timeout_ms_(timeout_ms) {}

Status NodeRegistry::Load() {
  auto rows = store_.ListNodes();
  if (!rows.ok()) return rows.status();
  for (auto& rec : *rows) {
    auto desc = ParseNodeDescription(rec.info);
    if (!desc.ok()) {
      spdlog::warn("msg=\"stored node description unreadable; node must register again\" node={} error=\"{}\"",
                   rec.id, desc.status().message());
      continue;
    }
    auto n = std::make_unique<NodeState>();
    n->rec = std::move(rec);
    n->desc = std::move(*desc);
    n->inactive_reason = "no report since the cluster started";
    Add(std::move(n));
  }
  return Status::Ok();
}

void NodeRegistry::Add(std::unique_ptr<NodeState> n) {
  n->slot = order_.size();
  NodeState* p = n.get();
  by_name_[p->rec.name] = p;
  nodes_[p->rec.id] = std::move(n);
  order_.push_back(p);
  candidates_.emplace_back();
  Refresh(*p);
}

std::string FreeSubnet(const std::set<std::string>& used) {
  // 10.18.0.0/16 in /26 steps, as Oakestra's worker subnets: 1,024 nodes per cluster.
  for (int i = 0; i < 1024; ++i) {
    std::string s = "10.18." + std::to_string(i / 4) + "." + std::to_string((i % 4) * 64) + "/26";
    if (!used.count(s)) return s;
  }
  return "";
}

Result<NodeState*> NodeRegistry::Register(const NodeDescription& desc) {
  NodeState* n = FindByName(desc.host);
  bool fresh = n == nullptr;
  NodeRecord rec = fresh ? NodeRecord{NewObjectId(), desc.host, {}, clock_.NowMs(), ""} : n->rec;
  rec.info = DescriptionJson(desc);
  if (desc.subnet_wanted && rec.subnet.empty()) {
    std::set<std::string> used;
    for (const auto& [id, other] : nodes_) {
      if (!other->rec.subnet.empty()) used.insert(other->rec.subnet);
    }
    rec.subnet = FreeSubnet(used);
    if (rec.subnet.empty()) spdlog::warn("msg=\"no instance subnet left for node\" node={}", desc.host);
  }
  OAK_RETURN_IF_ERROR(store_.PutNode(rec));
  if (fresh) {
    auto owned = std::make_unique<NodeState>();
    owned->inactive_reason = "registered, no report yet";
    n = owned.get();
    owned->rec = std::move(rec);
    owned->desc = desc;
    Add(std::move(owned));
  } else {
    n->rec = std::move(rec);
    n->desc = desc;
    Refresh(*n);
  }
  return n;
}

bool NodeRegistry::ApplyReport(NodeState& n, NodeReport report) {
  bool was_inactive = !n.active;
  if (report.instances) n.reported = std::move(*report.instances);
  report.instances.reset();
  n.last = std::move(report);
  n.last_report_ms = clock_.NowMs();
  n.active = true;
  n.inactive_reason.clear();
  n.reserved_prev = n.reserved_now;
  n.reserved_now = {};
  Refresh(n);
  if (was_inactive) spdlog::info("msg=\"node active\" node={} name={}", n.rec.id, n.rec.name);
  return was_inactive;
}

bool NodeRegistry::MarkInactive(NodeState& n, const std::string& reason) {
  if (!n.active) return false;
  n.active = false;
  n.inactive_reason = reason;
  Refresh(n);
  spdlog::warn("msg=\"node inactive\" node={} name={} reason=\"{}\"", n.rec.id, n.rec.name, reason);
  return true;
}

void NodeRegistry::SetBrokerConnected(bool up) {
  constexpr int64_t kNodeReconnectMaxMs = 10'000;
  const int64_t now = clock_.NowMs();
  if (!up && broker_up_) broker_down_since_ms_ = now;
  if (up && !broker_up_) {
    excused_until_ms_ = now + std::min(now - broker_down_since_ms_, kNodeReconnectMaxMs);
    for (NodeState* n : order_)
      if (n->active) n->last_report_ms = std::max(n->last_report_ms, now);
  }
  broker_up_ = up;
}

std::vector<NodeState*> NodeRegistry::CheckLiveness() {
  std::vector<NodeState*> out;
  int64_t now = clock_.NowMs();
  if (!broker_up_ || now < excused_until_ms_) return out;
  for (NodeState* n : order_) {
    if (n->active && now - n->last_report_ms > timeout_ms_) {
      MarkInactive(*n, "no report for " + std::to_string((now - n->last_report_ms) / 1000) + " s");
      out.push_back(n);
    }
  }
  return out;
}

void NodeRegistry::Allocate(NodeState& n, const scheduler::Request& req) {
  AddTo(n.allocated, req.need, +1);
  AddTo(n.reserved_now, req.need, +1);
  ++n.instance_count;
  n.ports_in_use.insert(req.host_ports.begin(), req.host_ports.end());
  Refresh(n);
}

void NodeRegistry::Release(NodeState& n, const scheduler::Request& req) {
  AddTo(n.allocated, req.need, -1);
  if (n.instance_count > 0) --n.instance_count;
  for (uint32_t port : req.host_ports) {
    if (auto it = n.ports_in_use.find(port); it != n.ports_in_use.end()) n.ports_in_use.erase(it);
  }
  Refresh(n);
}

void NodeRegistry::Refresh(NodeState& n) {
  scheduler::Candidate& k = candidates_[n.slot];
  const NodeDescription& d = n.desc;
  k.id = n.rec.id;
  k.name = n.rec.name;
  k.active = n.active;
  k.total = {d.vcpus, d.memory_mb, d.disk_mb, d.gpus};
  // Capacity is what the node has minus what its instances were promised; for memory and disk the
  // node's own report also counts (other processes use them too), less what was sent since.
  const scheduler::Resources& r = n.reserved_now;
  const scheduler::Resources& p = n.reserved_prev;
  k.free.vcpus = Sub(d.vcpus, n.allocated.vcpus);
  k.free.vgpus = Sub(d.gpus, n.allocated.vgpus);
  k.free.memory_mb = Sub(d.memory_mb, n.allocated.memory_mb);
  if (n.last.memory_free_mb)
    k.free.memory_mb = std::min(k.free.memory_mb, Sub(*n.last.memory_free_mb, r.memory_mb + p.memory_mb));
  k.free.storage_mb = Sub(d.disk_mb, n.allocated.storage_mb);
  if (n.last.disk_free_mb)
    k.free.storage_mb = std::min(k.free.storage_mb, Sub(*n.last.disk_free_mb, r.storage_mb + p.storage_mb));
  k.cpu_percent = n.last.cpu_percent;
  k.memory_percent = n.last.memory_percent;
  k.virtualization = d.virtualization;
  k.used_ports.assign(n.ports_in_use.begin(), n.ports_in_use.end());
  k.used_ports.erase(std::unique(k.used_ports.begin(), k.used_ports.end()), k.used_ports.end());
  k.addons = d.addons;
  k.arch = {d.arch};
  k.location = d.location ? d.location : default_location_;
  k.radius_km = 0;
}

NodeState* NodeRegistry::Find(std::string_view id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : it->second.get();
}

const NodeState* NodeRegistry::Find(std::string_view id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : it->second.get();
}

NodeState* NodeRegistry::FindByName(const std::string& name) {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Aggregates NodeRegistry::Aggregate() const {
  Aggregates a;
  std::set<std::string> virt, addons, arch;
  for (const NodeState* n : order_) {
    if (!n->active) continue;
    const scheduler::Candidate& k = candidates_[n->slot];
    ++a.active_nodes;
    AddTo(a.free, k.free, +1);
    a.cpu_percent += k.cpu_percent;
    a.memory_percent += k.memory_percent;
    virt.insert(k.virtualization.begin(), k.virtualization.end());
    addons.insert(k.addons.begin(), k.addons.end());
    arch.insert(n->desc.arch);
  }
  if (a.active_nodes > 0) {
    a.cpu_percent /= a.active_nodes;
    a.memory_percent /= a.active_nodes;
  }
  a.virtualization.assign(virt.begin(), virt.end());
  a.addons.assign(addons.begin(), addons.end());
  a.architectures.assign(arch.begin(), arch.end());
  return a;
}

json NodeRegistry::ToJson(const NodeState& n) const {
  const scheduler::Candidate& k = candidates_[n.slot];
  json j = n.rec.info;
  j["_id"] = n.rec.id;
  j["id"] = n.rec.id;
  j["node_name"] = n.rec.name;
  j["active"] = n.active;
  j["status"] = n.active ? "active" : "inactive";
  if (!n.active) j["inactive_reason"] = n.inactive_reason;
  j["last_report_ms"] = n.last_report_ms;
  j["registered_ms"] = n.rec.registered_ms;
  j["cpu_percent"] = n.last.cpu_percent;
  j["memory_percent"] = n.last.memory_percent;
  j["free"] = {{"vcpus", k.free.vcpus}, {"memory", k.free.memory_mb}, {"disk", k.free.storage_mb},
               {"gpu_cores", k.free.vgpus}};
  j["instance_count"] = n.instance_count;
  json reported = json::array();
  for (const auto& r : n.reported)
    reported.push_back({{"job_name", r.job_name}, {"instance_number", r.instance}, {"status", r.status}});
  j["reported_instances"] = std::move(reported);
  return j;
}

}  // namespace oak::cluster
