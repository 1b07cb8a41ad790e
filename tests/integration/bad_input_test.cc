// Hostile and broken input: always a JSON 4xx, never a crash, never a half-written record.
#include "integration/helpers.h"

namespace oak::it {
namespace {

const char* kSqlish = "x'); DROP TABLE users;--";

void ExpectJson4xx(const ApiResponse& r, const std::string& what) {
  EXPECT_GE(r.status, 400u) << what << ": " << r.body << r.error;
  EXPECT_LT(r.status, 500u) << what << ": " << r.body;
  EXPECT_FALSE(r.message().empty()) << what << ": 4xx bodies are {\"message\"}: " << r.body;
}

TEST(BadInput, MalformedAndWronglyTypedBodies) {
  TestRoot t("bad-bodies");
  ApiClient admin = t->Admin();
  const std::vector<std::string> bodies = {
      "",           "{",          "{\"a\":}",  "nul",       "[]",         "\"str\"",   "123",
      "null",       "{}",         "\xff\xfe",  "{\"sla_version\":\"v2.0\",\"applications\":[{]}",
      "{\"username\":5,\"password\":[1]}",    std::string("{\"a\":\"\0\"}", 9)};
  const std::vector<std::string> routes = {"/api/auth/login",      "/api/auth/register", "/api/application/",
                                           "/api/service/",        "/api/organization/", "/api/user/Admin",
                                           "/api/clusters/register"};
  for (const auto& route : routes) {
    for (const auto& body : bodies) {
      auto r = PostRaw(admin, route, body);
      // Registration is refused for the missing join token first.
      ExpectJson4xx(r, route + " <- " + body);
    }
  }
  // Wrong types inside a valid SLA name the field.
  json sla = SimpleSla("typed", 1);
  sla["applications"][0]["microservices"][0]["vcpus"] = "two";
  auto r = admin.Post("/api/application/", sla);
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.message().find("vcpus"), std::string::npos) << r.body;
  sla = SimpleSla("typed", 1);
  sla["applications"][0]["application_name"] = 42;
  r = admin.Post("/api/application/", sla);
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.message().find("application_name"), std::string::npos) << r.body;
  sla = SimpleSla("typed", 1);
  sla["applications"][0]["microservices"] = json::object();
  EXPECT_EQ(admin.Post("/api/application/", sla).status, 400u);

  EXPECT_TRUE(Healthy(t.root()));
  EXPECT_EQ(admin.Get("/api/applications/").json.size(), 0u);
  EXPECT_EQ(admin.Get("/api/users/").json.size(), 1u);

  // A malformed body on instance deploy creates no instance.
  json app = CreateApp(admin, SimpleSla("body", 1), "body");
  std::string sid = Oid(admin.Get("/api/services/" + Oid(app)).json[0]);
  for (const char* body : {"{", "\xff", "{\"a\":}"}) {
    auto r = PostRaw(admin, "/api/service/" + sid + "/instance", body);
    ExpectJson4xx(r, std::string("instance deploy <- ") + body);
  }
  auto svc = admin.Get("/api/service/" + sid);
  EXPECT_EQ(svc.json["instance_list"].size(), 0u);
  EXPECT_EQ(svc.json["next_instance_progressive_number"], 0);
}

TEST(BadInput, OversizedBodyIs413Json) {
  TestRoot t("bad-big");
  ApiClient admin = t->Admin();
  std::string big(10u << 20, ' ');
  big.front() = '{';
  big.back() = '}';
  auto r = PostRaw(admin, "/api/application/", big);
  EXPECT_EQ(r.status, 413u) << r.error << r.body.substr(0, 200);
  EXPECT_FALSE(r.message().empty()) << "413 body must be JSON {\"message\"}: " << r.body.substr(0, 200);
  EXPECT_TRUE(Healthy(t.root()));
  // Just under the limit is parsed as usual (here: a valid JSON object that is not an SLA).
  std::string under(1000 * 1000, ' ');
  under.front() = '{';
  under.back() = '}';
  auto r2 = PostRaw(admin, "/api/application/", under);
  EXPECT_EQ(r2.status, 400u) << r2.body;
  EXPECT_TRUE(Healthy(t.root()));
}

