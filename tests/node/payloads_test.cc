// The node's wire formats (docs/mqtt.md): strict on types, tolerant of unknown fields, and never
// throwing on hostile input.
#include "node/payloads.h"

#include <gtest/gtest.h>

#include <cmath>

namespace oak::node {
namespace {

using nlohmann::json;

TEST(ParseDeployTest, ReadsAServiceDocument) {
  json doc = {{"_id", {{"$oid", "65a1b2c3d4e5f60718293a4b"}}},
              {"job_name", "app.ns.svc.ns"},
              {"instance_number", 2},
              {"virtualization", "container"},
              {"code", "docker.io/library/nginx:latest"},
              {"memory", 256},
              {"vcpus", 1.5},
              {"storage", 0},
              {"one_shot", true},
              {"cmd", {"nginx", "-g", "daemon off;"}},
              {"environment", {"A=1"}},
              {"port", "80:80/tcp"},
              {"some_future_field", {{"x", 1}}}};
  auto d = ParseDeploy(doc.dump());
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->key.job_name, "app.ns.svc.ns");
  EXPECT_EQ(d->key.instance, 2);
  EXPECT_EQ(d->image, "docker.io/library/nginx:latest");
  EXPECT_EQ(d->memory_mb, 256);
  EXPECT_DOUBLE_EQ(d->vcpus, 1.5);
  EXPECT_TRUE(d->one_shot);
  EXPECT_EQ(d->cmd.size(), 3u);
  EXPECT_EQ(d->environment, std::vector<std::string>{"A=1"});
  EXPECT_EQ(d->doc["port"], "80:80/tcp");
  EXPECT_EQ(d->key.ContainerName(), "app.ns.svc.ns.instance.2");
}

TEST(ParseDeployTest, NullMeansAbsentAndImageWinsOverCode) {
  auto d = ParseDeploy(R"({"job_name":"a.b.c.d","instance_number":0,"memory":null,"one_shot":null,
                           "image":"img","code":"other","cmd":null})");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->image, "img");
  EXPECT_EQ(d->memory_mb, 0);
  EXPECT_FALSE(d->one_shot);
  EXPECT_EQ(d->virtualization, "container");
}

TEST(ParseDeployTest, RefusesMalformedPayloadsNamingTheField) {
  struct Case {
    const char* payload;
    const char* field;
  } cases[] = {
      {"", "JSON"},
      {"not json", "JSON"},
      {"{\"job_name\": ", "JSON"},
      {"[1,2]", "object"},
      {"\"str\"", "object"},
      {"null", "object"},
      {R"({"instance_number":0})", "job_name"},
      {R"({"job_name":"","instance_number":0})", "job_name"},
      {R"({"job_name":7,"instance_number":0})", "job_name"},
      {R"({"job_name":"a/b","instance_number":0})", "job_name"},
      {R"({"job_name":"a.b.c.d"})", "instance_number"},
      {R"({"job_name":"a.b.c.d","instance_number":"0"})", "instance_number"},
      {R"({"job_name":"a.b.c.d","instance_number":1.5})", "instance_number"},
      {R"({"job_name":"a.b.c.d","instance_number":-1})", "instance_number"},
      {R"({"job_name":"a.b.c.d","instance_number":99999999999})", "instance_number"},
      {R"({"job_name":"a.b.c.d","instance_number":0,"memory":"256"})", "memory"},
      {R"({"job_name":"a.b.c.d","instance_number":0,"vcpus":-1})", "vcpus"},
      {R"({"job_name":"a.b.c.d","instance_number":0,"one_shot":"yes"})", "one_shot"},
      {R"({"job_name":"a.b.c.d","instance_number":0,"cmd":"ls"})", "cmd"},
      {R"({"job_name":"a.b.c.d","instance_number":0,"environment":[1]})", "environment"},
      {R"({"job_name":"a.b.c.d","instance_number":0,"virtualization":5})", "virtualization"},
      {R"({"job_name":"a.b.c.d","instance_number":0,"virtualization":""})", "virtualization"},
      {R"({"job_name":"a.b.c.d","instance_number":0,"code":{}})", "code"},
  };
  for (const auto& c : cases) {
    auto d = ParseDeploy(c.payload);
    ASSERT_FALSE(d.ok()) << c.payload;
    EXPECT_EQ(d.status().code(), Code::kInvalid);
    EXPECT_NE(d.status().message().find(c.field), std::string::npos) << c.payload << " -> " << d.status().message();
  }
}

