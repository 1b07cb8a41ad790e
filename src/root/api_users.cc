#include <functional>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/ids.h"
#include "root/api.h"

namespace oak::root {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// Runs `work` on the hashing pool; the awaiting coroutine resumes on its own executor. `work` lives
// in the caller's frame. The initiation captures only raw pointers: GCC 12 mis-copies non-trivial
// objects handed to coroutines by value, and asio's awaitable initiation is such a coroutine.
asio::awaitable<void> RunOnPool(asio::thread_pool& pool, const std::function<void()>& work) {
  return asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [pool_p = &pool, work_p = &work](auto handler) {
        auto ex = asio::get_associated_executor(handler);
        asio::post(*pool_p, [work_p, ex, handler = std::move(handler)]() mutable {
          (*work_p)();
          asio::post(ex, std::move(handler));
        });
      },
      asio::use_awaitable);
}

Result<std::string> StringField(const json& body, const char* name, bool required, size_t max_len = 256) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) return Status::Invalid(std::string(name) + ": required");
    return std::string();
  }
  if (!it->is_string()) return Status::Invalid(std::string(name) + ": must be a string");
  std::string v = it->get<std::string>();
  if (required && v.empty()) return Status::Invalid(std::string(name) + ": must not be empty");
  if (v.size() > max_len) return Status::Invalid(std::string(name) + ": longer than " + std::to_string(max_len));
  return v;
}

bool IsValidUserName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '@')) return false;
  return true;
}

Result<json> JsonObject(const HttpRequest& req) {
  auto body = ParseJsonBody(req.body());
  if (!body.ok()) return body.status();
  if (!body->is_object()) return Status::Invalid("body: must be a JSON object");
  return body;
}

Result<std::vector<std::string>> Roles(const json& body) {
  auto it = body.find("roles");
  if (it == body.end()) return std::vector<std::string>{std::string(kRoleAppProvider)};
  if (!it->is_array()) return Status::Invalid("roles: must be an array");
  std::vector<std::string> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& r = (*it)[i];
    // Oakestra sends roles as names or as {name, description} objects.
    std::string name = r.is_string() ? r.get<std::string>()
                       : (r.is_object() && r.contains("name") && r["name"].is_string()) ? r["name"].get<std::string>()
                                                                                            : std::string();
    if (!IsKnownRole(name))
      return Status::Invalid("roles[" + std::to_string(i) + "]: unknown role (Admin, Application_Provider, "
                             "Infrastructure_Provider, Organization_Admin)");
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

// A valid argon2id hash to verify against when the user does not exist, so that a missing user
// takes as long as a wrong password.
const std::string& DummyHash() {
  static const std::string h = HashPassword("oak-no-such-user").value();
  return h;
}

}  // namespace

asio::awaitable<HttpResponse> RootApi::Login(HttpRequest& req) {
  auto body = JsonObject(req);
  if (!body.ok()) co_return HttpResponse::FromStatus(body.status());
  auto name = StringField(*body, "username", true);
  auto password = StringField(*body, "password", true, 1024);
  if (!name.ok()) co_return HttpResponse::FromStatus(name.status());
  if (!password.ok()) co_return HttpResponse::FromStatus(password.status());
  auto user = d_.store.GetUserByName(*name);
  if (!user.ok() && user.status().code() != Code::kNotFound) co_return HttpResponse::FromStatus(user.status());
  const std::string& hash = user.ok() ? user->password_hash : DummyHash();
  bool good = false;
  std::function<void()> verify = [&] { good = VerifyPassword(hash, *password); };
  co_await RunOnPool(d_.hash_pool, verify);
  if (!user.ok() || !good) {
    spdlog::info("msg=\"login failed\" user=\"{}\" remote={}", *name, req.remote);
    co_return HttpResponse::Error(401, "wrong username or password");
  }
  Claims c{user->name, user->id, user->roles, user->organization_id, "access", 0};
  auto access = d_.tokens.Issue(c);
  c.type = "refresh";
  auto refresh = d_.tokens.Issue(c);
  if (!access.ok() || !refresh.ok()) co_return HttpResponse::Error(500, "cannot issue tokens");
  co_return HttpResponse::Json(200, {{"token", *access}, {"refresh_token", *refresh}, {"expires_in", d_.tokens.access_ttl_s()}});
}

HttpResponse RootApi::Refresh(HttpRequest& req) {
  std::string_view token = req.BearerToken();
  if (token.empty()) return HttpResponse::Error(401, "missing Authorization: Bearer <refresh token> header");
  auto claims = d_.tokens.Verify(token, "refresh");
  if (!claims.ok()) return HttpResponse::FromStatus(claims.status());
  // Roles come from the store, so a role change or a deleted user takes effect at refresh.
  auto user = d_.store.GetUserByName(claims->sub);
  if (!user.ok() || user->id != claims->uid) return HttpResponse::Error(401, "user no longer exists");
  auto access = d_.tokens.Issue({user->name, user->id, user->roles, user->organization_id, "access", 0});
  if (!access.ok()) return HttpResponse::FromStatus(access.status());
  return HttpResponse::Json(200, {{"token", *access}, {"expires_in", d_.tokens.access_ttl_s()}});
}