TEST(BadInput, DeeplyNestedJsonDoesNotCrash) {
  TestRoot t("bad-deep");
  ApiClient admin = t->Admin();
  std::string deep = std::string(400000, '[') + std::string(400000, ']');
  for (const char* route : {"/api/auth/login", "/api/application/", "/api/service/"}) {
    auto r = PostRaw(admin, route, deep);
    ExpectJson4xx(r, std::string("deep array on ") + route);
  }
  std::string deep_obj;
  for (int i = 0; i < 100000; ++i) deep_obj += "{\"a\":";
  deep_obj += "1" + std::string(100000, '}');
  auto r = PostRaw(admin, "/api/application/", deep_obj);
  ExpectJson4xx(r, "deep object");
  EXPECT_TRUE(Healthy(t.root())) << "root died on deeply nested JSON";
}

TEST(BadInput, UnknownIdsAre404) {
  TestRoot t("bad-ids");
  ApiClient admin = t->Admin();
  const std::vector<std::string> ids = {"0123456789abcdef01234567", "nope", "%27%29%3B%20DROP%20TABLE%20users%3B--",
                                        "%E2%9C%93", std::string(300, 'f')};
  for (const auto& id : ids) {
    for (auto [m, target] : std::vector<std::pair<verb::verb, std::string>>{
             {verb::verb::get, "/api/application/" + id},
             {verb::verb::delete_, "/api/application/" + id},
             {verb::verb::put, "/api/application/" + id},
             {verb::verb::get, "/api/service/" + id},
             {verb::verb::delete_, "/api/service/" + id},
             {verb::verb::get, "/api/services/" + id},
             {verb::verb::post, "/api/service/" + id + "/instance"},
             {verb::verb::delete_, "/api/service/" + id + "/instance/0"},
             {verb::verb::get, "/api/user/" + id},
             {verb::verb::get, "/api/organization/" + id}}) {
      auto r = admin.Call(m, target, m == verb::verb::put ? "{\"application_desc\":\"x\"}" : "");
      EXPECT_EQ(r.status, 404u) << target << ": " << r.body;
      EXPECT_FALSE(r.message().empty()) << target;
    }
  }
  EXPECT_TRUE(Healthy(t.root()));
}

TEST(BadInput, SqlishAndUnicodeStrings) {
  TestRoot t("bad-sql");
  ApiClient admin = t->Admin();
  // Names with SQL or non-ASCII are refused by the name pattern.
  for (std::string name : {std::string(kSqlish), std::string("\xC3\xA4pp"), std::string("app\xF0\x9F\x9A\x80")}) {
    auto r = admin.Post("/api/application/", SimpleSla(name, 1));
    EXPECT_EQ(r.status, 400u) << name << ": " << r.body;
    EXPECT_NE(r.message().find("application_name"), std::string::npos) << r.body;
    json ms = SimpleSla("fine", 1);
    ms["applications"][0]["microservices"][0]["microservice_name"] = name;
    auto r2 = admin.Post("/api/application/", ms);
    EXPECT_EQ(r2.status, 400u) << r2.body;
    auto login = t->Client().Post("/api/auth/login", {{"username", name}, {"password", kSqlish}});
    EXPECT_EQ(login.status, 401u) << login.body;
    auto reg = admin.Post("/api/auth/register", {{"name", name}, {"password", "pw"}});
    EXPECT_EQ(reg.status, 400u) << reg.body;
    auto org = admin.Get("/api/user/" + name);
    EXPECT_TRUE(org.status == 404 || org.status == 400) << org.body;
  }
  // Free-text fields keep SQL and unicode verbatim.
  json sla = SimpleSla("textapp", 1);
  const std::string desc = std::string(kSqlish) + " \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x9A\x80 \"quoted\" \\";
  sla["applications"][0]["application_desc"] = desc;
  sla["applications"][0]["microservices"][0]["environment"] = json::array({std::string("NOTE=") + kSqlish});
  json app = CreateApp(admin, sla, "textapp");
  auto back = admin.Get("/api/application/" + Oid(app));
  ASSERT_EQ(back.status, 200u);
  EXPECT_EQ(back.json.value("application_desc", ""), desc);
  auto svcs = admin.Get("/api/services/" + Oid(app));
  ASSERT_EQ(svcs.json.size(), 1u);
  EXPECT_EQ(svcs.json[0]["environment"][0], std::string("NOTE=") + kSqlish);
  auto org = admin.Post("/api/organization/", {{"name", kSqlish}});
  EXPECT_TRUE(org.status == 201 || org.status == 200 || org.status == 400) << org.body;

  // The users table is intact and Admin still logs in.
  auto users = admin.Get("/api/users/");
  ASSERT_EQ(users.status, 200u);
  EXPECT_EQ(users.json.size(), 1u);
  EXPECT_EQ(t->Client().Login("Admin", t->config().admin_password).status, 200u);
  EXPECT_TRUE(Healthy(t.root()));
}

