// The failure report: runs only when no candidate passed, so it may allocate and format freely.
// It re-runs the filters in a fixed reporting order and charges each rejected candidate to the
// first qualification it fails; candidates that qualify are charged to every resource they lack.
#include "scheduler/explain.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace oak::scheduler::internal {
namespace {

enum Dim { kVcpus, kMemory, kStorage, kVgpus, kDims };
constexpr const char* kDimName[kDims] = {"vcpus", "memory", "storage", "vgpus"};
constexpr const char* kDimUnit[kDims] = {"", " MB", " MB", ""};

int64_t Amount(const Resources& r, int d) {
  switch (d) {
    case kVcpus: return r.vcpus;
    case kMemory: return r.memory_mb;
    case kStorage: return r.storage_mb;
    default: return r.vgpus;
  }
}

struct Tally {
  int considered = 0;
  int inactive = 0, not_allowed = 0, virtualization = 0, arch = 0, addons = 0, geo = 0, ports = 0;
  int qualified = 0;  // passed every check except resources
  int lack[kDims] = {};
  int64_t most_free[kDims];  // over qualified candidates
  Tally() {
    for (auto& m : most_free) m = std::numeric_limits<int64_t>::min();
  }
};

Tally Count(const Prepared& p, std::span<const Candidate> candidates) {
  Tally t;
  for (const Candidate& c : candidates) {
    if (!p.pin.empty() && !SameText(c.name, p.pin)) continue;
    ++t.considered;
    if (!c.active) { ++t.inactive; continue; }
    if (!IsAllowed(p, c)) { ++t.not_allowed; continue; }
    if (!SupportsVirtualization(p, c)) { ++t.virtualization; continue; }
    if (!MatchesArch(p, c)) { ++t.arch; continue; }
    if (!HasAddons(p, c)) { ++t.addons; continue; }
    if (!WithinGeo(p, c)) { ++t.geo; continue; }
    if (!PortsFree(p, c)) { ++t.ports; continue; }
    ++t.qualified;
    // Branch-free: which resources a candidate lacks is random across a fleet.
    const Resources& f = c.free;
    const Resources& need = p.req->need;
    t.lack[kVcpus] += need.vcpus > f.vcpus;
    t.lack[kMemory] += need.memory_mb > f.memory_mb;
    t.lack[kStorage] += need.storage_mb > f.storage_mb;
    t.lack[kVgpus] += need.vgpus > f.vgpus;
    t.most_free[kVcpus] = std::max(t.most_free[kVcpus], f.vcpus);
    t.most_free[kMemory] = std::max(t.most_free[kMemory], f.memory_mb);
    t.most_free[kStorage] = std::max(t.most_free[kStorage], f.storage_mb);
    t.most_free[kVgpus] = std::max(t.most_free[kVgpus], f.vgpus);
  }
  return t;
}

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string Noun(const Prepared& p, int n) {
  const char* base = p.level == Level::kCluster ? "cluster" : "node";
  return fmt::format("{} {}{}", n, base, n == 1 ? "" : "s");
}

std::string GeoPointText(const Prepared& p) { return fmt::format("{},{}", p.req->geo->lat, p.req->geo->lon); }

// `bare` drops the counts: the report is about one pinned candidate.
std::string Items(const Prepared& p, const Tally& t, bool bare) {
  std::vector<std::string> out;
  auto add = [&](int n, const std::string& text) {
    if (n == 0) return;
    out.push_back(bare ? text : fmt::format("{} {}", n, text));
  };
  const Request& r = *p.req;
  add(t.inactive, "inactive");
  add(t.not_allowed, fmt::format("not in the allowed clusters ({})", Join(r.allowed_clusters, ", ")));
  add(t.virtualization, fmt::format("without {} support", r.virtualization));
  add(t.arch, fmt::format("without arch {}", Join(r.arch, " or ")));
  add(t.addons, fmt::format("without add-ons {}", Join(r.needs_addons, ", ")));
  if (t.geo > 0) {
    add(t.geo, fmt::format("{}farther than {} km from {}", p.level == Level::kCluster ? "with an area " : "",
                           r.geo_threshold_km, GeoPointText(p)));
  }
  if (t.ports > 0) {
    std::vector<std::string> ports;
    for (uint32_t k : r.host_ports) ports.push_back(fmt::format("{}/{}", k >> 1, (k & 1) ? "udp" : "tcp"));
    add(t.ports, fmt::format("with host port {} already published", Join(ports, " or ")));
  }
  for (int d = 0; d < kDims; ++d) {
    if (t.lack[d] == 0) continue;
    const char* verb = (bare || t.lack[d] == 1) ? "lacks" : "lack";
    add(t.lack[d], fmt::format("{} {} (need {}{}, {}free {}{})", verb, kDimName[d],
                               Amount(r.need, d), kDimUnit[d], bare ? "" : "most ",
                               t.most_free[d], kDimUnit[d]));
  }
  return Join(out, ", ");
}

// When one qualification rejects every candidate, that constraint is the whole story.
std::string SoleReason(const Prepared& p, const Tally& t) {
  const Request& r = *p.req;
  const int n = t.considered;
  const char* noun = p.level == Level::kCluster ? "cluster" : "node";
  const std::string checked = fmt::format("({} checked)", Noun(p, n));
  if (t.inactive == n) {
    return n == 1 ? fmt::format("no active {}: the only {} is inactive", noun, noun)
                  : fmt::format("no active {}: all {} are inactive", noun, Noun(p, n));
  }
  if (t.not_allowed == n) {
    return fmt::format("clusters: none of the allowed clusters ({}) is known {}",
                       Join(r.allowed_clusters, ", "), checked);
  }
  if (t.virtualization == n) {
    return fmt::format("virtualization: no {} supports {} {}", noun, r.virtualization, checked);
  }
  if (t.arch == n) {
    return fmt::format("arch: no {} has arch {} {}", noun, Join(r.arch, " or "), checked);
  }
  if (t.addons == n) {
    return fmt::format("addons: no {} supports all of {} {}", noun, Join(r.needs_addons, ", "), checked);
  }
  if (t.geo == n) {
    return fmt::format("geo: no {}{} within {} km of {} {}", noun, p.level == Level::kCluster ? " area" : "",
                       r.geo_threshold_km, GeoPointText(p), checked);
  }
  return {};
}

void ExplainCluster(const Prepared& p, std::span<const Candidate> candidates, Decision* d) {
  const Request& r = *p.req;
  if (!p.pin.empty()) {
    if (p.use_allowed && !Contains(r.allowed_clusters, p.pin)) {
      d->status = "TargetClusterNotFound";
      d->detail = fmt::format("direct cluster '{}' is not among the allowed clusters ({})", p.pin,
                              Join(r.allowed_clusters, ", "));
      return;
    }
    const Tally t = Count(p, candidates);
    if (t.considered == 0) {
      d->status = "TargetClusterNotFound";
      d->detail = fmt::format("no cluster named '{}' ({} known)", p.pin, Noun(p, static_cast<int>(candidates.size())));
    } else if (t.inactive == t.considered) {
      d->status = "TargetClusterNotActive";
      d->detail = fmt::format("cluster '{}' is not active", p.pin);
    } else {
      d->status = "TargetClusterNoCapacity";
      d->detail = fmt::format("cluster '{}' cannot host the service: {}", p.pin,
                              Items(p, t, t.considered == 1));
    }
    return;
  }
  d->status = "NoActiveClusterWithCapacity";
  if (candidates.empty()) {
    d->detail = "no active cluster with capacity: no clusters are registered";
    return;
  }
  const Tally t = Count(p, candidates);
  std::string sole = SoleReason(p, t);
  d->detail = !sole.empty() ? std::move(sole)
                            : fmt::format("no active cluster with capacity: {}; {}",
                                          Noun(p, t.considered), Items(p, t, false));
}

void ExplainNode(const Prepared& p, std::span<const Candidate> candidates, Decision* d) {
  const Request& r = *p.req;
  if (p.pin_conflict) {
    d->status = "NO_NODE_FOUND";
    d->detail = fmt::format("target_node '{}' and direct constraint node '{}' name different nodes",
                            r.target_node, r.direct_node);
    return;
  }
  const Tally t = Count(p, candidates);
  if (!p.pin.empty() && t.considered == 0) {
    d->status = "NO_NODE_FOUND";
    d->detail = fmt::format("no node named '{}' ({} in the cluster)", p.pin, Noun(p, static_cast<int>(candidates.size())));
    return;
  }
  d->status = t.qualified > 0 ? "NO_WORKER_CAPACITY" : "NO_QUALIFIED_WORKER_FOUND";
  if (!p.pin.empty()) {
    d->detail = fmt::format("node '{}' cannot host the service: {}", p.pin,
                            Items(p, t, t.considered == 1));
    return;
  }
  if (candidates.empty()) {
    d->detail = "no qualified node: the cluster has no nodes";
    return;
  }
  std::string sole = SoleReason(p, t);
  if (!sole.empty()) {
    d->detail = std::move(sole);
    return;
  }
  const char* headline = t.qualified > 0 ? "no node with enough free resources" : "no qualified node";
  d->detail = fmt::format("{}: {}; {}", headline, Noun(p, t.considered), Items(p, t, false));
}

}  // namespace

void Explain(const Prepared& p, std::span<const Candidate> candidates, Decision* d) {
  d->index = -1;
  if (p.level == Level::kCluster) {
    ExplainCluster(p, candidates, d);
  } else {
    ExplainNode(p, candidates, d);
  }
}

}  // namespace oak::scheduler::internal