asio::awaitable<HttpResponse> RootApi::RegisterUser(HttpRequest& req) {
  auto who = AdminUser(req, "register users");
  if (!who.ok()) co_return HttpResponse::FromStatus(who.status());
  auto body = JsonObject(req);
  if (!body.ok()) co_return HttpResponse::FromStatus(body.status());
  auto name = StringField(*body, "name", false, 64);
  if (name.ok() && name->empty()) name = StringField(*body, "username", true, 64);
  auto password = StringField(*body, "password", true, 1024);
  auto email = StringField(*body, "email", false);
  auto org = StringField(*body, "organization", false);
  auto roles = Roles(*body);
  for (const Status* s : {&name.status(), &password.status(), &email.status(), &org.status(), &roles.status()})
    if (!s->ok()) co_return HttpResponse::FromStatus(*s);
  if (!IsValidUserName(*name)) co_return HttpResponse::Error(400, "name: 1-64 letters, digits or _ - . @");
  if (d_.store.GetUserByName(*name).ok()) co_return HttpResponse::Error(409, "name: user '" + *name + "' already exists");
  Result<std::string> hash = Status::Internal("not hashed");
  std::function<void()> compute = [&] { hash = HashPassword(*password); };
  co_await RunOnPool(d_.hash_pool, compute);
  if (!hash.ok()) co_return HttpResponse::FromStatus(hash.status());
  UserRecord u{NewObjectId(), *name, *email, *hash, *roles, *org, d_.clock.NowMs()};
  if (Status s = d_.store.CreateUser(u); !s.ok()) co_return HttpResponse::FromStatus(s);
  spdlog::info("msg=\"user registered\" user=\"{}\" by=\"{}\"", u.name, who->sub);
  co_return HttpResponse::Json(201, UserJson(u));
}

HttpResponse RootApi::GetUser(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  const std::string& name = req.params[0];
  if (name != who->sub && !who->HasRole(kRoleAdmin)) return HttpResponse::Error(404, "user '" + name + "' not found");
  auto u = d_.store.GetUserByName(name);
  if (!u.ok()) return HttpResponse::FromStatus(u.status());
  return HttpResponse::Json(200, UserJson(*u));
}

HttpResponse RootApi::PutUser(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  const std::string& name = req.params[0];
  bool admin = who->HasRole(kRoleAdmin);
  if (name != who->sub && !admin) return HttpResponse::Error(404, "user '" + name + "' not found");
  auto body = JsonObject(req);
  if (!body.ok()) return HttpResponse::FromStatus(body.status());
  auto u = d_.store.GetUserByName(name);
  if (!u.ok()) return HttpResponse::FromStatus(u.status());
  if (body->contains("email")) {
    auto email = StringField(*body, "email", false);
    if (!email.ok()) return HttpResponse::FromStatus(email.status());
    u->email = *email;
  }
  if (body->contains("organization")) {
    auto org = StringField(*body, "organization", false);
    if (!org.ok()) return HttpResponse::FromStatus(org.status());
    u->organization_id = *org;
  }
  if (body->contains("roles")) {
    auto roles = Roles(*body);
    if (!roles.ok()) return HttpResponse::FromStatus(roles.status());
    // The dashboard's profile page sends the roles back unchanged; only a change needs Admin.
    if (!admin && *roles != u->roles) return HttpResponse::Error(403, "roles: only an Admin can change roles");
    u->roles = *roles;
  }
  if (Status s = d_.store.UpdateUser(*u); !s.ok()) return HttpResponse::FromStatus(s);
  return HttpResponse::Json(200, UserJson(*u));
}

HttpResponse RootApi::DeleteUser(HttpRequest& req) {
  auto who = AdminUser(req, "delete users");
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  const std::string& name = req.params[0];
  if (name == who->sub) return HttpResponse::Error(409, "name: an Admin cannot delete their own account");
  if (Status s = d_.store.DeleteUser(name); !s.ok()) return HttpResponse::FromStatus(s);
  return HttpResponse::Json(200, {{"message", "user '" + name + "' deleted"}});
}

asio::awaitable<HttpResponse> RootApi::ChangePassword(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) co_return HttpResponse::FromStatus(who.status());
  const std::string name = req.params[0];
  bool self = name == who->sub;
  if (!self && !who->HasRole(kRoleAdmin)) co_return HttpResponse::Error(404, "user '" + name + "' not found");
  auto body = JsonObject(req);
  if (!body.ok()) co_return HttpResponse::FromStatus(body.status());
  auto old_pw = StringField(*body, "oldPassword", self, 1024);
  auto new_pw = StringField(*body, "newPassword", true, 1024);
  if (!old_pw.ok()) co_return HttpResponse::FromStatus(old_pw.status());
  if (!new_pw.ok()) co_return HttpResponse::FromStatus(new_pw.status());
  auto u = d_.store.GetUserByName(name);
  if (!u.ok()) co_return HttpResponse::FromStatus(u.status());
  Result<std::string> result = Status::Internal("not hashed");
  std::function<void()> compute = [&] {
    if (self && !VerifyPassword(u->password_hash, *old_pw)) result = Status::Forbidden("oldPassword: does not match");
    else result = HashPassword(*new_pw);
  };
  co_await RunOnPool(d_.hash_pool, compute);
  if (!result.ok()) co_return HttpResponse::FromStatus(result.status());
  // Re-read: the user may have changed while the hash was computed.
  auto fresh = d_.store.GetUserByName(name);
  if (!fresh.ok()) co_return HttpResponse::FromStatus(fresh.status());
  fresh->password_hash = *result;
  if (Status s = d_.store.UpdateUser(*fresh); !s.ok()) co_return HttpResponse::FromStatus(s);
  co_return HttpResponse::Json(200, {{"message", "password changed"}});
}