TEST(BadInput, FailingSecondAppLeavesNoFirstApp) {
  TestRoot t("bad-halfway");
  ApiClient admin = t->Admin();
  json good = Application("first", "test", json::array({Microservice("web")}));
  auto count = [&] { return std::make_pair(admin.Get("/api/applications/").json.size(), admin.Get("/api/services/").json.size()); };

  // 1. The second application fails validation.
  json invalid = Application("second", "test", json::array({Microservice("bad name")}));
  auto r = admin.Post("/api/application/", Sla(json::array({good, invalid})));
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_NE(r.message().find("applications[1]"), std::string::npos) << r.body;
  EXPECT_EQ(count(), std::make_pair(size_t{0}, size_t{0}));

  // 2. The second application fails admission (rr_ip outside the pool).
  json outside = Application("second", "test", json::array({Microservice("db", "test", {{"addresses", {{"rr_ip", "10.99.0.1"}}}})}));
  r = admin.Post("/api/application/", Sla(json::array({good, outside})));
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(count(), std::make_pair(size_t{0}, size_t{0}));

  // 3. The second application fails in the store (its rr_ip is the first one's): rolled back.
  json first_ip = Application("first", "test", json::array({Microservice("web", "test", {{"addresses", {{"rr_ip", "10.30.9.9"}}}})}));
  json same_ip = Application("second", "test", json::array({Microservice("db", "test", {{"addresses", {{"rr_ip", "10.30.9.9"}}}})}));
  r = admin.Post("/api/application/", Sla(json::array({first_ip, same_ip})));
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(count(), std::make_pair(size_t{0}, size_t{0})) << "a store conflict in app 2 left app 1 behind";

  // 4. The second application's name is already taken: rolled back.
  ASSERT_EQ(admin.Post("/api/application/", Sla(json::array({Application("taken", "test", json::array())}))).status, 200u);
  r = admin.Post("/api/application/", Sla(json::array({good, Application("taken", "test", json::array())})));
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(count(), std::make_pair(size_t{1}, size_t{0}));

  // 5. The same application twice in one SLA.
  r = admin.Post("/api/application/", Sla(json::array({good, good})));
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(count(), std::make_pair(size_t{1}, size_t{0}));
  EXPECT_TRUE(Healthy(t.root()));
}

