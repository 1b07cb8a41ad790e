#include "cli/format.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace oak::cli {

using nlohmann::json;

namespace {

std::string Str(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v.get<double>());
    return buf;
  }
  return v.dump();
}

std::string AppName(const json& app) { return Cell(app, "application_name") + "." + Cell(app, "application_namespace"); }

std::string ServiceName(const json& svc) {
  if (svc.contains("job_name")) return Cell(svc, "job_name");
  return Cell(svc, "microservice_name") + "." + Cell(svc, "microservice_namespace");
}

const json& Instances(const json& svc) {
  static const json kEmpty = json::array();
  auto it = svc.find("instance_list");
  return it != svc.end() && it->is_array() ? *it : kEmpty;
}

// "host_ip:host_port" when the node published a port, else the instance's public IP, else "-".
std::string Endpoint(const json& inst) {
  std::string ip = Cell(inst, "host_ip"), port = Cell(inst, "host_port");
  if (ip != "-" && port != "-") return ip + ":" + port;
  return Cell(inst, "publicip");
}

}  // namespace

std::string Table::Render() const {
  std::vector<size_t> width;
  for (const auto& row : rows_) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string Cell(const json& doc, const char* key) {
  if (!doc.is_object()) return "-";
  auto it = doc.find(key);
  return it == doc.end() ? "-" : Str(*it);
}

std::string InstancesSummary(const json& list) {
  if (!list.is_array() || list.empty()) return "-";
  std::string out;
  if (list.size() <= 4) {
    for (const auto& i : list) {
      if (!out.empty()) out += ", ";
      out += "#" + Cell(i, "instance_number") + " " + Cell(i, "status");
    }
    return out;
  }
  // Statuses in order of first appearance keep the summary stable across calls.
  std::vector<std::string> order;
  std::map<std::string, size_t> count;
  for (const auto& i : list) {
    std::string s = Cell(i, "status");
    if (count[s]++ == 0) order.push_back(s);
  }
  out = std::to_string(list.size()) + ":";
  for (size_t k = 0; k < order.size(); ++k)
    out += (k ? ", " : " ") + std::to_string(count[order[k]]) + " " + order[k];
  return out;
}

std::string AppsTable(const json& apps) {
  Table t({"NAME", "ID", "SERVICES", "DESCRIPTION"});
  for (const auto& a : apps) {
    auto ms = a.find("microservices");
    size_t n = ms != a.end() && ms->is_array() ? ms->size() : 0;
    t.Add({AppName(a), Cell(a, "applicationID"), std::to_string(n), Cell(a, "application_desc")});
  }
  if (t.size() == 0) return "No applications.\n";
  return t.Render();
}

std::string ServicesTable(const json& services) {
  Table t({"NAME", "ID", "STATUS", "INSTANCES"});
  for (const auto& s : services)
    t.Add({ServiceName(s), Cell(s, "microserviceID"), Cell(s, "status"), InstancesSummary(Instances(s))});
  if (t.size() == 0) return "No services.\n";
  return t.Render();
}

std::string ClustersTable(const json& clusters) {
  Table t({"NAME", "ID", "ACTIVE", "NODES", "CPU", "MEMORY_MB", "LOCATION"});
  for (const auto& c : clusters) {
    bool active = c.value("active", false);
    t.Add({Cell(c, "cluster_name"), Cell(c, "cluster_id"), active ? "yes" : "no", Cell(c, "active_nodes"),
           Cell(c, "total_cpu_cores"), Cell(c, "memory_in_mb"), Cell(c, "cluster_location")});
  }
  if (t.size() == 0) return "No clusters.\n";
  return t.Render();
}

std::string NodesTable(const json& nodes) {
  Table t({"CLUSTER", "NAME", "ID", "STATUS", "ARCH", "CPU FREE/TOTAL", "MEMORY_MB FREE/TOTAL", "CPU%", "INSTANCES"});
  for (const auto& n : nodes) {
    const json& free = n.contains("free") && n["free"].is_object() ? n["free"] : json::object();
    t.Add({Cell(n, "cluster_name"), Cell(n, "node_name"), Cell(n, "id"), Cell(n, "status"), Cell(n, "architecture"),
           Cell(free, "vcpus") + "/" + Cell(n, "vcpus"), Cell(free, "memory") + "/" + Cell(n, "memory"),
           Cell(n, "cpu_percent"), Cell(n, "instance_count")});
  }
  if (t.size() == 0) return "No nodes.\n";
  return t.Render();
}

std::string AppDetail(const json& app, const json& services) {
  Table kv({"Application:", AppName(app)});
  kv.Add({"ID:", Cell(app, "applicationID")});
  kv.Add({"Description:", Cell(app, "application_desc")});
  kv.Add({"Owner:", Cell(app, "userId")});
  return kv.Render() + "\n" + ServicesTable(services);
}

std::string ServiceDetail(const json& s) {
  Table kv({"Service:", ServiceName(s)});
  kv.Add({"ID:", Cell(s, "microserviceID")});
  kv.Add({"Application:", Cell(s, "applicationID")});
  kv.Add({"Image:", Cell(s, "image")});
  kv.Add({"Virtualization:", Cell(s, "virtualization")});
  kv.Add({"Resources:", "vcpus " + Cell(s, "vcpus") + ", memory " + Cell(s, "memory") + " MB, storage " +
                           Cell(s, "storage") + " MB"});
  kv.Add({"Port:", Cell(s, "port")});
  kv.Add({"Status:", Cell(s, "status")});
  if (std::string d = Cell(s, "status_detail"); d != "-") kv.Add({"Detail:", d});
  std::string out = kv.Render() + "\n";
  const json& list = Instances(s);
  if (list.empty()) return out + "No instances.\n";
  Table t({"INSTANCE", "STATUS", "CLUSTER", "NODE", "ENDPOINT", "CPU%", "MEM%", "DETAIL"});
  for (const auto& i : list)
    t.Add({Cell(i, "instance_number"), Cell(i, "status"), Cell(i, "cluster_id"), Cell(i, "worker_id"), Endpoint(i),
           Cell(i, "cpu_percent"), Cell(i, "memory_percent"), Cell(i, "status_detail")});
  return out + t.Render();
}

}  // namespace oak::cli
