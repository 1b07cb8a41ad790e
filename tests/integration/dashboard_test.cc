// Oakestra's Angular dashboard against a real `oak root`: the calls it makes, in the shapes it
// sends them, from its dev-server origin. Every call checks CORS, and every error body is
// {"message": string}.
#include <algorithm>
#include <ctime>

#include "integration/helpers.h"

namespace oak::it {
namespace {

constexpr char kOrigin[] = "http://localhost:4200";

struct UiResponse {
  unsigned status = 0;
  json body;
  std::map<std::string, std::string> headers;
};

// The browser side of the dashboard: raw requests that carry the Origin header it sends.
class Ui {
 public:
  explicit Ui(std::string base) : base_(std::move(base)) {}
  std::string token;

  UiResponse Call(const std::string& method, const std::string& target, const json& body = nullptr,
                  const std::string& bearer = "") const {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + Host() + "\r\nOrigin: " + kOrigin +
                      "\r\nAccept: application/json\r\nConnection: close\r\n";
    const std::string& auth = bearer.empty() ? token : bearer;
    if (!auth.empty()) req += "Authorization: Bearer " + auth + "\r\n";
    std::string payload = body.is_null() ? "" : body.dump();
    if (!body.is_null()) req += "Content-Type: application/json\r\n";
    req += "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
    RawResponse raw = RawExchange(base_, req);
    UiResponse out{static_cast<unsigned>(raw.status), json::parse(raw.body, nullptr, false), raw.headers};
    const std::string what = method + " " + target;
    EXPECT_NE(out.status, 0u) << what << ": " << raw.error;
    EXPECT_EQ(out.headers["access-control-allow-origin"], kOrigin) << what << ": no CORS header for the dashboard";
    if (out.status >= 400) {
      EXPECT_TRUE(out.body.is_object() && out.body.contains("message") && out.body["message"].is_string())
          << what << ": error bodies must be {\"message\": string}, got " << raw.body;
    }
    return out;
  }
  UiResponse Get(const std::string& t) const { return Call("GET", t); }
  UiResponse Post(const std::string& t, const json& b) const { return Call("POST", t, b); }
  UiResponse Put(const std::string& t, const json& b) const { return Call("PUT", t, b); }
  UiResponse Delete(const std::string& t) const { return Call("DELETE", t); }

  // What the browser sends before a cross-origin call with a JSON body and a bearer token.
  void ExpectPreflight(const std::string& method, const std::string& target) const {
    std::string req = "OPTIONS " + target + " HTTP/1.1\r\nHost: " + Host() + "\r\nOrigin: " + kOrigin +
                      "\r\nAccess-Control-Request-Method: " + method +
                      "\r\nAccess-Control-Request-Headers: authorization,content-type\r\nConnection: close\r\n\r\n";
    RawResponse r = RawExchange(base_, req);
    const std::string what = "preflight " + method + " " + target;
    EXPECT_EQ(r.status, 204) << what << ": " << r.body << r.error;
    EXPECT_EQ(r.headers["access-control-allow-origin"], kOrigin) << what;
    std::string allowed = Lower(r.headers["access-control-allow-headers"]);
    for (const char* h : {"authorization", "content-type"})
      EXPECT_NE(allowed.find(h), std::string::npos) << what << ": header " << h << " not allowed: " << allowed;
    EXPECT_NE(r.headers["access-control-allow-methods"].find(method), std::string::npos) << what;
  }

