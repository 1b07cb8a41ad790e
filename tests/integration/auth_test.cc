// Auth, users, permissions and organizations against a real `oak root`.
#include <ctime>

#include "integration/helpers.h"

namespace oak::it {
namespace {

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

TEST(Auth, AdminLoginIssuesTokensWithOakestraClaims) {
  TestRoot t("auth-login");
  ApiClient c = t->Client();
  auto r = c.Login("Admin", t->config().admin_password);
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_TRUE(r.json.contains("token") && r.json["token"].is_string());
  ASSERT_TRUE(r.json.contains("refresh_token") && r.json["refresh_token"].is_string());

  json claims = JwtPayload(r.json["token"]);
  ASSERT_TRUE(claims.is_object()) << "token payload is not base64url JSON: " << r.json["token"];
  EXPECT_EQ(claims.value("sub", ""), "Admin");
  ASSERT_TRUE(claims.contains("exp") && claims["exp"].is_number_integer());
  int64_t exp = claims["exp"];
  EXPECT_GT(exp, Now()) << "access token already expired";
  EXPECT_LE(exp, Now() + 3600) << "access tokens must be short-lived (about 10 min)";
  ASSERT_TRUE(claims.contains("roles") && claims["roles"].is_array());
  auto roles = claims["roles"].get<std::vector<std::string>>();
  for (const char* want : {"Admin", "Application_Provider", "Infrastructure_Provider"})
    EXPECT_NE(std::find(roles.begin(), roles.end(), want), roles.end()) << "missing role " << want;
  EXPECT_TRUE(claims.contains("organization")) << "the dashboard reads the organization claim";

  json refresh = JwtPayload(r.json["refresh_token"]);
  ASSERT_TRUE(refresh.is_object());
  EXPECT_GT(refresh.value("exp", int64_t{0}), exp) << "refresh tokens outlive access tokens";

  // The token works on a user route.
  EXPECT_EQ(c.Get("/api/applications/").status, 200u);
}

TEST(Auth, BadCredentialsAnswer401WithMessage) {
  TestRoot t("auth-bad");
  ApiClient c = t->Client();
  for (auto [user, pw] : std::vector<std::pair<std::string, std::string>>{
           {"Admin", "wrong"}, {"Admin", ""}, {"nobody", "x"}, {"admin", t->config().admin_password}}) {
    auto r = c.Post("/api/auth/login", {{"username", user}, {"password", pw}});
    EXPECT_TRUE(r.status == 401 || (pw.empty() && r.status == 400)) << user << "/" << pw << ": " << r.status;
    EXPECT_FALSE(r.message().empty()) << "error bodies are {\"message\"}: " << r.body;
    EXPECT_FALSE(r.json.contains("token"));
  }
  EXPECT_EQ(c.Post("/api/auth/login", {{"username", "Admin"}}).status, 400u) << "missing password";
}

TEST(Auth, MissingTamperedForgedAndExpiredTokensAre401) {
  TestRoot t("auth-tokens");
  ApiClient admin = t->Admin();
  const std::string good = admin.token();
  auto call = [&](const std::string& bearer) {
    return admin.Call(verb::verb::get, "/api/applications/", "", bearer);
  };
  ASSERT_EQ(call(good).status, 200u);

  ApiClient anon = t->Client();
  auto missing = anon.Get("/api/applications/");
  EXPECT_EQ(missing.status, 401u);
  EXPECT_FALSE(missing.message().empty());

  // A flipped signature character.
  std::string bad_sig = good;
  bad_sig.back() = bad_sig.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(call(bad_sig).status, 401u) << "tampered signature accepted";

  // A payload edited to claim other roles, keeping the old signature.
  auto dot1 = good.find('.'), dot2 = good.find('.', dot1 + 1);
  json claims = JwtPayload(good);
  claims["sub"] = "mallory";
  std::string edited = good.substr(0, dot1 + 1) + Base64UrlEncode(claims.dump()) + good.substr(dot2);
  EXPECT_EQ(call(edited).status, 401u) << "edited payload accepted";

  // alg=none with forged claims.
  std::string none = Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." + Base64UrlEncode(claims.dump()) + ".";
  EXPECT_EQ(call(none).status, 401u) << "alg=none accepted";

  // Right shape, wrong key.
  json fresh = JwtPayload(good);
  EXPECT_EQ(call(SignHs256(fresh, std::string(64, 'k'))).status, 401u) << "token signed with another key accepted";

  // Garbage and a bearer that is not a JWT.
  EXPECT_EQ(call("not-a-jwt").status, 401u);
  EXPECT_EQ(call(std::string(9000, 'a')).status, 401u);

  // Signed with the root's real key, but expired.
  std::string key = ReadSecretFile(t.data_dir() + "/jwt.key");
  ASSERT_FALSE(key.empty()) << "no DATA_DIR/jwt.key";
  json expired = JwtPayload(good);
  expired["iat"] = Now() - 1200;
  expired["exp"] = Now() - 600;
  auto r = call(SignHs256(expired, key));
  EXPECT_EQ(r.status, 401u) << "expired token accepted";
  EXPECT_FALSE(r.message().empty());
  // Control: the same claims with a future exp pass, so the 401 above is about expiry.
  expired["exp"] = Now() + 600;
  EXPECT_EQ(call(SignHs256(expired, key)).status, 200u) << "test-signed token with valid exp refused";
}

TEST(Auth, RefreshTokenFlow) {
  TestRoot t("auth-refresh");
  ApiClient c = t->Client();
  auto login = c.Login("Admin", t->config().admin_password);
  ASSERT_EQ(login.status, 200u);
  const std::string access = login.json["token"], refresh = login.json["refresh_token"];

  auto r = c.Call(verb::verb::post, "/api/auth/refresh", "{}", refresh);
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_TRUE(r.json.contains("token"));
  std::string renewed = r.json["token"];
  EXPECT_EQ(JwtPayload(renewed).value("sub", ""), "Admin");
  EXPECT_EQ(c.Call(verb::verb::get, "/api/applications/", "", renewed).status, 200u);

  auto wrong = c.Call(verb::verb::post, "/api/auth/refresh", "{}", access);
  EXPECT_EQ(wrong.status, 401u) << "an access token must not work as a refresh token";
  EXPECT_FALSE(wrong.message().empty());
  EXPECT_EQ(c.Call(verb::verb::get, "/api/applications/", "", refresh).status, 401u)
      << "a refresh token must not work as an access token";
  EXPECT_EQ(c.Call(verb::verb::post, "/api/auth/refresh", "{}", "").status, 401u);
}

TEST(Auth, RegisterUsersOnlyAsAdmin) {
  TestRoot t("auth-register");
  ApiClient admin = t->Admin();
  ApiClient alice = MakeUser(t.root(), admin, "alice", "alice-pw-1");
  ASSERT_FALSE(alice.token().empty());

  auto denied = alice.Post("/api/auth/register", {{"name", "eve"}, {"password", "x"}});
  EXPECT_EQ(denied.status, 403u) << denied.body;
  EXPECT_FALSE(denied.message().empty());
  EXPECT_EQ(t->Client().Post("/api/auth/register", {{"name", "eve"}, {"password", "x"}}).status, 401u);

  auto dup = admin.Post("/api/auth/register", {{"name", "alice"}, {"password", "y"}});
  EXPECT_EQ(dup.status, 409u) << dup.body;
  auto bad_role = admin.Post("/api/auth/register", {{"name", "bob"}, {"password", "y"}, {"roles", {"Root"}}});
  EXPECT_EQ(bad_role.status, 400u) << bad_role.body;
  EXPECT_NE(bad_role.message().find("roles"), std::string::npos) << bad_role.body;
  auto no_pw = admin.Post("/api/auth/register", {{"name", "bob"}});
  EXPECT_EQ(no_pw.status, 400u);
  EXPECT_NE(no_pw.message().find("password"), std::string::npos) << no_pw.body;

  json claims = JwtPayload(alice.token());
  EXPECT_EQ(claims.value("sub", ""), "alice");
  EXPECT_EQ(claims["roles"], json::array({"Application_Provider"}));
}

TEST(Auth, UserDocumentsPermissionsAndListing) {
  TestRoot t("auth-users");
  ApiClient admin = t->Admin();
  ApiClient alice = MakeUser(t.root(), admin, "alice", "alice-pw-1");

  auto u = alice.Get("/api/user/alice");
  ASSERT_EQ(u.status, 200u) << u.body;
  EXPECT_TRUE(IsHex24(Oid(u.json))) << "_id must be {\"$oid\": 24 hex}: " << u.body;
  EXPECT_EQ(u.json.value("name", ""), "alice");
  EXPECT_EQ(u.json.value("email", ""), "alice@example.org");
  ASSERT_TRUE(u.json.contains("roles") && u.json["roles"].is_array()) << u.body;
  EXPECT_NE(u.json["roles"].dump().find("Application_Provider"), std::string::npos) << u.body;

  // Another user's document is hidden from a non-admin, visible to Admin.
  EXPECT_EQ(alice.Get("/api/user/Admin").status, 404u);
  EXPECT_EQ(admin.Get("/api/user/alice").status, 200u);
  EXPECT_EQ(admin.Get("/api/user/nosuchuser").status, 404u);

  auto p = alice.Get("/api/permission/alice");
  ASSERT_EQ(p.status, 200u) << p.body;
  EXPECT_EQ(p.json["roles"], json::array({"Application_Provider"}));
  auto pa = admin.Get("/api/permission/Admin");
  ASSERT_EQ(pa.status, 200u);
  EXPECT_EQ(pa.json["roles"].size(), 3u) << pa.body;

  // No self-promotion; email is one's own to change.
  auto promote = Put(alice, "/api/user/alice", {{"roles", {"Admin"}}});
  EXPECT_EQ(promote.status, 403u) << promote.body;
  EXPECT_EQ(alice.Get("/api/permission/alice").json["roles"], json::array({"Application_Provider"}));
  auto email = Put(alice, "/api/user/alice", {{"email", "a2@example.org"}});
  EXPECT_EQ(email.status, 200u) << email.body;
  EXPECT_EQ(alice.Get("/api/user/alice").json.value("email", ""), "a2@example.org");
  EXPECT_EQ(Put(alice, "/api/user/Admin", {{"email", "x@example.org"}}).status, 404u);

  auto list = admin.Get("/api/users/");
  ASSERT_EQ(list.status, 200u);
  ASSERT_TRUE(list.json.is_array());
  std::vector<std::string> names;
  for (auto& x : list.json) {
    names.push_back(x.value("name", ""));
    EXPECT_TRUE(IsHex24(Oid(x))) << x.dump();
    EXPECT_FALSE(x.contains("password_hash") || x.contains("password")) << "password material leaked: " << x.dump();
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "Admin"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "alice"), names.end());
  EXPECT_EQ(alice.Get("/api/users/").status, 403u);
}

TEST(Auth, ChangePassword) {
  TestRoot t("auth-passwd");
  ApiClient admin = t->Admin();
  ApiClient alice = MakeUser(t.root(), admin, "alice", "old-pw-1");

  auto no_old = alice.Post("/api/user/alice", {{"newPassword", "new-pw-2"}});
  EXPECT_EQ(no_old.status, 400u) << "the old password is required for one's own account: " << no_old.body;
  EXPECT_NE(no_old.message().find("oldPassword"), std::string::npos) << no_old.body;
  auto wrong_old = alice.Post("/api/user/alice", {{"oldPassword", "nope"}, {"newPassword", "new-pw-2"}});
  EXPECT_TRUE(wrong_old.status == 401 || wrong_old.status == 403) << wrong_old.body;
  EXPECT_EQ(t->Client().Login("alice", "old-pw-1").status, 200u) << "a refused change must not change anything";

  auto ok = alice.Post("/api/user/alice", {{"oldPassword", "old-pw-1"}, {"newPassword", "new-pw-2"}});
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(t->Client().Login("alice", "old-pw-1").status, 401u);
  EXPECT_EQ(t->Client().Login("alice", "new-pw-2").status, 200u);

  // A non-admin cannot change someone else's password; Admin can, without the old one.
  EXPECT_EQ(alice.Post("/api/user/Admin", {{"oldPassword", "x"}, {"newPassword", "y"}}).status, 404u);
  ASSERT_EQ(admin.Post("/api/user/alice", {{"newPassword", "reset-pw-3"}}).status, 200u);
  EXPECT_EQ(t->Client().Login("alice", "reset-pw-3").status, 200u);
}

TEST(Auth, DeletedUserCannotRefresh) {
  TestRoot t("auth-deluser");
  ApiClient admin = t->Admin();
  ApiClient bob = t->Client();
  MakeUser(t.root(), admin, "bob", "bob-pw-1");
  auto login = bob.Login("bob", "bob-pw-1");
  ASSERT_EQ(login.status, 200u);
  EXPECT_EQ(admin.Delete("/api/user/bob").status, 200u);
  EXPECT_EQ(bob.Call(verb::verb::post, "/api/auth/refresh", "{}", login.json["refresh_token"]).status, 401u);
  EXPECT_EQ(bob.Login("bob", "bob-pw-1").status, 401u);
  EXPECT_EQ(admin.Delete("/api/user/bob").status, 404u);
}

TEST(Auth, OrganizationsCrud) {
  TestRoot t("auth-orgs");
  ApiClient admin = t->Admin();
  auto created = admin.Post("/api/organization/", {{"name", "acme"}, {"description", "rockets"}});
  ASSERT_TRUE(created.status == 200 || created.status == 201) << created.body;
  std::string id = Oid(created.json);
  ASSERT_TRUE(IsHex24(id)) << created.body;
  EXPECT_EQ(created.json.value("name", ""), "acme");
  EXPECT_EQ(admin.Post("/api/organization/", {{"name", "acme"}}).status, 409u);

  auto list = admin.Get("/api/organization/");
  ASSERT_EQ(list.status, 200u);
  ASSERT_TRUE(list.json.is_array());
  ASSERT_EQ(list.json.size(), 1u);
  EXPECT_EQ(Oid(list.json[0]), id);

  auto got = admin.Get("/api/organization/" + id);
  ASSERT_EQ(got.status, 200u);
  EXPECT_EQ(got.json.value("description", ""), "rockets");

  auto put = Put(admin, "/api/organization/" + id, {{"name", "acme2"}, {"description", "more rockets"}});
  ASSERT_EQ(put.status, 200u) << put.body;
  got = admin.Get("/api/organization/" + id);
  EXPECT_EQ(got.json.value("name", ""), "acme2");
  EXPECT_EQ(got.json.value("description", ""), "more rockets");

  // Users carry their organization into the token's claims.
  ApiClient carol = t->Client();
  auto reg = admin.Post("/api/auth/register", {{"name", "carol"}, {"password", "carol-pw"}, {"organization", "acme2"}});
  ASSERT_TRUE(reg.status == 200 || reg.status == 201) << reg.body;
  ASSERT_EQ(carol.Login("carol", "carol-pw").status, 200u);
  EXPECT_EQ(JwtPayload(carol.token()).value("organization", ""), "acme2");
  EXPECT_EQ(carol.Post("/api/organization/", {{"name", "evil"}}).status, 403u);
  EXPECT_EQ(carol.Delete("/api/organization/" + id).status, 403u);

  ASSERT_EQ(admin.Delete("/api/organization/" + id).status, 200u);
  EXPECT_EQ(admin.Get("/api/organization/" + id).status, 404u);
  EXPECT_EQ(admin.Delete("/api/organization/" + id).status, 404u);
}

}  // namespace
}  // namespace oak::it
