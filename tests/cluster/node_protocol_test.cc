#include "cluster/node_protocol.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace oak::cluster {
namespace {

using nlohmann::json;

TEST(NodeProtocol, ParsesAFullDescription) {
  auto d = ParseNodeDescription(json{{"host", "edge-1"},       {"ip", "10.0.0.7"},   {"architecture", "arm64"},
                                     {"vcpus", 4},              {"memory", 7821},     {"disk", 51200},
                                     {"gpu_cores", 1},          {"virtualization", {"container", "unikernel"}},
                                     {"supported_addons", {"x"}}, {"location", "48.1,11.5"}});
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->host, "edge-1");
  EXPECT_EQ(d->arch, "arm64");
  EXPECT_EQ(d->vcpus, 4);
  EXPECT_EQ(d->memory_mb, 7821);
  EXPECT_EQ(d->gpus, 1);
  ASSERT_TRUE(d->location.has_value());
  EXPECT_DOUBLE_EQ(d->location->lat, 48.1);
  EXPECT_EQ(d->virtualization.size(), 2u);
}

TEST(NodeProtocol, DescriptionErrorsNameTheField) {
  struct Case {
    json body;
    std::string field;
  } cases[] = {
      {json::array(), "body"},
      {json{{"ip", "1.2.3.4"}}, "host"},
      {json{{"host", "bad name/with slash"}}, "host"},
      {json{{"host", "n"}, {"vcpus", "four"}}, "vcpus"},
      {json{{"host", "n"}, {"memory", -5}}, "memory"},
      {json{{"host", "n"}, {"virtualization", "container"}}, "virtualization"},
      {json{{"host", "n"}, {"virtualization", {1, 2}}}, "virtualization"},
      {json{{"host", "n"}, {"location", "north"}}, "location"},
      {json{{"host", "n"}, {"location", "91,0"}}, "location"},
  };
  for (const auto& c : cases) {
    auto d = ParseNodeDescription(c.body);
    ASSERT_FALSE(d.ok()) << c.body.dump();
    EXPECT_EQ(d.status().code(), Code::kInvalid);
    EXPECT_EQ(d.status().message().rfind(c.field + ":", 0), 0u) << d.status().message();
  }
}

TEST(NodeProtocol, ReportsAndEvents) {
  auto r = ParseNodeReport(R"({"cpu_percent": 12.5, "memory_percent": 40, "memory": 1000, "disk": 5,
                               "instances": [{"sname": "a.b.c.d", "instance": 2, "status": "RUNNING"}]})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_DOUBLE_EQ(r->cpu_percent, 12.5);
  EXPECT_EQ(r->memory_free_mb, 1000);
  ASSERT_TRUE(r->instances.has_value());
  EXPECT_EQ((*r->instances)[0].instance, 2);

  auto e = ParseJobEvent(R"({"sname": "a.b.c.d", "instance": 0, "status": "RUNNING", "publicip": "1.2.3.4"})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->status, "RUNNING");
  EXPECT_EQ(e->publicip, "1.2.3.4");
}

TEST(NodeProtocol, MalformedPayloadsAreErrorsNotCrashes) {
  for (const char* p : {"", "not json", "[]", "42", "{\"sname\": 1, \"instance\": 0, \"status\": \"RUNNING\"}",
                        "{\"sname\": \"a\", \"instance\": \"0\", \"status\": \"RUNNING\"}",
                        "{\"sname\": \"a\", \"instance\": -1, \"status\": \"RUNNING\"}",
                        "{\"sname\": \"a\", \"instance\": 0, \"status\": \"running\"}",
                        "{\"sname\": \"a\", \"instance\": 0}"}) {
    EXPECT_FALSE(ParseJobEvent(p).ok()) << p;
  }
  for (const char* p : {"{", "{\"cpu_percent\": \"high\"}", "{\"memory\": -1}", "{\"instances\": {}}",
                        "{\"instances\": [{\"sname\": \"a\"}]}", "{\"cpu_percent\": 1e999}"}) {
    EXPECT_FALSE(ParseNodeReport(p).ok()) << p;
  }
  EXPECT_FALSE(ParseJobResources("{\"services\": 3}").ok());
  EXPECT_FALSE(ParseJobResources("{\"services\": [{\"job_name\": \"a\", \"instance\": 0, \"cpu_percent\": []}]}").ok());
}

