// Applications and services: Oakestra's SLA files and project-owned SLAs.
#include <filesystem>

#include "integration/helpers.h"

namespace oak::it {
namespace {

using oak::testing::CompatDir;
using oak::testing::ReadJsonFile;

#define REQUIRE_COMPAT()                                                                              \
  if (CompatDir().empty())                                                                            \
  GTEST_SKIP() << "Oakestra's SLA cases (../shared/compat/oakestra-sla or $OAK_COMPAT_DIR) are absent"

void ExpectServiceShape(const json& s, const std::string& app_id, const std::string& app, const std::string& ns) {
  for (const char* f : {"microserviceID", "applicationID", "app_name", "app_ns", "service_name", "service_ns",
                        "job_name", "image", "status", "next_instance_progressive_number", "instance_list"})
    EXPECT_TRUE(s.contains(f)) << "service lacks Oakestra's field " << f << ": " << s.dump();
  EXPECT_TRUE(IsHex24(Oid(s))) << s.dump();
  EXPECT_EQ(s.value("microserviceID", ""), Oid(s));
  EXPECT_EQ(s.value("applicationID", ""), app_id);
  EXPECT_EQ(s.value("app_name", ""), app);
  EXPECT_EQ(s.value("app_ns", ""), ns);
  EXPECT_EQ(s.value("job_name", ""), app + "." + ns + "." + s.value("service_name", "?") + "." +
                                         s.value("service_ns", "?"));
  EXPECT_EQ(s.value("image", ""), s.value("code", "!"));
  EXPECT_TRUE(s["instance_list"].is_array());
  EXPECT_TRUE(s["next_instance_progressive_number"].is_number_integer());
}

TEST(Apps, ExampleCurlLifecycle) {
  REQUIRE_COMPAT();
  TestRoot t("apps-curl");
  ApiClient admin = t->Admin();
  json sla = ReadJsonFile(CompatDir() + "/example_curl.json");
  ASSERT_TRUE(sla.is_object());

  auto created = admin.Post("/api/application/", sla);
  ASSERT_EQ(created.status, 200u) << created.body;
  ASSERT_TRUE(created.json.is_array()) << "create answers the caller's applications";
  ASSERT_EQ(created.json.size(), 1u);
  json app = created.json[0];
  std::string app_id = Oid(app);
  ASSERT_TRUE(IsHex24(app_id)) << app.dump();
  EXPECT_EQ(app.value("applicationID", ""), app_id);
  EXPECT_EQ(app.value("application_name", ""), "clientserver");
  EXPECT_EQ(app.value("application_namespace", ""), "test");
  ASSERT_TRUE(app["microservices"].is_array());
  EXPECT_EQ(app["microservices"].size(), 2u);

  auto list = admin.Get("/api/applications/");
  ASSERT_EQ(list.status, 200u);
  ASSERT_EQ(list.json.size(), 1u);
  EXPECT_EQ(Oid(list.json[0]), app_id);
  auto one = admin.Get("/api/application/" + app_id);
  ASSERT_EQ(one.status, 200u);
  EXPECT_EQ(one.json.value("application_desc", ""), "Simple demo with curl client and Nginx server");

  auto services = admin.Get("/api/services/" + app_id);
  ASSERT_EQ(services.status, 200u);
  ASSERT_EQ(services.json.size(), 2u);
  std::map<std::string, json> by_name;
  for (auto& s : services.json) {
    ExpectServiceShape(s, app_id, "clientserver", "test");
    by_name[s.value("service_name", "")] = s;
  }
  ASSERT_TRUE(by_name.count("curl") && by_name.count("nginx"));
  EXPECT_EQ(by_name["curl"].value("image", ""), "docker.io/curlimages/curl:7.82.0");
  EXPECT_EQ(by_name["nginx"]["addresses"].value("rr_ip", ""), "10.30.30.30");
  EXPECT_EQ(by_name["nginx"]["instance_list"].size(), 0u);
  EXPECT_EQ(by_name["nginx"]["next_instance_progressive_number"], 0);
  std::string svc_id = Oid(by_name["curl"]);
  auto svc = admin.Get("/api/service/" + svc_id);
  ASSERT_EQ(svc.status, 200u);
  EXPECT_EQ(svc.json.value("job_name", ""), "clientserver.test.curl.test");

  // Same name and namespace again: 409.
  auto dup = admin.Post("/api/application/", sla);
  EXPECT_EQ(dup.status, 409u) << dup.body;
  EXPECT_NE(dup.message().find("application_name"), std::string::npos) << dup.body;

  // Update: the description changes; the name cannot change under existing services.
  json edited = one.json;
  edited["application_desc"] = "edited";
  auto put = Put(admin, "/api/application/" + app_id, edited);
  ASSERT_EQ(put.status, 200u) << put.body;
  EXPECT_EQ(admin.Get("/api/application/" + app_id).json.value("application_desc", ""), "edited");
  auto bad_put = Put(admin, "/api/application/" + app_id, {{"application_name", "has space"}});
  EXPECT_EQ(bad_put.status, 400u);
  EXPECT_NE(bad_put.message().find("application_name"), std::string::npos);

  // Delete removes the application and its services.
  ASSERT_EQ(admin.Delete("/api/application/" + app_id).status, 200u);
  EXPECT_EQ(admin.Get("/api/application/" + app_id).status, 404u);
  EXPECT_EQ(admin.Get("/api/service/" + svc_id).status, 404u);
  EXPECT_EQ(admin.Get("/api/applications/").json.size(), 0u);
  EXPECT_EQ(admin.Get("/api/services/").json.size(), 0u);
  // The name is free again.
  EXPECT_EQ(admin.Post("/api/application/", sla).status, 200u);
}

TEST(Apps, AddServicesToExistingApp) {
  TestRoot t("apps-addsvc");
  ApiClient admin = t->Admin();
  json app = CreateApp(admin, SimpleSla("shop", 1), "shop");
  std::string app_id = Oid(app);
  ASSERT_TRUE(IsHex24(app_id));

  json add = Sla(json::array({Application("shop", "test", json::array({Microservice("cart"), Microservice("pay")}))}));
  add["applications"][0]["applicationID"] = app_id;
  auto r = admin.Post("/api/service/", add);
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_TRUE(r.json.is_object()) << "the dashboard expects an object with job_id: " << r.body;
  ASSERT_TRUE(r.json.contains("job_id") && r.json["job_id"].is_string());
  EXPECT_TRUE(IsHex24(r.json["job_id"]));
  ASSERT_TRUE(r.json["deployed_services"].is_array());
  EXPECT_EQ(r.json["deployed_services"].size(), 2u);
  ASSERT_TRUE(r.json["failed_services"].is_array());
  EXPECT_EQ(r.json["failed_services"].size(), 0u);

  auto services = admin.Get("/api/services/" + app_id);
  ASSERT_EQ(services.json.size(), 3u);
  for (auto& s : services.json) ExpectServiceShape(s, app_id, "shop", "test");
  EXPECT_EQ(admin.Get("/api/application/" + app_id).json["microservices"].size(), 3u);

  // Adding the same service again conflicts on the job name; nothing is added.
  auto again = admin.Post("/api/service/", add);
  EXPECT_EQ(again.status, 409u) << again.body;
  EXPECT_EQ(admin.Get("/api/services/" + app_id).json.size(), 3u);

  // An SLA without an applicationID, or with an unknown one, adds nothing.
  json no_id = add;
  no_id["applications"][0]["applicationID"] = "";
  no_id["applications"][0]["microservices"] = json::array({Microservice("other")});
  auto r2 = admin.Post("/api/service/", no_id);
  EXPECT_EQ(r2.status, 400u);
  EXPECT_NE(r2.message().find("applicationID"), std::string::npos) << r2.body;
  no_id["applications"][0]["applicationID"] = "0123456789abcdef01234567";
  EXPECT_EQ(admin.Post("/api/service/", no_id).status, 404u);
  EXPECT_EQ(admin.Get("/api/services/").json.size(), 3u);
}

TEST(Apps, MultiAppProjectSla) {
  TestRoot t("apps-multi");
  ApiClient admin = t->Admin();
  json constrained = Microservice("edge", "prod",
                                  {{"constraints", json::array({{{"type", "geo"}, {"location", "48.1,11.6"}, {"threshold", 100}}})},
                                   {"environment", json::array({"MODE=edge"})},
                                   {"port", "8080:80/tcp;9090:90/udp"},
                                   {"addresses", {{"rr_ip", "10.30.7.7"}}},
                                   {"unknown_extra_field", {{"kept", true}}}});
  json sla = Sla(json::array({Application("frontend", "prod", json::array({constrained, Microservice("api", "prod")})),
                              Application("backend", "prod", json::array({Microservice("db", "prod")})),
                              Application("empty", "prod", json::array())}));
  auto r = admin.Post("/api/application/", sla);
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(r.json.size(), 3u);
  EXPECT_EQ(admin.Get("/api/services/").json.size(), 3u);
  for (auto& a : r.json) {
    auto svcs = admin.Get("/api/services/" + Oid(a));
    ASSERT_EQ(svcs.status, 200u);
    EXPECT_EQ(svcs.json.size(), a["microservices"].size());
    for (auto& s : svcs.json) {
      ExpectServiceShape(s, Oid(a), a["application_name"], "prod");
      if (s["service_name"] == "edge") {
        EXPECT_EQ(s["environment"], json::array({"MODE=edge"})) << "SLA fields are kept on the service";
        EXPECT_EQ(s["constraints"][0].value("type", ""), "geo");
      }
    }
  }
}

TEST(Apps, RrIpRules) {
  TestRoot t("apps-rrip");
  ApiClient admin = t->Admin();
  auto with_ip = [](const std::string& app, const std::string& ip) {
    return Sla(json::array({Application(app, "test", json::array({Microservice("web", "test", {{"addresses", {{"rr_ip", ip}}}})}))}));
  };
  auto outside = admin.Post("/api/application/", with_ip("a1", "192.168.178.4"));
  EXPECT_EQ(outside.status, 400u) << outside.body;
  EXPECT_NE(outside.message().find("addresses.rr_ip"), std::string::npos) << outside.body;
  auto edge = admin.Post("/api/application/", with_ip("a1", "10.31.0.1"));
  EXPECT_EQ(edge.status, 400u) << edge.body;
  EXPECT_NE(edge.message().find("addresses.rr_ip"), std::string::npos) << edge.body;

  ASSERT_EQ(admin.Post("/api/application/", with_ip("a2", "10.30.5.5")).status, 200u);
  auto taken = admin.Post("/api/application/", with_ip("a3", "10.30.5.5"));
  EXPECT_EQ(taken.status, 409u) << taken.body;
  EXPECT_NE(taken.message().find("addresses.rr_ip"), std::string::npos) << taken.body;
  // Also via POST /api/service/ into an existing app.
  json app = CreateApp(admin, SimpleSla("a4", 0), "a4");
  json add = with_ip("a4", "10.30.5.5");
  add["applications"][0]["applicationID"] = Oid(app);
  auto taken2 = admin.Post("/api/service/", add);
  EXPECT_EQ(taken2.status, 409u) << taken2.body;
  EXPECT_NE(taken2.message().find("addresses.rr_ip"), std::string::npos) << taken2.body;
  // Nothing half-written: only a2's service exists.
  EXPECT_EQ(admin.Get("/api/services/").json.size(), 1u);
  EXPECT_EQ(admin.Get("/api/applications/").json.size(), 2u);
}

TEST(Apps, OakestraCorrectSlas) {
  REQUIRE_COMPAT();
  TestRoot t("apps-correct");
  ApiClient admin = t->Admin();
  auto c1 = admin.Post("/api/application/", ReadJsonFile(CompatDir() + "/sla_correct_1.json"));
  EXPECT_EQ(c1.status, 400u) << "sla_correct_1 asks for an rr_ip outside 10.30.0.0/16: " << c1.body;
  EXPECT_NE(c1.message().find("addresses.rr_ip"), std::string::npos) << c1.body;
  for (const char* f : {"sla_correct_2.json", "sla_correct_3.json", "sla_correct_4.json"}) {
    auto r = admin.Post("/api/application/", ReadJsonFile(CompatDir() + "/" + f));
    ASSERT_EQ(r.status, 200u) << f << ": " << r.body;
    ASSERT_TRUE(r.json.is_array() && r.json.size() == 1u) << f << ": " << r.body;
    std::string id = Oid(r.json[0]);
    EXPECT_TRUE(IsHex24(id)) << f;
    EXPECT_NE(id, "627527c1a4a5edb43d085f37") << f << ": a client-chosen applicationID must not become the id";
    // Each uses app test/test: remove it before the next.
    ASSERT_EQ(admin.Delete("/api/application/" + id).status, 200u) << f;
  }
}

TEST(Apps, OakestraFlawedSlasNameAField) {
  REQUIRE_COMPAT();
  TestRoot t("apps-flawed");
  ApiClient admin = t->Admin();
  int seen = 0;
  for (auto& entry : std::filesystem::directory_iterator(CompatDir())) {
    std::string name = entry.path().filename();
    if (name.rfind("sla_flawed_", 0) != 0) continue;
    ++seen;
    json sla = ReadJsonFile(entry.path());
    ASSERT_FALSE(sla.is_discarded()) << name;
    for (const char* route : {"/api/application/", "/api/service/"}) {
      auto r = admin.Post(route, sla);
      EXPECT_EQ(r.status, 400u) << name << " on " << route << ": " << r.body;
      EXPECT_FALSE(FieldOf(r.message()).empty()) << name << ": message names no field: " << r.body;
    }
  }
  EXPECT_GE(seen, 5);
  auto f5 = admin.Post("/api/application/", ReadJsonFile(CompatDir() + "/sla_flawed_5.json"));
  EXPECT_NE(f5.message().find("microservice_name"), std::string::npos) << f5.body;
  EXPECT_EQ(admin.Get("/api/applications/").json.size(), 0u);
  EXPECT_EQ(admin.Get("/api/services/").json.size(), 0u);
}

TEST(Apps, ProjectFlawedSlas) {
  TestRoot t("apps-ownflawed");
  ApiClient admin = t->Admin();
  struct Case {
    const char* what;
    json sla;
    const char* field;
  };
  json base = SimpleSla("ok", 1);
  std::vector<Case> cases;
  auto mut = [&](const char* what, const char* field, auto fn) {
    json s = base;
    fn(s);
    cases.push_back({what, s, field});
  };
  mut("v1.0", "sla_version", [](json& s) { s["sla_version"] = "v1.0"; });
  mut("no version", "sla_version", [](json& s) { s.erase("sla_version"); });
  mut("apps not array", "applications", [](json& s) { s["applications"] = "x"; });
  mut("long name", "application_name", [](json& s) { s["applications"][0]["application_name"] = std::string(31, 'a'); });
  mut("memory string", "memory", [](json& s) { s["applications"][0]["microservices"][0]["memory"] = "100"; });
  mut("microserviceID set", "microserviceID",
      [](json& s) { s["applications"][0]["microservices"][0]["microserviceID"] = "abc"; });
  mut("no namespace", "microservice_namespace",
      [](json& s) { s["applications"][0]["microservices"][0].erase("microservice_namespace"); });
  mut("no code", "code", [](json& s) { s["applications"][0]["microservices"][0].erase("code"); });
  mut("bad port", "port", [](json& s) { s["applications"][0]["microservices"][0]["port"] = "80:x/sctp"; });
  mut("constraint without type", "constraints",
      [](json& s) { s["applications"][0]["microservices"][0]["constraints"] = json::array({{{"cluster", "x"}}}); });
  for (auto& c : cases) {
    auto r = admin.Post("/api/application/", c.sla);
    EXPECT_EQ(r.status, 400u) << c.what << ": " << r.body;
    EXPECT_NE(r.message().find(c.field), std::string::npos) << c.what << ": message should name " << c.field << ": "
                                                            << r.body;
  }
  EXPECT_EQ(admin.Get("/api/applications/").json.size(), 0u);
}

}  // namespace
}  // namespace oak::it
