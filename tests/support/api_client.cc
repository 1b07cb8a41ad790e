#include "support/api_client.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace oak::testing {

ApiResponse ApiClient::Call(boost::beast::http::verb method, const std::string& target, const std::string& body,
                            const std::string& bearer_override) const {
  ApiResponse out;
  auto url = ParseUrl(base_);
  if (!url.ok()) {
    out.error = url.status().message();
    return out;
  }
  ClientRequest req;
  req.method = method;
  req.target = target;
  req.body = body;
  req.bearer = bearer_override.empty() ? token_ : bearer_override;
  auto res = HttpFetchSync(*url, std::move(req));
  if (!res.ok()) {
    out.error = res.status().message();
    return out;
  }
  out.status = res->status;
  out.body = res->body;
  out.json = nlohmann::json::parse(out.body, nullptr, false);
  return out;
}

ApiResponse ApiClient::Login(const std::string& user, const std::string& password) {
  auto r = Post("/api/auth/login", {{"username", user}, {"password", password}});
  if (r.status == 200 && r.json.is_object() && r.json.contains("token")) token_ = r.json["token"];
  return r;
}

nlohmann::json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in, nullptr, false);
}

std::string CompatDir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("OAK_COMPAT_DIR"); env && *env) {
    for (fs::path p : {fs::path(env) / "oakestra-sla", fs::path(env)})
      if (fs::exists(p / "example_curl.json")) return p.string();
  }
  fs::path p = fs::path(OAK_SOURCE_DIR) / ".." / "shared" / "compat" / "oakestra-sla";
  return fs::exists(p / "example_curl.json") ? p.lexically_normal().string() : std::string();
}

}  // namespace oak::testing