TEST(NodeProtocol, DeployPayloadAddsTheInstanceNumber) {
  auto p = DeployPayload(R"({"job_name": "a.b.c.d", "memory": 100})", 3);
  ASSERT_TRUE(p.ok());
  json j = json::parse(*p);
  EXPECT_EQ(j["instance_number"], 3);
  EXPECT_EQ(j["memory"], 100);
  json d = json::parse(DeletePayload("a.b.c.d", "container", 3));
  EXPECT_EQ(d, (json{{"job_name", "a.b.c.d"}, {"virtualization", "container"}, {"instance_number", 3}}));
}

TEST(NodeProtocol, SplitsNodeTopics) {
  auto [id, rest] = SplitNodeTopic("nodes/abc/jobs/resources");
  EXPECT_EQ(id, "abc");
  EXPECT_EQ(rest, "jobs/resources");
  EXPECT_TRUE(SplitNodeTopic("other/abc/job").first.empty());
  EXPECT_TRUE(SplitNodeTopic("nodes//job").first.empty());
  EXPECT_TRUE(SplitNodeTopic("nodes/abc").first.empty());
}

TEST(NodeProtocol, LogsRequestAndReply) {
  json req = json::parse(LogsRequestPayload("r1", "a.b.c.d", 2, 4096));
  EXPECT_EQ(req, (json{{"request_id", "r1"}, {"job_name", "a.b.c.d"}, {"instance_number", 2}, {"max_bytes", 4096}}));

  auto ok = ParseLogsReply(R"({"request_id":"r1","job_name":"a.b.c.d","instance_number":2,"logs":"x\ny\n"})");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->request_id, "r1");
  EXPECT_EQ(ok->instance, 2);
  ASSERT_TRUE(ok->logs.has_value());
  EXPECT_EQ(*ok->logs, "x\ny\n");
  auto empty = ParseLogsReply(R"({"request_id":"r1","job_name":"a","instance_number":0,"logs":""})");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->logs, std::string());

  auto err = ParseLogsReply(
      R"({"request_id":"r1","job_name":"a","instance_number":0,"error":{"code":"not_found","message":"gone"}})");
  ASSERT_TRUE(err.ok()) << err.status().message();
  EXPECT_FALSE(err->logs.has_value());
  EXPECT_EQ(err->error_code, "not_found");
  EXPECT_EQ(err->error_message, "gone");

  struct Case {
    std::string payload, field;
  } cases[] = {
      {R"({"job_name":"a","instance_number":0,"logs":""})", "request_id"},
      {R"({"request_id":"","job_name":"a","instance_number":0,"logs":""})", "request_id"},
      {R"({"request_id":")" + std::string(200, 'r') + R"(","job_name":"a","instance_number":0,"logs":""})", "request_id"},
      {R"({"request_id":"r","instance_number":0,"logs":""})", "job_name"},
      {R"({"request_id":"r","job_name":"a","instance_number":-1,"logs":""})", "instance_number"},
      {R"({"request_id":"r","job_name":"a","instance_number":0,"logs":7})", "logs"},
      {R"({"request_id":"r","job_name":"a","instance_number":0})", "logs"},
      {R"({"request_id":"r","job_name":"a","instance_number":0,"error":{"message":"m"}})", "error.code"},
      {R"({"request_id":"r","job_name":"a","instance_number":0,"error":{"code":1}})", "error.code"},
      {R"({"request_id":"r","job_name":"a","instance_number":0,"logs":")" + std::string(kMaxLogReplyBytes + 1, 'x') +
           R"("})", "logs"},
  };
  for (const auto& c : cases) {
    auto r = ParseLogsReply(c.payload);
    ASSERT_FALSE(r.ok()) << c.payload.substr(0, 120);
    EXPECT_NE(r.status().message().find(c.field), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(ParseLogsReply("[]").ok());
}

}  // namespace
}  // namespace oak::cluster