TEST(ParseDeployTest, SurvivesDeepNesting) {
  std::string deep = R"({"job_name":"a.b.c.d","instance_number":0,"x":)" + std::string(200000, '[') +
                     std::string(200000, ']') + "}";
  EXPECT_TRUE(ParseDeploy(deep).ok());
  EXPECT_FALSE(ParseDeploy(std::string(200000, '[')).ok());
}

TEST(ParseDeleteTest, ReadsTheKey) {
  auto k = ParseDelete(R"({"job_name":"a.b.c.d","virtualization":"container","instance_number":4})");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->job_name, "a.b.c.d");
  EXPECT_EQ(k->instance, 4);
  EXPECT_FALSE(ParseDelete(R"({"job_name":"a.b.c.d"})").ok());
  EXPECT_FALSE(ParseDelete("\xff\xfe").ok());
}

TEST(RegistrationTest, BodyAndAnswer) {
  NodeInfo info;
  info.host = "edge-7";
  info.ip = "192.168.1.7";
  info.vcpus = 4;
  info.memory_mb = 7821;
  info.disk_mb = 51200;
  info.location = "48.1,11.5";
  json b = RegistrationBody(info, {"container"}, {});
  EXPECT_EQ(b["host"], "edge-7");
  EXPECT_EQ(b["ip"], "192.168.1.7");
  EXPECT_EQ(b["architecture"], "amd64");
  EXPECT_EQ(b["os"], "linux");
  EXPECT_EQ(b["vcpus"], 4);
  EXPECT_EQ(b["memory"], 7821);
  EXPECT_EQ(b["disk"], 51200);
  EXPECT_EQ(b["gpu_cores"], 0);
  EXPECT_EQ(b["virtualization"], json::array({"container"}));
  EXPECT_EQ(b["supported_addons"], json::array());
  EXPECT_EQ(b["location"], "48.1,11.5");

  auto r = ParseRegistration(R"({"id":"65a1b2c3d4e5f60718293a4b","MQTT_BROKER_PORT":10003,"MQTT_BROKER_HOST":"",
      "mqtt_username":"65a1b2c3d4e5f60718293a4b","mqtt_password":"pw","report_interval_s":2})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->id, "65a1b2c3d4e5f60718293a4b");
  EXPECT_EQ(r->broker_port, 10003);
  EXPECT_EQ(r->broker_host, "");
  EXPECT_EQ(r->password, "pw");
  EXPECT_EQ(r->report_interval_s, 2);
  auto minimal = ParseRegistration(R"({"id":"n1","MQTT_BROKER_PORT":"1883"})");
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->username, "n1");
  EXPECT_EQ(minimal->broker_port, 1883);
  EXPECT_FALSE(ParseRegistration(R"({"MQTT_BROKER_PORT":1883})").ok());
  EXPECT_FALSE(ParseRegistration(R"({"id":"a/b","MQTT_BROKER_PORT":1883})").ok());
  EXPECT_FALSE(ParseRegistration(R"({"id":"n1","MQTT_BROKER_PORT":70000})").ok());
  EXPECT_FALSE(ParseRegistration(R"({"id":"n1"})").ok());
  EXPECT_FALSE(ParseRegistration("<html>").ok());
}

