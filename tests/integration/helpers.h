// Shared pieces of the root integration tests: a root in its own temp dir, SLA builders, users,
// raw HTTP exchanges (for headers and slow clients), JWT payload decoding and heartbeat pumps.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/api_client.h"
#include "support/fake_cluster.h"
#include "support/process.h"
#include "support/root_process.h"

namespace oak::it {

using nlohmann::json;
using oak::testing::ApiClient;
using oak::testing::ApiResponse;
using oak::testing::FakeCluster;
using oak::testing::FakeClusterConfig;
using oak::testing::RootConfig;
using oak::testing::RootProcess;
using oak::testing::TempDir;
using oak::testing::WaitFor;
namespace verb = boost::beast::http;

// A root process in its own temporary directory; both go away with the object (root first).
class TestRoot {
 public:
  explicit TestRoot(const std::string& name, RootConfig cfg = {})
      : dir_(name), root_(dir_ / "data", std::move(cfg)) {}
  RootProcess& root() { return root_; }
  RootProcess* operator->() { return &root_; }
  const TempDir& dir() const { return dir_; }
  std::string data_dir() const { return dir_ / "data"; }

 private:
  TempDir dir_;
  RootProcess root_;
};

// --- SLA builders -------------------------------------------------------------------------------
json Microservice(const std::string& name, const std::string& ns = "test", json extra = json::object());
json Application(const std::string& name, const std::string& ns, json microservices);
json Sla(json applications);
// One application with `n` small services named s0..s<n-1>.
json SimpleSla(const std::string& app_name, int n_services = 1, const std::string& ns = "test");

// --- calls --------------------------------------------------------------------------------------
ApiResponse Put(const ApiClient& c, const std::string& target, const json& body);
ApiResponse PostRaw(const ApiClient& c, const std::string& target, const std::string& body);
// Registers `name` (by `admin`) and answers a client logged in as that user.
ApiClient MakeUser(const RootProcess& root, const ApiClient& admin, const std::string& name,
                   const std::string& password, json roles = json::array({"Application_Provider"}));
// Creates the SLA's apps; fails the test unless 200; answers the app named `name` from the answer.
json CreateApp(const ApiClient& c, const json& sla, const std::string& name);
bool Healthy(const RootProcess& root);

// --- shapes -------------------------------------------------------------------------------------
bool IsHex24(const std::string& s);
std::string Oid(const json& doc);  // doc["_id"]["$oid"] or ""
// The field path an error message names ("a.b[0].c: reason" -> "a.b[0].c"); empty if none.
std::string FieldOf(const std::string& message);

// --- JWT ----------------------------------------------------------------------------------------
json JwtPayload(const std::string& token);
std::string Base64UrlEncode(const std::string& bytes);
std::string Base64UrlDecode(const std::string& text);
// Signs `claims` with HS256 and `key` via libjwt.
std::string SignHs256(const json& claims, const std::string& key);
std::string ReadSecretFile(const std::string& path);

// --- raw HTTP -----------------------------------------------------------------------------------
struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;
};
// Sends `request` verbatim to the root at `base_url` and reads one answer (Connection: close).
RawResponse RawExchange(const std::string& base_url, const std::string& request,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));
// Connects, sends `partial`, then waits for the server to close; answers the seconds it took, or
// a negative value if it was still open after `limit`.
double SecondsUntilClosed(const std::string& base_url, const std::string& partial, std::chrono::milliseconds limit);

// --- metrics ------------------------------------------------------------------------------------
// "name{labels}" -> value, for every sample line of a Prometheus text page.
std::map<std::string, double> ParseMetrics(const std::string& text);

// --- clusters -----------------------------------------------------------------------------------
// Heartbeats `fake` every `period` on its own thread until destroyed.
class Heartbeater {
 public:
  Heartbeater(FakeCluster& fake, std::chrono::milliseconds period = std::chrono::milliseconds(300));
  ~Heartbeater();
  Heartbeater(const Heartbeater&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

FakeClusterConfig ClusterCfg(const std::string& name, int64_t memory_mb = 8192, unsigned deploy_answer = 200,
                             int64_t vcpus = 8);
// A registered fake that has sent one heartbeat (so the root knows its resources).
std::unique_ptr<FakeCluster> StartFake(const RootProcess& root, FakeClusterConfig cfg);

// The instance `number` of service `id` as the API shows it (null when absent).
json InstanceOf(const ApiClient& c, const std::string& service_id, int64_t number);
// Polls until instance `number` has `status`; answers the last instance document seen.
json WaitInstanceStatus(const ApiClient& c, const std::string& service_id, int64_t number, const std::string& status,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace oak::it