 private:
  std::string Host() const { return base_.substr(base_.find("//") + 2); }
  static std::string Lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  std::string base_;
};

Ui LogIn(TestRoot& t, const std::string& name, const std::string& password) {
  Ui ui(t->url());
  auto r = ui.Post("/api/auth/login", {{"username", name}, {"password", password}});
  EXPECT_EQ(r.status, 200u) << "login " << name << ": " << r.body.dump();
  if (r.body.is_object() && r.body.contains("token") && r.body["token"].is_string()) ui.token = r.body["token"];
  return ui;
}

void Register(const Ui& admin, const std::string& name, const json& roles) {
  auto r = admin.Post("/api/auth/register",
                      {{"name", name}, {"password", name + "-pw-1"}, {"email", name + "@example.org"}, {"roles", roles}});
  EXPECT_TRUE(r.status == 200 || r.status == 201) << "register " << name << " with roles " << roles.dump() << ": "
                                                  << r.status << " " << r.body.dump();
}

bool StringArray(const json& j) {
  return j.is_array() && std::all_of(j.begin(), j.end(), [](const json& e) { return e.is_string(); });
}

bool Has(const json& list, const std::string& value) {
  return list.is_array() && std::find(list.begin(), list.end(), json(value)) != list.end();
}

json DashSla(const std::string& app, json microservices = nullptr, const std::string& app_id = "") {
  json a = {{"application_name", app}, {"application_namespace", "dash"}, {"application_desc", "made in the dashboard"}};
  if (!app_id.empty()) a["applicationID"] = app_id;
  if (!microservices.is_null()) a["microservices"] = std::move(microservices);
  return {{"sla_version", "v2.0"}, {"applications", json::array({a})}};
}

// A microservice as the dashboard's form produces it: no microserviceID, unset numbers as null.
json DashService(const std::string& name, json memory) {
  return {{"microservice_name", name}, {"microservice_namespace", "dash"}, {"virtualization", "container"},
          {"code", "docker.io/library/nginx:1.25"}, {"memory", std::move(memory)}, {"vcpus", 1},
          {"vgpus", nullptr}, {"vtpus", nullptr}, {"storage", nullptr}, {"port", "80"}};
}

TEST(Dashboard, LoginRefreshAndCors) {
  TestRoot t("dash-login");
  Ui ui(t->url());
  auto login = ui.Post("/api/auth/login", {{"username", "Admin"}, {"password", t->config().admin_password}});
  ASSERT_EQ(login.status, 200u) << login.body.dump();
  ASSERT_TRUE(login.body["token"].is_string() && login.body["refresh_token"].is_string()) << login.body.dump();
  json claims = JwtPayload(login.body["token"]);
  EXPECT_EQ(claims.value("sub", ""), "Admin");
  ASSERT_TRUE(claims["exp"].is_number_integer()) << claims.dump();
  const int64_t now = std::time(nullptr), exp = claims["exp"];
  EXPECT_TRUE(exp > now && exp < now + 7 * 86400) << "exp must be in seconds: " << exp;
  EXPECT_TRUE(StringArray(claims["roles"]) && Has(claims["roles"], "Admin")) << claims.dump();

  auto refreshed = ui.Call("POST", "/api/auth/refresh", json::object(), login.body["refresh_token"]);
  ASSERT_EQ(refreshed.status, 200u) << refreshed.body.dump();
  ASSERT_TRUE(refreshed.body["token"].is_string());
  EXPECT_EQ(JwtPayload(refreshed.body["token"]).value("sub", ""), "Admin");
  ui.token = refreshed.body["token"];
  EXPECT_EQ(ui.Get("/api/permission/Admin").status, 200u) << "the refreshed token must work";

  for (const char* m : {"POST", "PUT", "DELETE"})
    for (const char* target : {"/api/application/", "/api/service/0123456789abcdef01234567", "/api/organization/",
                               "/api/user/Admin", "/api/auth/login"})
      ui.ExpectPreflight(m, target);
  // Errors carry the CORS header too, or the browser hides them from the dashboard.
  EXPECT_EQ(ui.Post("/api/auth/login", {{"username", "Admin"}, {"password", "wrong"}}).status, 401u);
  EXPECT_EQ(ui.Call("GET", "/api/applications/", nullptr, "not-a-jwt").status, 401u);
  EXPECT_EQ(ui.Get("/api/no-such-page").status, 404u);
  EXPECT_EQ(ui.Get("/api/service/0123456789abcdef01234567").status, 404u);
}

TEST(Dashboard, UsersPageProfileAndPermissions) {
  TestRoot t("dash-users");
  Ui admin = LogIn(t, "Admin", t->config().admin_password);
  Register(admin, "alice", json::array({"Application_Provider", "Organization_Admin"}));
  Register(admin, "bob", json::array());

  auto users = admin.Get("/api/users/Admin");  // the users page passes the admin's own name
  ASSERT_EQ(users.status, 200u) << users.body.dump();
  ASSERT_TRUE(users.body.is_array()) << users.body.dump();
  std::map<std::string, json> by_name;
  for (auto& u : users.body) {
    EXPECT_TRUE(IsHex24(Oid(u))) << u.dump();
    for (const char* f : {"name", "email"}) EXPECT_TRUE(u[f].is_string()) << f << ": " << u.dump();
    EXPECT_TRUE(u.contains("created_at") && !u["created_at"].is_null()) << u.dump();
    EXPECT_TRUE(StringArray(u["roles"])) << "roles must be plain strings: " << u.dump();
    by_name[u.value("name", "")] = u;
  }
  ASSERT_TRUE(by_name.count("Admin") && by_name.count("alice") && by_name.count("bob")) << users.body.dump();
  EXPECT_EQ(by_name["alice"]["roles"], json::array({"Application_Provider", "Organization_Admin"}));
  EXPECT_EQ(by_name["bob"]["roles"], json::array());
  EXPECT_EQ(by_name["alice"]["email"], "alice@example.org");

  // The profile page: alice saves her own document with a new email and her roles unchanged.
  Ui alice = LogIn(t, "alice", "alice-pw-1");
  auto me = alice.Get("/api/user/alice");
  ASSERT_EQ(me.status, 200u) << me.body.dump();
  json edited = me.body;
  edited["email"] = "alice@new.example.org";
  auto saved = alice.Put("/api/user/alice", edited);
  EXPECT_EQ(saved.status, 200u) << "sending back unchanged roles must not need Admin: " << saved.body.dump();
  EXPECT_EQ(alice.Get("/api/user/alice").body.value("email", ""), "alice@new.example.org");
  for (json roles : {json::array({"Application_Provider", "Organization_Admin", "Admin"}), json::array({"Application_Provider"})}) {
    edited["roles"] = roles;
    EXPECT_EQ(alice.Put("/api/user/alice", edited).status, 403u) << "a non-admin changed roles to " << roles.dump();
  }
  EXPECT_EQ(alice.Get("/api/permission/alice").body["roles"], json::array({"Application_Provider", "Organization_Admin"}));
  EXPECT_EQ(alice.Get("/api/users/alice").status, 403u) << "the users page is for Admins";

  auto perm = admin.Get("/api/permission/Admin");
  ASSERT_EQ(perm.status, 200u);
  EXPECT_TRUE(StringArray(perm.body["roles"]) && Has(perm.body["roles"], "Admin")) << perm.body.dump();
  EXPECT_EQ(admin.Get("/api/permission/bob").body, json({{"roles", json::array()}}));
  Ui bob = LogIn(t, "bob", "bob-pw-1");
  EXPECT_EQ(JwtPayload(bob.token)["roles"], json::array()) << "no roles is still an array";
  EXPECT_EQ(bob.Get("/api/permission/bob").status, 200u);
}

TEST(Dashboard, Organizations) {
  TestRoot t("dash-orgs");
  Ui admin = LogIn(t, "Admin", t->config().admin_password);
  auto created = admin.Post("/api/organization/", {{"name", "edgelab"}});
  ASSERT_TRUE(created.status == 200 || created.status == 201) << created.body.dump();
  ASSERT_TRUE(created.body.is_object() && created.body["$oid"].is_string())
      << "the dashboard reads the new id from the answer's top-level $oid: " << created.body.dump();
  const std::string id = created.body["$oid"];
  EXPECT_TRUE(IsHex24(id));
  EXPECT_TRUE(created.body["member"].is_array()) << created.body.dump();
  ASSERT_EQ(admin.Post("/api/organization/", {{"name", "other"}}).status / 100, 2u);

  auto list = admin.Get("/api/organization/");
  ASSERT_EQ(list.status, 200u);
  ASSERT_TRUE(list.body.is_array() && list.body.size() == 2u) << list.body.dump();
  for (auto& o : list.body) EXPECT_TRUE(o["member"].is_array()) << "every organization needs member: " << o.dump();

  auto put = admin.Put("/api/organization/" + id, {{"name", "edgelab2"}, {"member", json::array({"Admin"})}});
  EXPECT_EQ(put.status, 200u) << put.body.dump();
  auto one = admin.Get("/api/organization/" + id);
  EXPECT_EQ(one.body.value("name", ""), "edgelab2");
  EXPECT_EQ(one.body["member"], json::array({"Admin"}));

  EXPECT_EQ(admin.Delete("/api/organization/" + id).status, 200u);
  EXPECT_EQ(admin.Get("/api/organization/" + id).status, 404u);
  EXPECT_EQ(admin.Get("/api/organization/").body.size(), 1u);
}

TEST(Dashboard, ApplicationServiceAndInstanceFlow) {
  TestRoot t("dash-apps");
  auto fake = StartFake(t.root(), ClusterCfg("dashc"));
  Heartbeater beat(*fake);
  Ui admin = LogIn(t, "Admin", t->config().admin_password);
  Register(admin, "carol", json::array({"Application_Provider"}));
  Ui carol = LogIn(t, "carol", "carol-pw-1");
  const std::string uid = Oid(carol.Get("/api/user/carol").body);
  ASSERT_TRUE(IsHex24(uid));

  // No customerID, no applicationID, no microservices: the dashboard strips empty values.
  auto created = carol.Post("/api/application/", DashSla("shop"));
  ASSERT_EQ(created.status, 200u) << created.body.dump();
  auto apps = carol.Get("/api/applications/" + uid);
  ASSERT_EQ(apps.status, 200u);
  ASSERT_TRUE(apps.body.is_array() && apps.body.size() == 1u) << apps.body.dump();
  const json& app = apps.body[0];
  const std::string app_id = Oid(app);
  ASSERT_TRUE(IsHex24(app_id)) << app.dump();
  EXPECT_EQ(app.value("application_name", ""), "shop");
  EXPECT_EQ(app.value("application_namespace", ""), "dash");
  EXPECT_EQ(app.value("application_desc", ""), "made in the dashboard");

  // Add a service; memory and vgpus left empty in the form arrive as null.
  auto added = carol.Post("/api/service/", DashSla("shop", json::array({DashService("web", nullptr)}), app_id));
  ASSERT_EQ(added.status, 200u) << "null numbers must count as absent: " << added.body.dump();
  ASSERT_TRUE(added.body["job_id"].is_string()) << added.body.dump();
  const std::string sid = added.body["job_id"];
  auto services = carol.Get("/api/services/" + app_id);
  ASSERT_EQ(services.status, 200u);
  ASSERT_TRUE(services.body.is_array() && services.body.size() == 1u) << services.body.dump();
  EXPECT_EQ(Oid(services.body[0]), sid);
  EXPECT_EQ(services.body[0].value("microservice_name", ""), "web");
  EXPECT_TRUE(services.body[0]["status"].is_string());
  EXPECT_TRUE(services.body[0]["instance_list"].is_array());

  // Edit: same name and namespace, new memory.
  auto put = carol.Put("/api/service/" + sid, DashSla("shop", json::array({DashService("web", 256)}), app_id));
  EXPECT_EQ(put.status, 200u) << put.body.dump();
  EXPECT_EQ(carol.Get("/api/service/" + sid).body["memory"], 256);
  EXPECT_EQ(Oid(carol.Get("/api/service/" + sid).body), sid) << "a replaced service keeps its id";
  EXPECT_EQ(carol.Get("/api/service/" + sid).body.value("job_id", ""), sid);
  EXPECT_EQ(carol.Get("/api/services/" + app_id).body[0]["memory"], 256);
  auto rename = carol.Put("/api/service/" + sid, DashSla("shop", json::array({DashService("web2", 256)}), app_id));
  EXPECT_EQ(rename.status, 409u) << rename.body.dump();
  EXPECT_EQ(carol.Get("/api/service/" + sid).body.value("microservice_name", ""), "web");

  // Deploy: the dashboard posts the whole service document.
  json whole = carol.Get("/api/service/" + sid).body;
  auto deploy = carol.Post("/api/service/" + sid + "/instance", whole);
  ASSERT_EQ(deploy.status, 200u) << deploy.body.dump();
  json inst;
  bool placed = WaitFor([&] {
    auto s = carol.Get("/api/service/" + sid);
    if (!s.body.is_object() || !s.body["instance_list"].is_array() || s.body["instance_list"].empty()) return false;
    inst = s.body["instance_list"][0];
    return inst.value("cluster_id", "") == fake->id();
  });
  ASSERT_TRUE(placed) << "instance never placed on the fake cluster: " << inst.dump() << "\n" << t->Log();
  EXPECT_EQ(inst["instance_number"], 0);
  EXPECT_TRUE(inst["status"].is_string());
  for (const char* f : {"cluster_location", "disk", "publicip", "logs"})
    EXPECT_TRUE(inst.contains(f)) << "instance lacks " << f << ": " << inst.dump();
  for (const char* f : {"cpu_history", "memory_history"})
    EXPECT_TRUE(inst[f].is_array()) << f << " must be an array: " << inst.dump();

  auto undeploy = carol.Delete("/api/service/" + sid + "/instance/0");
  EXPECT_EQ(undeploy.status, 200u) << undeploy.body.dump();
  EXPECT_TRUE(carol.Get("/api/service/" + sid).body["instance_list"].empty());
  EXPECT_TRUE(WaitFor([&] {
    auto u = fake->Undeploys();
    return std::find(u.begin(), u.end(), std::make_pair(sid, int64_t{0})) != u.end();
  })) << "the cluster never got the undeploy";
}

TEST(Dashboard, ClustersAndTokens) {
  TestRoot t("dash-clusters");
  auto fake = StartFake(t.root(), ClusterCfg("dashc", 4096, 200, 4));
  Heartbeater beat(*fake);
  Ui admin = LogIn(t, "Admin", t->config().admin_password);
  for (const char* route : {"/api/clusters/", "/api/clusters/active"}) {
    auto r = admin.Get(route);
    ASSERT_EQ(r.status, 200u) << route;
    ASSERT_TRUE(r.body.is_array() && r.body.size() == 1u) << route << ": " << r.body.dump();
    json c = r.body[0];
    EXPECT_TRUE(c.contains("_id")) << c.dump();
    EXPECT_EQ(c.value("cluster_name", ""), "dashc");
    EXPECT_EQ(c["active"], true) << c.dump();
    for (const char* f : {"active_nodes", "memory_in_mb", "total_cpu_cores", "total_gpu_cores", "aggregated_cpu_percent"})
      EXPECT_TRUE(c[f].is_number()) << route << ": " << f << " must be a number: " << c.dump();
    EXPECT_EQ(c["memory_in_mb"], 4096);
    EXPECT_EQ(c["total_cpu_cores"], 4);
    EXPECT_TRUE(c.contains("virtualization") && !c["virtualization"].is_null()) << c.dump();
    EXPECT_TRUE(c["cluster_location"].is_string()) << c.dump();
  }

  auto tok = admin.Post("/api/tokens/cluster", json::object());
  ASSERT_EQ(tok.status, 200u) << tok.body.dump();
  EXPECT_EQ(tok.body.value("token", ""), t->config().cluster_token);
  for (const char* f : {"root_address", "root_port", "suggested_command"})
    EXPECT_TRUE(tok.body.contains(f) && !tok.body[f].is_null()) << f << ": " << tok.body.dump();
  EXPECT_NE(tok.body.value("suggested_command", "").find(t->config().cluster_token), std::string::npos);
  const json& port = tok.body["root_port"];
  EXPECT_EQ(port.is_string() ? port.get<std::string>() : port.dump(), t->url().substr(t->url().rfind(':') + 1))
      << "root_port must be the port the dashboard reached";

  Register(admin, "dave", json::array({"Application_Provider"}));
  Ui dave = LogIn(t, "dave", "dave-pw-1");
  EXPECT_EQ(dave.Post("/api/tokens/cluster", json::object()).status, 403u);
  auto worker = admin.Post("/api/tokens/worker", {{"cluster_id", fake->id()}});
  EXPECT_EQ(worker.status, 501u) << worker.body.dump();
  EXPECT_FALSE(worker.body.value("message", "").empty());
}

}  // namespace
}  // namespace oak::it
