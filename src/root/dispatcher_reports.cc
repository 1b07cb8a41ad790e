// Instance statuses reported by clusters (heartbeats and status pushes).
#include "model/status_names.h"
#include "root/dispatcher.h"

namespace oak::root {

using nlohmann::json;

namespace {

// Fields a cluster may report for an instance, copied into the instance document.
constexpr const char* kReportedFields[] = {"worker_id", "publicip",       "host_ip", "host_port",
                                           "cpu_percent", "memory_percent", "disk",    "cluster_location"};

}  // namespace

Result<std::vector<JobReport>> ParseJobReports(const json& jobs) {
  if (!jobs.is_array()) return Status::Invalid("jobs: must be an array");
  std::vector<JobReport> out;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const json& job = jobs[j];
    if (!job.is_object()) return Status::Invalid("jobs[" + std::to_string(j) + "]: must be an object");
    std::string service_id;
    if (auto it = job.find("_id"); it != job.end()) {
      if (it->is_string()) service_id = it->get<std::string>();
      else if (it->is_object() && it->contains("$oid") && (*it)["$oid"].is_string()) service_id = (*it)["$oid"];
    }
    if (service_id.empty()) return Status::Invalid("jobs[" + std::to_string(j) + "]._id: required service id");
    auto list = job.find("instance_list");
    if (list == job.end()) continue;
    auto path = [&](size_t i) {
      return "jobs[" + std::to_string(j) + "].instance_list" + (i == SIZE_MAX ? "" : "[" + std::to_string(i) + "]");
    };
    if (!list->is_array()) return Status::Invalid(path(SIZE_MAX) + ": must be an array");
    for (size_t i = 0; i < list->size(); ++i) {
      const json& ri = (*list)[i];
      auto number = ri.is_object() ? ri.find("instance_number") : ri.end();
      if (!ri.is_object() || number == ri.end() || !number->is_number_integer())
        return Status::Invalid(path(i) + ".instance_number: required integer");
      JobReport r{service_id, number->get<int64_t>(), std::nullopt, std::nullopt, json::object()};
      if (auto s = ri.find("status"); s != ri.end()) {
        if (!s->is_string() || !model::IsKnownStatus(s->get<std::string>()))
          return Status::Invalid(path(i) + ".status: must be one of the instance statuses");
        r.status = s->get<std::string>();
      }
      if (auto d = ri.find("status_detail"); d != ri.end()) {
        if (!d->is_string()) return Status::Invalid(path(i) + ".status_detail: must be a string");
        r.status_detail = d->get<std::string>();
      }
      for (const char* f : kReportedFields)
        if (auto it = ri.find(f); it != ri.end()) r.fields[f] = *it;
      out.push_back(std::move(r));
    }
  }
  return out;
}

namespace {

// Figures a cluster refreshes with every report (its InstanceJson); they are not the instance's state.
bool IsUsageField(std::string_view key) { return key == "cpu_percent" || key == "memory_percent" || key == "disk"; }

// Usage figures alone rewrite an instance's row at most this often. Every full list of a cluster
// brings new ones for each of its instances (every 12 heartbeats), and with 100,000 instances
// writing them all was 4,000 row updates a second at rest. The document keeps when they were
// written (kUsageTimeKey, not shown by the API).
constexpr int64_t kUsageRewriteMs = 30'000;
constexpr const char* kUsageTimeKey = "usage_ms";

}  // namespace

Result<size_t> Dispatcher::ApplyJobReports(const std::string& cluster_id, std::span<const JobReport> reports) {
  size_t changed = 0;
  const int64_t now = clock_.NowMs();
  for (const JobReport& r : reports) {
    auto inst = store_.GetInstance(r.service_id, r.number);
    if (!inst.ok() && inst.status().code() != Code::kNotFound) return inst.status();
    if (!inst.ok() || inst->cluster_id != cluster_id) {
      // Whether or not this batch commits, the root does not want the instance there. (The one
      // effect of an op outside the store; undeploys are idempotent.)
      Undeploy(cluster_id, r.service_id, r.number);
      continue;
    }
    std::string status = r.status.value_or(inst->status);
    std::string detail = r.status_detail ? *r.status_detail
                         : status == inst->status ? inst->status_detail
                                                  : std::string();
    // Clusters report every instance they hold; most reports repeat what is stored. The
    // instance's time (last_modified_timestamp) is when its state last changed: status, detail or
    // placement, not the usage figures that come with almost every report.
    bool state_changed = status != inst->status || detail != inst->status_detail;
    bool usage_changed = false;
    for (auto& [k, v] : r.fields.items()) {
      if (auto old = inst->doc.find(k); old != inst->doc.end() && *old == v) continue;
      (IsUsageField(k) ? usage_changed : state_changed) = true;
    }
    if (!state_changed && !usage_changed) continue;
    if (!state_changed) {
      auto at = inst->doc.find(kUsageTimeKey);
      if (at != inst->doc.end() && at->is_number_integer() && now - at->get<int64_t>() < kUsageRewriteMs) continue;
    }
    inst->status = std::move(status);
    inst->status_detail = std::move(detail);
    for (auto& [k, v] : r.fields.items()) inst->doc[k] = v;
    if (usage_changed) inst->doc[kUsageTimeKey] = now;
    if (state_changed) inst->updated_ms = now;
    OAK_RETURN_IF_ERROR(store_.UpdateInstance(*inst));
    ++changed;
  }
  return changed;
}

}  // namespace oak::root