TEST(BadInput, ClusterHeartbeatWithWrongTypes) {
  TestRoot t("bad-heartbeat");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("typed"));
  // Nonsense types in job reports: a 4xx for the heartbeat.
  for (json body : {json{{"jobs", "x"}}, json{{"jobs", json::array({1})}},
                    json{{"jobs", json::array({{{"_id", 5}}})}},
                    json{{"jobs", json::array({{{"_id", "0123456789abcdef01234567"},
                                                {"instance_list", json::array({{{"instance_number", "0"}}})}}})}}}) {
    unsigned code = fake->HeartbeatWith(body);
    EXPECT_TRUE(code >= 400 && code < 500) << body.dump() << " -> " << code;
  }
  // Wrongly typed aggregates are ignored or refused, never a broken listing.
  EXPECT_LT(fake->HeartbeatWith({{"memory", "lots"}, {"active_nodes", json::array()}, {"virtualization", "container"}}),
            500u);
  EXPECT_EQ(admin.Get("/api/clusters/").status, 200u);
  EXPECT_TRUE(Healthy(t.root()));

  unsigned code = fake->HeartbeatWith(
      {{"cluster_location", 5}, {"memory", 4096}, {"vcpus", 4}, {"virtualization", {"container"}}, {"active_nodes", 1}});
  EXPECT_LT(code, 500u);
  auto list = admin.Get("/api/clusters/");
  EXPECT_EQ(list.status, 200u) << "BUG: a heartbeat with a non-string cluster_location is stored as is, and then "
                                  "GET /api/clusters/ answers 500 for everyone (ClusterRegistry::ToJson calls "
                                  "json::value(\"cluster_location\", std::string()) on a number): "
                               << list.body;
  // Placement on that cluster must not die silently either (same json::value call in Dispatcher::RunDeploy).
  json app = CreateApp(admin, SimpleSla("typedapp", 1), "typedapp");
  std::string sid = Oid(admin.Get("/api/services/" + Oid(app)).json[0]);
  ASSERT_EQ(admin.Post("/api/service/" + sid + "/instance", json::object()).status, 200u);
  json inst;
  WaitFor([&] {
    inst = InstanceOf(admin, sid, 0);
    return inst.value("status", "REQUESTED") != "REQUESTED";
  }, std::chrono::seconds(3));
  EXPECT_NE(inst.value("status", ""), "REQUESTED")
      << "BUG: the instance stays REQUESTED forever: Dispatcher::RunDeploy throws on the non-string "
         "cluster_location (info.value(...)) and the detached coroutine swallows the exception: "
      << inst.dump();
  EXPECT_TRUE(Healthy(t.root()));
}

TEST(BadInput, HeartbeatWithWronglyTypedInstanceStatus) {
  TestRoot t("bad-hbstatus");
  ApiClient admin = t->Admin();
  auto fake = StartFake(t.root(), ClusterCfg("typed"));
  json app = CreateApp(admin, SimpleSla("typedapp", 1), "typedapp");
  std::string sid = Oid(admin.Get("/api/services/" + Oid(app)).json[0]);
  ASSERT_EQ(admin.Post("/api/service/" + sid + "/instance", json::object()).status, 200u);
  ASSERT_TRUE(WaitFor([&] { return fake->Instances().size() == 1; }));
  WaitInstanceStatus(admin, sid, 0, "CLUSTER_SCHEDULED");
  auto report = [&](json status) {
    return fake->HeartbeatWith(
        {{"memory", 4096},
         {"vcpus", 4},
         {"jobs", json::array({{{"_id", sid}, {"instance_list", json::array({{{"instance_number", 0}, {"status", status}}})}}})}});
  };
  unsigned unknown = report("SLEEPING");
  EXPECT_EQ(unknown, 400u) << "an unknown status name is refused";
  unsigned code = report(5);
  EXPECT_TRUE(code >= 400 && code < 500)
      << "BUG: a numeric instance status in a heartbeat answers " << code
      << " (Dispatcher::ApplyJobReports calls ri.value(\"status\", std::string) on a number, which throws; "
         "the server maps the exception to 500 instead of a 400 naming the field)";
  EXPECT_EQ(InstanceOf(admin, sid, 0).value("status", ""), "CLUSTER_SCHEDULED");
  EXPECT_EQ(report("RUNNING"), 200u);
  EXPECT_EQ(WaitInstanceStatus(admin, sid, 0, "RUNNING").value("status", ""), "RUNNING");
  EXPECT_TRUE(Healthy(t.root()));
}

}  // namespace
}  // namespace oak::it
