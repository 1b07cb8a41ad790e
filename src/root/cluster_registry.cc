#include "root/cluster_registry.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <limits>

#include <spdlog/spdlog.h>

#include "common/ids.h"
#include "model/sla.h"
#include "root/auth.h"

namespace oak::root {
namespace {

using nlohmann::json;

// Storage is not reported by every cluster; an unreported amount must not filter anything out.
constexpr int64_t kUnreported = std::numeric_limits<int64_t>::max() / 4;

int64_t IntField(const json& j, std::initializer_list<const char*> names, int64_t fallback) {
  for (const char* n : names) {
    auto it = j.find(n);
    if (it != j.end() && it->is_number()) return static_cast<int64_t>(it->get<double>());
  }
  return fallback;
}

double NumField(const json& j, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    auto it = j.find(n);
    if (it != j.end() && it->is_number()) return it->get<double>();
  }
  return 0;
}

std::vector<std::string> Strings(const json& j, std::initializer_list<const char*> names) {
  std::vector<std::string> out;
  for (const char* n : names) {
    auto it = j.find(n);
    if (it == j.end() || !it->is_array()) continue;
    for (auto& v : *it)
      if (v.is_string()) out.push_back(v.get<std::string>());
    if (!out.empty()) break;
  }
  return out;
}

}  // namespace

std::string LocationText(const json& info) {
  auto it = info.find("cluster_location");
  return it != info.end() && it->is_string() ? it->get<std::string>() : std::string();
}

