#include "cli/client.h"

#include <cctype>

namespace oak::cli {

using nlohmann::json;

namespace {

Code CodeOf(unsigned http_status) {
  switch (http_status) {
    case 400: return Code::kInvalid;
    case 401: return Code::kUnauthorized;
    case 403: return Code::kForbidden;
    case 404: return Code::kNotFound;
    case 409: return Code::kConflict;
    case 413: return Code::kTooLarge;
    case 502:
    case 503:
    case 504: return Code::kUnavailable;
    case 507: return Code::kStorage;
    default: return http_status < 500 ? Code::kInvalid : Code::kInternal;
  }
}

Result<json> ParseAnswer(const ClientResponse& res) {
  if (res.status >= 400) return StatusFromAnswer(res);
  if (res.body.empty()) return json::object();
  auto j = json::parse(res.body, nullptr, false);
  if (j.is_discarded()) return Status::Internal("the API answered HTTP " + std::to_string(res.status) + " without JSON");
  return j;
}

}  // namespace

Status StatusFromAnswer(const ClientResponse& res) {
  auto j = json::parse(res.body, nullptr, false);
  std::string msg;
  if (j.is_object())
    if (auto it = j.find("message"); it != j.end() && it->is_string()) msg = it->get<std::string>();
  if (msg.empty()) msg = "HTTP " + std::to_string(res.status);
  return Status(CodeOf(res.status), std::move(msg));
}

ApiClient::ApiClient(std::string api, std::string token, std::string refresh_token, TokenSaver on_refresh)
    : api_(std::move(api)), token_(std::move(token)), refresh_token_(std::move(refresh_token)),
      on_refresh_(std::move(on_refresh)) {}

Result<ClientResponse> ApiClient::Send(const std::string& api, Verb method, const std::string& target,
                                       const std::string& body, const std::string& bearer) {
  auto url = ParseUrl(api);
  if (!url.ok()) return Status::Invalid("bad API URL: " + url.status().message());
  ClientRequest req;
  req.method = method;
  req.target = target;
  req.body = body;
  req.bearer = bearer;
  auto res = HttpFetchSync(*url, std::move(req));
  if (!res.ok()) {
    // The transport says "cannot connect to HOST:PORT: Connection refused"; keep only the cause and
    // name the URL the user configured.
    std::string cause = res.status().message();
    if (auto p = cause.rfind(": "); p != std::string::npos) cause = cause.substr(p + 2);
    if (!cause.empty()) cause[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(cause[0])));
    return Status::Unavailable("cannot reach the API at " + api + ": " + cause);
  }
  return res;
}

Result<LoginAnswer> ApiClient::Login(const std::string& api, const std::string& user, const std::string& password) {
  json body = {{"username", user}, {"password", password}};
  auto res = Send(api, Verb::post, "/api/auth/login", body.dump(), "");
  if (!res.ok()) return res.status();
  auto j = ParseAnswer(*res);
  if (!j.ok()) return j.status();
  if (!j->is_object() || !(*j)["token"].is_string())
    return Status::Internal("the API's login answer has no token");
  LoginAnswer out;
  out.token = (*j)["token"];
  if (auto it = j->find("refresh_token"); it != j->end() && it->is_string()) out.refresh_token = *it;
  out.body = std::move(*j);
  return out;
}

Status ApiClient::Refresh() {
  auto res = Send(api_, Verb::post, "/api/auth/refresh", "{}", refresh_token_);
  if (!res.ok()) return res.status();
  auto j = ParseAnswer(*res);
  if (!j.ok()) return Status(j.status().code(), "session expired (" + j.status().message() + "); run `oak login` again");
  if (!j->is_object() || !(*j)["token"].is_string()) return Status::Internal("the API's refresh answer has no token");
  token_ = (*j)["token"];
  ++refreshes_;
  if (on_refresh_) on_refresh_(token_);
  return Status::Ok();
}

Result<json> ApiClient::Call(Verb method, const std::string& target, const std::string& body) {
  auto res = Send(api_, method, target, body, token_);
  if (!res.ok()) return res.status();
  // One refresh per client: a second 401 right after a fresh token is not an expiry.
  if (res->status == 401 && !refresh_token_.empty() && refreshes_ == 0) {
    OAK_RETURN_IF_ERROR(Refresh());
    res = Send(api_, method, target, body, token_);
    if (!res.ok()) return res.status();
  }
  return ParseAnswer(*res);
}

}  // namespace oak::cli
