// Two Application_Provider users see and touch only their own applications and services.
#include "integration/helpers.h"

namespace oak::it {
namespace {

struct Owned {
  std::string app_id;
  std::string svc_id;
  std::string uid;
};

Owned MakeOwned(const ApiClient& c, const ApiClient& admin, const std::string& user, const std::string& app) {
  Owned o;
  json a = CreateApp(c, SimpleSla(app, 1), app);
  o.app_id = Oid(a);
  auto s = c.Get("/api/services/" + o.app_id);
  EXPECT_EQ(s.status, 200u);
  if (s.json.is_array() && !s.json.empty()) o.svc_id = Oid(s.json[0]);
  o.uid = Oid(admin.Get("/api/user/" + user).json);
  return o;
}

TEST(Isolation, ProvidersSeeOnlyTheirOwn) {
  TestRoot t("iso-see");
  ApiClient admin = t->Admin();
  ApiClient alice = MakeUser(t.root(), admin, "alice", "alice-pw");
  ApiClient bob = MakeUser(t.root(), admin, "bob", "bob-pw");
  Owned a = MakeOwned(alice, admin, "alice", "aliceapp");
  Owned b = MakeOwned(bob, admin, "bob", "bobapp");
  ASSERT_TRUE(IsHex24(a.app_id) && IsHex24(b.app_id) && IsHex24(a.svc_id) && IsHex24(b.svc_id));
  ASSERT_TRUE(IsHex24(a.uid) && IsHex24(b.uid));

  auto mine = alice.Get("/api/applications/");
  ASSERT_EQ(mine.status, 200u);
  ASSERT_EQ(mine.json.size(), 1u) << mine.body;
  EXPECT_EQ(Oid(mine.json[0]), a.app_id);
  auto mine_svcs = alice.Get("/api/services/");
  ASSERT_EQ(mine_svcs.status, 200u);
  ASSERT_EQ(mine_svcs.json.size(), 1u) << mine_svcs.body;
  EXPECT_EQ(Oid(mine_svcs.json[0]), a.svc_id);

  // The dashboard's per-user listing.
  auto by_uid = alice.Get("/api/applications/" + a.uid);
  ASSERT_EQ(by_uid.status, 200u);
  ASSERT_EQ(by_uid.json.size(), 1u);
  EXPECT_EQ(Oid(by_uid.json[0]), a.app_id);
  EXPECT_EQ(alice.Get("/api/applications/" + b.uid).status, 404u) << "another user's application list";

  // Admin sees everything.
  EXPECT_EQ(admin.Get("/api/applications/").json.size(), 2u);
  EXPECT_EQ(admin.Get("/api/services/").json.size(), 2u);
  auto admin_b = admin.Get("/api/applications/" + b.uid);
  ASSERT_EQ(admin_b.status, 200u);
  ASSERT_EQ(admin_b.json.size(), 1u);
  EXPECT_EQ(Oid(admin_b.json[0]), b.app_id);
  EXPECT_EQ(admin.Get("/api/application/" + a.app_id).status, 200u);
  EXPECT_EQ(admin.Get("/api/service/" + b.svc_id).status, 200u);
}

TEST(Isolation, OtherUsersIdsAnswer404AndChangeNothing) {
  TestRoot t("iso-touch");
  ApiClient admin = t->Admin();
  ApiClient alice = MakeUser(t.root(), admin, "alice", "alice-pw");
  ApiClient bob = MakeUser(t.root(), admin, "bob", "bob-pw");
  Owned a = MakeOwned(alice, admin, "alice", "aliceapp");
  ASSERT_TRUE(IsHex24(a.app_id) && IsHex24(a.svc_id));
  const std::string unknown = "0123456789abcdef01234567";

  struct Probe {
    verb::verb m;
    std::string target;
    std::string body;
  };
  json add = SimpleSla("aliceapp", 1);
  add["applications"][0]["applicationID"] = a.app_id;
  add["applications"][0]["microservices"][0]["microservice_name"] = "intruder";
  std::vector<Probe> probes = {
      {verb::verb::get, "/api/application/" + a.app_id, ""},
      {verb::verb::put, "/api/application/" + a.app_id, R"({"application_desc":"pwned"})"},
      {verb::verb::delete_, "/api/application/" + a.app_id, ""},
      {verb::verb::get, "/api/services/" + a.app_id, ""},
      {verb::verb::get, "/api/service/" + a.svc_id, ""},
      {verb::verb::delete_, "/api/service/" + a.svc_id, ""},
      {verb::verb::post, "/api/service/" + a.svc_id + "/instance", "{}"},
      {verb::verb::delete_, "/api/service/" + a.svc_id + "/instance/-1", ""},
      {verb::verb::post, "/api/service/", add.dump()},
  };
  for (auto& p : probes) {
    auto theirs = bob.Call(p.m, p.target, p.body);
    EXPECT_EQ(theirs.status, 404u) << "bob: " << p.target << " -> " << theirs.body;
    EXPECT_FALSE(theirs.message().empty());
    // Indistinguishable from an id that does not exist.
    std::string missing_target = p.target;
    for (const std::string& id : {a.app_id, a.svc_id}) {
      auto pos = missing_target.find(id);
      if (pos != std::string::npos) missing_target.replace(pos, id.size(), unknown);
    }
    if (missing_target != p.target) {
      auto none = bob.Call(p.m, missing_target, p.body);
      EXPECT_EQ(none.status, theirs.status) << missing_target;
    }
  }

  // Alice's application is untouched: description, services, and no instance.
  auto app = alice.Get("/api/application/" + a.app_id);
  ASSERT_EQ(app.status, 200u);
  EXPECT_NE(app.json.value("application_desc", ""), "pwned");
  auto svcs = alice.Get("/api/services/" + a.app_id);
  ASSERT_EQ(svcs.json.size(), 1u) << svcs.body;
  EXPECT_EQ(svcs.json[0]["instance_list"].size(), 0u);
  EXPECT_EQ(svcs.json[0]["next_instance_progressive_number"], 0);
  EXPECT_EQ(bob.Get("/api/applications/").json.size(), 0u);
}

TEST(Isolation, SameAppNameForDifferentUsers) {
  TestRoot t("iso-names");
  ApiClient admin = t->Admin();
  ApiClient alice = MakeUser(t.root(), admin, "alice", "alice-pw");
  ApiClient bob = MakeUser(t.root(), admin, "bob", "bob-pw");
  // The 409 on name+namespace is per user: an application without services of the same name is fine.
  ASSERT_EQ(alice.Post("/api/application/", SimpleSla("shared", 0)).status, 200u);
  auto r = bob.Post("/api/application/", SimpleSla("shared", 0));
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(alice.Post("/api/application/", SimpleSla("shared", 0)).status, 409u);
}

TEST(Isolation, RolesGateCreation) {
  TestRoot t("iso-roles");
  ApiClient admin = t->Admin();
  ApiClient infra = MakeUser(t.root(), admin, "ops", "ops-pw", json::array({"Infrastructure_Provider"}));
  auto r = infra.Post("/api/application/", SimpleSla("nope", 1));
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_EQ(admin.Get("/api/applications/").json.size(), 0u);
}

}  // namespace
}  // namespace oak::it