namespace {

bool ParseDouble(std::string_view s, double& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<std::pair<scheduler::GeoPoint, double>> ParseLocation(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  double lat = 0, lon = 0, radius = 0;
  if (parts.size() < 2 || parts.size() > 3 || !ParseDouble(parts[0], lat) || !ParseDouble(parts[1], lon) ||
      (parts.size() == 3 && !ParseDouble(parts[2], radius)) || lat < -90 || lat > 90 || lon < -180 || lon > 180 ||
      radius < 0) {
    return Status::Invalid("cluster_location: expected \"lat,long[,radius_km]\"");
  }
  return std::make_pair(scheduler::GeoPoint{lat, lon}, radius);
}

ClusterRegistry::ClusterRegistry(Store& store, const Clock& clock, int64_t timeout_ms)
    : store_(store), clock_(clock), timeout_ms_(timeout_ms), started_ms_(clock.NowMs()) {}

Status ClusterRegistry::Load() {
  auto all = store_.ListClusters();
  if (!all.ok()) return all.status();
  for (auto& rec : *all) {
    auto c = std::make_unique<ClusterState>();
    c->rec = std::move(rec);
    // A restarted root trusts no cluster until it hears from it again.
    c->active = false;
    Refresh(*c);
    clusters_[c->rec.id] = std::move(c);
  }
  return Status::Ok();
}

Result<Registration> ClusterRegistry::Register(const json& body, const std::string& remote_addr) {
  if (!body.is_object()) return Status::Invalid("body: must be a JSON object");
  auto name_it = body.find("cluster_name");
  if (name_it == body.end() || !name_it->is_string() || !model::IsValidName(name_it->get<std::string>()))
    return Status::Invalid("cluster_name: required, must match ^[a-zA-Z0-9]{1,30}$");
  std::string name = name_it->get<std::string>();
  std::string location;
  if (auto it = body.find("cluster_location"); it != body.end()) {
    if (!it->is_string()) return Status::Invalid("cluster_location: must be a string \"lat,long[,radius_km]\"");
    location = it->get<std::string>();
    auto parsed = ParseLocation(location);
    if (!parsed.ok()) return parsed.status();
  }
  std::string url;
  if (auto it = body.find("manager_url"); it != body.end() && it->is_string()) {
    url = it->get<std::string>();
    if (url.rfind("http://", 0) != 0) return Status::Invalid("manager_url: must start with http://");
  } else if (auto p = body.find("manager_port"); p != body.end() && p->is_number_integer()) {
    int64_t port = p->get<int64_t>();
    if (port < 1 || port > 65535) return Status::Invalid("manager_port: must be 1..65535");
    std::string host = remote_addr.find(':') != std::string::npos ? "[" + remote_addr + "]" : remote_addr;
    url = "http://" + host + ":" + std::to_string(port);
  } else {
    return Status::Invalid("manager_url: required (or manager_port)");
  }

  ClusterState* existing = nullptr;
  for (auto& [id, c] : clusters_)
    if (c->rec.name == name) existing = c.get();

  Registration reg{existing ? existing->rec.id : NewObjectId(), RandomHex(32)};
  ClusterRecord rec = existing ? existing->rec : ClusterRecord{};
  int64_t now = clock_.NowMs();
  rec.id = reg.id;
  rec.name = name;
  rec.secret = reg.secret;
  rec.manager_url = url;
  if (!existing) rec.registered_ms = now;
  rec.last_seen_ms = now;
  rec.info["cluster_location"] = location;
  for (const char* k : {"virtualization", "supported_addons", "csi_drivers"})
    if (auto it = body.find(k); it != body.end() && it->is_array()) rec.info[k] = *it;
  OAK_RETURN_IF_ERROR(store_.UpsertCluster(rec));

  ClusterState* c = existing;
  if (!c) {
    auto fresh = std::make_unique<ClusterState>();
    c = fresh.get();
    clusters_[reg.id] = std::move(fresh);
  }
  c->rec = std::move(rec);
  c->active = true;
  Refresh(*c);
  spdlog::info("msg=\"cluster registered\" cluster={} name={} url={}", reg.id, name, url);
  return reg;
}

Result<ClusterState*> ClusterRegistry::Authenticate(const std::string& id, std::string_view secret) {
  auto it = clusters_.find(id);
  // The same answer for an unknown id and a wrong secret: ids are not secrets, but no oracle either.
  if (it == clusters_.end() || secret.empty() || !ConstantTimeEquals(secret, it->second->rec.secret))
    return Status::Unauthorized("unknown cluster or wrong cluster secret");
  return it->second.get();
}

Status ValidateHeartbeat(const json& body) {
  if (!body.is_object()) return Status::Invalid("body: must be a JSON object");
  for (auto& [k, v] : body.items()) {
    bool ok = true;
    if (k == "cluster_location") {
      ok = v.is_string() && (v.get<std::string>().empty() || ParseLocation(v.get<std::string>()).ok());
    } else if (k == "cpu_percent" || k == "memory_percent" || k == "aggregated_cpu_percent" || k == "vcpus" ||
               k == "memory" || k == "memory_in_mb" || k == "vgpus" || k == "total_cpu_cores" ||
               k == "total_gpu_cores" || k == "vram" || k == "storage" || k == "disk" || k == "active_nodes") {
      ok = v.is_number() && v.get<double>() >= 0;
    } else if (k == "virtualization" || k == "supported_addons" || k == "csi_drivers" || k == "architectures" ||
               k == "arch") {
      ok = v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
    }
    if (!ok) return Status::Invalid(k + ": wrong type or value");
  }
  return Status::Ok();
}

bool IsStatusPush(const json& body) { return body.is_object() && body.size() == 1 && body.contains("jobs"); }

Status ClusterRegistry::ApplyHeartbeat(ClusterState& c, const json& body) {
  OAK_RETURN_IF_ERROR(ValidateHeartbeat(body));
  Seen(c);
  if (!c.active) spdlog::info("msg=\"cluster active\" cluster={} name={}", c.rec.id, c.rec.name);
  c.active = true;
  if (IsStatusPush(body)) return Status::Ok();
  for (auto& [k, v] : body.items()) {
    if (k == "jobs") continue;  // instance statuses are applied by the caller, not kept here
    c.rec.info[k] = v;
  }
  c.reserved_prev = c.reserved_now;
  c.reserved_now = {};
  Refresh(c);
  return Status::Ok();
}

void ClusterRegistry::EndReport(ClusterState& c) {
  assert(c.reports_applying > 0);
  --c.reports_applying;
  Seen(c);
}

void ClusterRegistry::NoteAnswer(const std::string& id) {
  if (auto it = clusters_.find(id); it != clusters_.end()) Seen(*it->second);
}

void ClusterRegistry::Seen(ClusterState& c) { c.rec.last_seen_ms = std::max(c.rec.last_seen_ms, clock_.NowMs()); }

void ClusterRegistry::NoteTick(int64_t period_ms) {
  constexpr int64_t kSlackMs = 1000;  // a busy loop runs timers a little late; that is not a stall
  const int64_t now = clock_.NowMs();
  const int64_t late = last_tick_ms_ < 0 ? 0 : now - last_tick_ms_ - period_ms;
  last_tick_ms_ = now;
  if (late <= kSlackMs) return;
  spdlog::warn("msg=\"root loop ran late; not counted as cluster silence\" late_ms={}", late);
  started_ms_ = std::min(now, started_ms_ + late);
  for (auto& [id, c] : clusters_) c->rec.last_seen_ms = std::min(now, c->rec.last_seen_ms + late);
}

int ClusterRegistry::CheckLiveness() {
  int changed = 0;
  int64_t now = clock_.NowMs();
  for (auto& [id, c] : clusters_) {
    if (c->active && c->reports_applying == 0 && now - c->rec.last_seen_ms > timeout_ms_) {
      c->active = false;
      ++changed;
      spdlog::warn("msg=\"cluster inactive\" cluster={} name={} silent_ms={}", id, c->rec.name,
                   now - c->rec.last_seen_ms);
    }
  }
  return changed;
}

std::vector<const ClusterState*> ClusterRegistry::Lost() const {
  std::vector<const ClusterState*> out;
  const int64_t now = clock_.NowMs();
  for (const auto& [id, c] : clusters_)
    if (!c->active && c->reports_applying == 0 && now - std::max(c->rec.last_seen_ms, started_ms_) > timeout_ms_)
      out.push_back(c.get());
  return out;
}

void ClusterRegistry::Refresh(ClusterState& c) {
  const json& info = c.rec.info;
  scheduler::Candidate& k = c.candidate;
  k.id = c.rec.id;
  k.name = c.rec.name;
  k.active = c.active;
  k.free.vcpus = IntField(info, {"vcpus", "total_cpu_cores"}, 0);
  k.free.memory_mb = IntField(info, {"memory", "memory_in_mb"}, 0);
  k.free.vgpus = IntField(info, {"vgpus", "total_gpu_cores"}, 0);
  k.free.storage_mb = IntField(info, {"storage", "disk"}, kUnreported);
  k.total = k.free;
  k.cpu_percent = NumField(info, {"cpu_percent", "aggregated_cpu_percent"});
  k.memory_percent = NumField(info, {"memory_percent"});
  k.virtualization = Strings(info, {"virtualization"});
  k.addons = Strings(info, {"supported_addons"});
  k.arch = Strings(info, {"architectures", "arch"});
  k.location.reset();
  k.radius_km = 0;
  if (auto it = info.find("cluster_location"); it != info.end() && it->is_string() && !it->get<std::string>().empty()) {
    if (auto loc = ParseLocation(it->get<std::string>()); loc.ok()) {
      k.location = loc->first;
      k.radius_km = loc->second;
    }
  }
}

std::vector<scheduler::Candidate> ClusterRegistry::Candidates() const {
  std::vector<scheduler::Candidate> out;
  out.reserve(clusters_.size());
  for (auto& [id, c] : clusters_) {
    scheduler::Candidate k = c->candidate;
    k.active = c->active;
    auto take = [](int64_t& v, int64_t r) { v = v >= kUnreported ? v : v - r; };
    take(k.free.vcpus, c->reserved_now.vcpus + c->reserved_prev.vcpus);
    take(k.free.memory_mb, c->reserved_now.memory_mb + c->reserved_prev.memory_mb);
    take(k.free.storage_mb, c->reserved_now.storage_mb + c->reserved_prev.storage_mb);
    take(k.free.vgpus, c->reserved_now.vgpus + c->reserved_prev.vgpus);
    out.push_back(std::move(k));
  }
  return out;
}

void ClusterRegistry::Reserve(const std::string& cluster_id, const scheduler::Resources& r) {
  auto it = clusters_.find(cluster_id);
  if (it == clusters_.end()) return;
  auto& n = it->second->reserved_now;
  n.vcpus += r.vcpus;
  n.memory_mb += r.memory_mb;
  n.storage_mb += r.storage_mb;
  n.vgpus += r.vgpus;
}

const ClusterState* ClusterRegistry::Find(const std::string& id) const {
  auto it = clusters_.find(id);
  return it == clusters_.end() ? nullptr : it->second.get();
}

std::vector<const ClusterState*> ClusterRegistry::All() const {
  std::vector<const ClusterState*> out;
  for (auto& [id, c] : clusters_) out.push_back(c.get());
  return out;
}

int ClusterRegistry::ActiveCount() const {
  int n = 0;
  for (auto& [id, c] : clusters_) n += c->active ? 1 : 0;
  return n;
}

json ClusterRegistry::ToJson(const ClusterState& c) const {
  const json& info = c.rec.info;
  const scheduler::Candidate& k = c.candidate;
  json j = {{"_id", {{"$oid", c.rec.id}}},
            {"cluster_id", c.rec.id},
            {"cluster_name", c.rec.name},
            {"cluster_location", LocationText(info)},
            {"active", c.active},
            {"active_nodes", IntField(info, {"active_nodes"}, 0)},
            {"memory_in_mb", k.free.memory_mb},
            {"total_cpu_cores", k.free.vcpus},
            {"total_gpu_cores", k.free.vgpus},
            {"aggregated_cpu_percent", k.cpu_percent},
            {"memory_percent", k.memory_percent},
            {"virtualization", k.virtualization},
            {"supported_addons", k.addons},
            {"manager_url", c.rec.manager_url},
            {"last_modified_timestamp", c.rec.last_seen_ms / 1000.0}};
  for (const char* extra : {"vram", "csi_drivers", "architectures", "arch_aggregates"})
    if (auto it = info.find(extra); it != info.end()) j[extra] = *it;
  return j;
}

}  // namespace oak::root
