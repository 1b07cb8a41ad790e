// A cluster's core in one test: its SQLite store, node registry and manager, with one container
// node registered and reporting, for tests of what sits on the manager (deploy paths, root link).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cluster/manager.h"
#include "support/process.h"

namespace oak::cluster {

class OneNodeCluster {
 public:
  // Invariant: the temporary store opens (a failure there is a broken machine, not a test outcome).
  OneNodeCluster(const std::string& name, Bus& bus, int64_t vcpus, int64_t memory_mb, ManagerOptions opts = {})
      : dir_(name),
        store_(std::move(*OpenSqliteStore(dir_ / "cluster.db"))),
        nodes_(*store_, clock_, 6000),
        manager_(*store_, nodes_, bus, clock_, std::move(opts)) {
    EXPECT_TRUE(manager_.Load().ok());
    NodeDescription d;
    d.host = "n";
    d.vcpus = vcpus;
    d.memory_mb = memory_mb;
    d.virtualization = {"container"};
    auto n = nodes_.Register(d);
    EXPECT_TRUE(n.ok());
    if (!n.ok()) return;
    node_ = (*n)->rec.id;
    manager_.OnMessage("nodes/" + node_ + "/information", nlohmann::json{{"memory", memory_mb}}.dump());
  }

  Store& store() { return *store_; }
  NodeRegistry& nodes() { return nodes_; }
  Manager& manager() { return manager_; }
  const std::string& node() const { return node_; }
  // The node reports a status of one instance of `job_name`.
  void Event(int64_t instance, const std::string& status, const std::string& job_name = "a.b.c.d") {
    manager_.OnMessage("nodes/" + node_ + "/job",
                       nlohmann::json{{"sname", job_name}, {"instance", instance}, {"status", status}}.dump());
  }

 private:
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  ManualClock clock_;
  NodeRegistry nodes_;
  Manager manager_;
  std::string node_;
};

}  // namespace oak::cluster