TEST(MessagesTest, ShapesOfDocsMqttMd) {
  InstanceStatus s{{"app.ns.svc.ns", 0}, "RUNNING", ""};
  json job = json::parse(JobMessage(s, "192.168.1.7"));
  EXPECT_EQ(job, (json{{"sname", "app.ns.svc.ns"}, {"instance", 0}, {"status", "RUNNING"}, {"status_detail", ""},
                       {"publicip", "192.168.1.7"}}));

  NodeUsage u;
  u.cpu_percent = 12.5;
  u.memory_percent = 40;
  u.memory_free_mb = 4692;
  u.disk_free_mb = 40960;
  u.vcpus = 4;
  std::vector<InstanceStatus> one{s};
  json info = json::parse(InformationMessage(u, &one));
  EXPECT_EQ(info["cpu_percent"], 12.5);
  EXPECT_EQ(info["memory"], 4692);
  EXPECT_EQ(info["disk"], 40960);
  EXPECT_EQ(info["vcpus"], 4);
  EXPECT_FALSE(info.contains("gpu_percent")) << "gpu fields only with GPUs";
  EXPECT_EQ(info["instances"], json::parse(R"([{"sname":"app.ns.svc.ns","instance":0,"status":"RUNNING"}])"));
  u.has_gpu = true;
  EXPECT_TRUE(json::parse(InformationMessage(u, nullptr)).contains("gpu_memory_free"));
  EXPECT_FALSE(json::parse(InformationMessage(u, nullptr)).contains("instances")) << "no list: the cluster keeps its own";

  InstanceUsage iu{{"app.ns.svc.ns", 0}, "container", 1.5, 12, 0.4, 0};
  json res = json::parse(ResourcesMessage({iu}));
  EXPECT_EQ(res["services"][0]["job_name"], "app.ns.svc.ns");
  EXPECT_EQ(res["services"][0]["instance"], 0);
  EXPECT_EQ(res["services"][0]["cpu_percent"], 1.5);
  EXPECT_EQ(res["services"][0]["virtualization"], "container");

  EXPECT_EQ(json::parse(WillMessage("n1")), (json{{"id", "n1"}, {"reason", "connection lost"}}));
  // A runtime's error line with broken UTF-8 must not throw.
  InstanceStatus bad{{"a.b.c.d", 0}, "FAILED", "oops \xff"};
  EXPECT_NO_THROW(JobMessage(bad, ""));
}

// The messages are written as text directly; they must be what dumping the document gives, with
// usage figures to 0.01.
TEST(MessagesTest, TextIsWhatDumpingTheDocumentGives) {
  auto dump = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
  auto r2 = [](double v) { return std::round(v * 100) / 100; };
  std::vector<InstanceStatus> list{{{"app.ns.svc.ns", 0}, "RUNNING", ""},
                                   {{"a.b.c.d", 12}, "FAILED", "quote \" back\\slash \n tab\t \xff \u00e9"}};
  for (const auto& s : list) {
    EXPECT_EQ(JobMessage(s, "10.0.0.1"), dump(json{{"sname", s.key.job_name}, {"instance", s.key.instance},
                                                   {"status", s.status}, {"status_detail", s.detail},
                                                   {"publicip", "10.0.0.1"}}));
  }
  NodeUsage u{12.345678901, 40, 4692, 40960, 4, false, 0, 0};
  for (bool gpu : {false, true}) {
    u.has_gpu = gpu;
    u.gpu_percent = 3.25;
    u.gpu_memory_free_mb = 2048;
    json instances = json::array();
    for (const auto& i : list) instances.push_back({{"sname", i.key.job_name}, {"instance", i.key.instance}, {"status", i.status}});
    json j{{"cpu_percent", r2(u.cpu_percent)}, {"memory_percent", u.memory_percent}, {"memory", u.memory_free_mb},
           {"disk", u.disk_free_mb},       {"vcpus", u.vcpus},                   {"instances", instances}};
    if (gpu) {
      j["gpu_percent"] = u.gpu_percent;
      j["gpu_memory_free"] = u.gpu_memory_free_mb;
    }
    EXPECT_EQ(InformationMessage(u, &list), dump(j));
    EXPECT_NE(InformationMessage(u, &list).find("\"cpu_percent\":12.35,"), std::string::npos);
    const std::vector<InstanceStatus> none;
    EXPECT_EQ(InformationMessage(u, &none), dump([&] {
                json e = j;
                e["instances"] = json::array();
                return e;
              }()));
    EXPECT_EQ(InformationMessage(u, nullptr), dump([&] {
                json e = j;
                e.erase("instances");
                return e;
              }()));
  }
  std::vector<InstanceUsage> usage{{{"app.ns.svc.ns", 0}, "container", 1.5, 12, 0.4, 0},
                                   {{"x.y.z.w", 7}, "unikernel", 0.000123, 1e6 / 3, 99.999, 1024}};
  json services = json::array();
  for (const auto& x : usage)
    services.push_back({{"job_name", x.key.job_name}, {"instance", x.key.instance}, {"cpu_percent", r2(x.cpu_percent)},
                        {"memory_percent", r2(x.memory_percent)}, {"memory", r2(x.memory_mb)}, {"disk", r2(x.disk_mb)},
                        {"virtualization", x.virtualization}});
  EXPECT_EQ(ResourcesMessage(usage), dump(json{{"services", services}}));
  EXPECT_NE(ResourcesMessage(usage).find("\"memory\":333333.33,"), std::string::npos);
  EXPECT_EQ(ResourcesMessage({}), dump(json{{"services", json::array()}}));
}