HttpResponse RootApi::ListUsers(HttpRequest& req) {
  auto who = AdminUser(req, "list users");
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  // GET /api/users/<x>: Oakestra's dashboard passes an organization here, or the caller's own
  // name; anything that names no organization lists everybody.
  Result<OrganizationRecord> org = Status::NotFound("no organization given");
  if (!req.params.empty()) org = d_.store.GetOrganization(req.params[0]);
  auto users = d_.store.ListUsers();
  if (!users.ok()) return HttpResponse::FromStatus(users.status());
  json out = json::array();
  for (auto& u : *users)
    if (!org.ok() || u.organization_id == org->id || u.organization_id == org->name) out.push_back(UserJson(u));
  return HttpResponse::Json(200, out);
}

HttpResponse RootApi::Permission(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  const std::string& name = req.params[0];
  if (name != who->sub && !who->HasRole(kRoleAdmin)) return HttpResponse::Error(404, "user '" + name + "' not found");
  auto u = d_.store.GetUserByName(name);
  if (!u.ok()) return HttpResponse::FromStatus(u.status());
  return HttpResponse::Json(200, {{"roles", u->roles}});
}

HttpResponse RootApi::ListOrgs(HttpRequest& req) {
  auto who = AdminUser(req, "list organizations");
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto orgs = d_.store.ListOrganizations();
  if (!orgs.ok()) return HttpResponse::FromStatus(orgs.status());
  json out = json::array();
  for (auto& o : *orgs) out.push_back(OrgJson(o));
  return HttpResponse::Json(200, out);
}

HttpResponse RootApi::CreateOrg(HttpRequest& req) {
  auto who = AdminUser(req, "create organizations");
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto body = JsonObject(req);
  if (!body.ok()) return HttpResponse::FromStatus(body.status());
  auto name = StringField(*body, "name", true, 64);
  if (!name.ok()) return HttpResponse::FromStatus(name.status());
  OrganizationRecord o{NewObjectId(), *name, *body};
  o.doc.erase("_id");
  o.doc.erase("name");
  if (Status s = d_.store.CreateOrganization(o); !s.ok()) return HttpResponse::FromStatus(s);
  json j = OrgJson(o);
  j["$oid"] = o.id;  // the dashboard takes the new id from the answer's top level
  return HttpResponse::Json(201, j);
}

HttpResponse RootApi::GetOrg(HttpRequest& req) {
  auto who = User(req);
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto o = d_.store.GetOrganization(req.params[0]);
  if (!o.ok()) return HttpResponse::FromStatus(o.status());
  if (!who->HasRole(kRoleAdmin) && who->organization != o->id && who->organization != o->name)
    return HttpResponse::Error(404, "organization '" + req.params[0] + "' not found");
  return HttpResponse::Json(200, OrgJson(*o));
}

HttpResponse RootApi::PutOrg(HttpRequest& req) {
  auto who = AdminUser(req, "change organizations");
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto body = JsonObject(req);
  if (!body.ok()) return HttpResponse::FromStatus(body.status());
  auto o = d_.store.GetOrganization(req.params[0]);
  if (!o.ok()) return HttpResponse::FromStatus(o.status());
  if (body->contains("name")) {
    auto name = StringField(*body, "name", true, 64);
    if (!name.ok()) return HttpResponse::FromStatus(name.status());
    o->name = *name;
  }
  for (auto& [k, v] : body->items())
    if (k != "_id" && k != "name" && k != "$oid") o->doc[k] = v;
  if (Status s = d_.store.UpdateOrganization(*o); !s.ok()) return HttpResponse::FromStatus(s);
  return HttpResponse::Json(200, OrgJson(*o));
}

HttpResponse RootApi::DeleteOrg(HttpRequest& req) {
  auto who = AdminUser(req, "delete organizations");
  if (!who.ok()) return HttpResponse::FromStatus(who.status());
  auto o = d_.store.GetOrganization(req.params[0]);
  if (!o.ok()) return HttpResponse::FromStatus(o.status());
  if (Status s = d_.store.DeleteOrganization(o->id); !s.ok()) return HttpResponse::FromStatus(s);
  return HttpResponse::Json(200, {{"message", "organization deleted"}});
}

}  // namespace oak::root
