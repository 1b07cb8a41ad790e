#include "node/test_cluster.h"

#include <thread>

#include <sys/wait.h>

#include <gtest/gtest.h>

#include "common/http.h"
#include "common/ids.h"

namespace oak::node::testing {

using nlohmann::json;
using namespace std::chrono_literals;

TestCluster::TestCluster(const std::string& name) : dir(name) {}

TestCluster::~TestCluster() {
  admin_.reset();
  if (server_) server_->Stop();
  if (broker) broker->Stop();
}

void TestCluster::Start(uint16_t http_port) {
  cluster::BrokerOptions bo;
  bo.data_dir = dir.path();
  bo.port = broker_port_ = oak::testing::FreePort();
  bo.admin_user = "admin";
  bo.admin_password = "admin-secret";
  broker = std::make_unique<cluster::Broker>(io, bo);
  Status s = broker->Start();
  ASSERT_TRUE(s.ok()) << s.message();

  router_.Add(http::verb::post, "/api/node/register", [this](HttpRequest& r) { return OnRegister(r); });
  server_ = std::make_unique<HttpServer>(io, router_, HttpServerOptions{});
  auto port = server_->Listen("127.0.0.1", http_port);
  ASSERT_TRUE(port.ok()) << port.status().message();
  http_port_ = *port;

  admin_ = std::make_unique<MqttClient>(io.get_executor());
  admin_->OnMessage([this](const std::string& t, const std::string& p) {
    json j = json::parse(p, nullptr, false);
    auto slash = t.find('/', 6);  // after "nodes/"
    std::string id = t.substr(6, slash == std::string::npos ? std::string::npos : slash - 6);
    if (t.ends_with("/information")) ++information[id];
    if (t.ends_with("/job") && j.is_object()) {
      job_status[id + " " + j.value("sname", "") + " " + std::to_string(j.value("instance", -1))] = j.value("status", "");
    }
    if (keep_messages) seen.push_back({t, p, std::move(j), std::chrono::steady_clock::now()});
  });
  bool connected = false;
  admin_->OnConnect([&connected](bool ok, const std::string&) { connected = connected || ok; });
  ASSERT_TRUE(admin_->Subscribe("nodes/#", 1).ok());
  MqttOptions mo;
  mo.port = broker_port_;
  mo.client_id = "test-cluster";
  mo.username = "admin";
  mo.password = "admin-secret";
  ASSERT_TRUE(admin_->Connect(mo).ok());
  ASSERT_TRUE(Pump([&] { return connected; }));
  admin_->OnConnect(nullptr);
}

HttpResponse TestCluster::OnRegister(HttpRequest& req) {
  if (req.BearerToken() != token) return HttpResponse::Error(401, "bad node token");
  auto body = ParseJsonBody(req.body());
  if (!body.ok()) return HttpResponse::FromStatus(body.status());
  if (!body->is_object() || !(*body)["host"].is_string()) return HttpResponse::Error(400, "host: required");
  std::string host = (*body)["host"];
  std::string& id = ids[host];
  if (id.empty()) id = NewObjectId();
  std::string password = RandomHex(16);
  if (Status s = broker->AddClient(id, password, cluster::NodeAcl(id)); !s.ok()) return HttpResponse::FromStatus(s);
  // As the real cluster does (cluster_api.cc, kReloadSettle): give mosquitto a moment to reread its
  // files after the SIGHUP, so the node does not connect against the old ones.
  std::this_thread::sleep_for(std::chrono::milliseconds(25));
  registered[host] = *body;
  ++registrations[host];
  return HttpResponse::Json(200, {{"id", id},
                                  {"MQTT_BROKER_PORT", broker_port_},
                                  {"MQTT_BROKER_HOST", "127.0.0.1"},
                                  {"mqtt_username", id},
                                  {"mqtt_password", password},
                                  {"report_interval_s", 2}});
}

bool TestCluster::Pump(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  return oak::testing::PumpUntil(io, cond, timeout);
}

void TestCluster::Publish(const std::string& topic, const std::string& payload) {
  Status s = admin_->Publish(topic, payload, 1);
  EXPECT_TRUE(s.ok()) << s.message();
}

std::vector<Seen> TestCluster::On(const std::string& topic) const {
  std::vector<Seen> out;
  for (const auto& m : seen) {
    if (m.topic == topic) out.push_back(m);
  }
  return out;
}

std::vector<std::string> TestCluster::JobStatuses(const std::string& id, const std::string& sname, int instance) const {
  std::vector<std::string> out;
  for (const auto& m : On("nodes/" + id + "/job")) {
    if (m.json.is_object() && m.json.value("sname", "") == sname && m.json.value("instance", -1) == instance) {
      out.push_back(m.json.value("status", ""));
    }
  }
  return out;
}

std::string TestCluster::IdOf(const std::string& host) const {
  auto it = ids.find(host);
  return it == ids.end() ? "" : it->second;
}

bool TestCluster::Flush() {
  std::string topic = "nodes/marker/" + std::to_string(++markers_);
  Publish(topic, "{}");
  return Pump([&] { return !On(topic).empty(); });
}

int ExitCode(int wait_status) {
  return wait_status >= 0 && WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}

}  // namespace oak::node::testing