TEST(LogsPayloadsTest, RequestIsCheckedFieldByField) {
  auto r = ParseLogsRequest(R"({"request_id":"r1","job_name":"a.b.c.d","instance_number":3,"max_bytes":100})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->request_id, "r1");
  EXPECT_EQ(r->key, (InstanceKey{"a.b.c.d", 3}));
  EXPECT_EQ(r->max_bytes, 100u);
  auto d = ParseLogsRequest(R"({"request_id":"r1","job_name":"a.b.c.d","instance_number":0,"extra":1})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->max_bytes, kDefaultLogBytes);
  auto big = ParseLogsRequest(R"({"request_id":"r","job_name":"a","instance_number":0,"max_bytes":18446744073709551615})");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->max_bytes, kMaxLogBytes) << "capped, so the reply stays bounded";

  auto field_of = [](const std::string& payload) {
    auto res = ParseLogsRequest(payload);
    return res.ok() ? std::string("ok") : res.status().message();
  };
  EXPECT_NE(field_of(R"({"job_name":"a","instance_number":0})").find("request_id"), std::string::npos);
  EXPECT_NE(field_of(R"({"request_id":"","job_name":"a","instance_number":0})").find("request_id"), std::string::npos);
  EXPECT_NE(field_of(R"({"request_id":"a b","job_name":"a","instance_number":0})").find("request_id"), std::string::npos);
  EXPECT_NE(field_of(R"({"request_id":7,"job_name":"a","instance_number":0})").find("request_id"), std::string::npos);
  EXPECT_NE(field_of(R"({"request_id":")" + std::string(129, 'x') + R"(","job_name":"a","instance_number":0})")
                .find("request_id"), std::string::npos);
  EXPECT_NE(field_of(R"({"request_id":"r","instance_number":0})").find("job_name"), std::string::npos);
  EXPECT_NE(field_of(R"({"request_id":"r","job_name":"../x","instance_number":0})").find("job_name"), std::string::npos);
  EXPECT_NE(field_of(R"({"request_id":"r","job_name":"a","instance_number":"0"})").find("instance_number"), std::string::npos);
  EXPECT_NE(field_of(R"({"request_id":"r","job_name":"a","instance_number":0,"max_bytes":-1})").find("max_bytes"), std::string::npos);
  EXPECT_NE(field_of(R"({"request_id":"r","job_name":"a","instance_number":0,"max_bytes":1.5})").find("max_bytes"), std::string::npos);
  EXPECT_NE(field_of("[1]"), "ok");
  EXPECT_NE(field_of("{"), "ok");
}

TEST(LogsPayloadsTest, ReplyCarriesLogsOrAnError) {
  LogsRequest req{"r1", {"a.b.c.d", 3}, 100};
  json ok = json::parse(LogsReply(req, std::string("line 1\nline 2\n")));
  EXPECT_EQ(ok, (json{{"request_id", "r1"}, {"job_name", "a.b.c.d"}, {"instance_number", 3},
                      {"logs", "line 1\nline 2\n"}}));
  json err = json::parse(LogsReply(req, Status::NotFound("a.b.c.d.instance.3 is not on this node")));
  EXPECT_FALSE(err.contains("logs"));
  EXPECT_EQ(err["error"], (json{{"code", "not_found"}, {"message", "a.b.c.d.instance.3 is not on this node"}}));
  EXPECT_EQ(err["request_id"], "r1");
  // A workload's output is bytes: broken UTF-8 is replaced, never thrown on.
  EXPECT_NO_THROW(json::parse(LogsReply(req, std::string("bin \xff\xfe \x01"))));
}

}  // namespace
}  // namespace oak::node
