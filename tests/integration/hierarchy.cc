#include "integration/hierarchy.h"

namespace oak::it {

Hierarchy::Hierarchy(const std::string& name, std::vector<std::string> root_args)
    : dir_(name),
      root_(dir_ / "root", [&] {
        RootConfig cfg;
        cfg.extra_args = {"--heartbeat-interval", "1", "--cluster-timeout", "3"};
        cfg.extra_args.insert(cfg.extra_args.end(), root_args.begin(), root_args.end());
        return cfg;
      }()),
      admin_(root_.Admin()) {}

Hierarchy::~Hierarchy() { StopNodesAndClusters(); }

void Hierarchy::StopNodesAndClusters() {
  nodes_.clear();  // nodes first: their clusters' brokers would otherwise see wills
  clusters_.clear();
}

ClusterProcess& Hierarchy::AddCluster(const std::string& name, const std::string& location,
                                      std::vector<std::string> extra) {
  ClusterConfig cfg;
  cfg.name = name;
  cfg.location = location;
  cfg.extra_args = std::move(extra);
  clusters_.push_back(
      std::make_unique<ClusterProcess>(dir_ / ("cluster-" + name), root_.url(), root_.config().cluster_token, cfg));
  return *clusters_.back();
}

NodeProcess& Hierarchy::AddNode(ClusterProcess& c, const std::string& name, std::vector<std::string> extra,
                                const std::string& runtime) {
  NodeConfig cfg;
  cfg.name = name;
  cfg.runtime = runtime;
  cfg.extra_args = std::move(extra);
  nodes_.push_back(std::make_unique<NodeProcess>(dir_ / ("node-" + name), c.url(), c.config().node_token, cfg));
  return *nodes_.back();
}

std::string Hierarchy::WaitClusterReady(const std::string& name, int nodes, std::chrono::milliseconds timeout) {
  std::string id;
  WaitFor(
      [&] {
        auto r = admin_.Get("/api/clusters");
        if (r.status != 200 || !r.json.is_array()) return false;
        for (auto& c : r.json)
          if (c.value("cluster_name", "") == name && c.value("active", false) && c.value("active_nodes", 0) >= nodes) {
            id = c.value("cluster_id", "");
            return true;
          }
        return false;
      },
      timeout);
  return id;
}

std::string Hierarchy::NodeId(ClusterProcess& c, const std::string& name) {
  std::string id;
  WaitFor([&] {
    json list = c.Nodes();
    if (!list.is_array()) return false;
    for (auto& n : list)
      if (n.value("node_name", "") == name) id = n.value("id", "");
    return !id.empty();
  });
  return id;
}

std::string Hierarchy::Dump() {
  std::string out = "--- root ---\n" + root_.Log();
  for (auto& c : clusters_) out += "--- cluster " + c->config().name + " ---\n" + c->Log();
  for (auto& n : nodes_) out += "--- node ---\n" + n->Log();
  if (out.size() > 60000) out = out.substr(out.size() - 60000);
  return out;
}

std::vector<std::string> CreateServices(const ApiClient& c, const std::string& app, json microservices) {
  std::vector<std::string> names;
  for (auto& m : microservices) names.push_back(m.value("microservice_name", ""));
  json a = CreateApp(c, Sla(json::array({Application(app, "test", std::move(microservices))})), app);
  auto svcs = c.Get("/api/services/" + Oid(a));
  std::map<std::string, std::string> by_name;
  if (svcs.status == 200 && svcs.json.is_array())
    for (auto& s : svcs.json) by_name[s.value("microservice_name", "")] = Oid(s);
  std::vector<std::string> ids;
  for (auto& name : names)
    if (by_name.count(name)) ids.push_back(by_name[name]);
  return ids;
}

int64_t DeployInstance(const ApiClient& c, const std::string& sid) {
  auto r = c.Post("/api/service/" + sid + "/instance", json::object());
  EXPECT_EQ(r.status, 200u) << r.body;
  return r.json.is_object() ? r.json.value("instance_number", int64_t{-1}) : -1;
}

}  // namespace oak::it
