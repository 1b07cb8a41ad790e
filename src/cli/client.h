// The API calls of the `oak` client commands: login, and authenticated requests that renew an
// expired access token once through the refresh token. No formatting here.
#pragma once

#include <functional>
#include <string>

#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "common/status.h"

namespace oak::cli {

struct LoginAnswer {
  std::string token;
  std::string refresh_token;
  nlohmann::json body;  // the API's answer
};

class ApiClient {
 public:
  using Verb = boost::beast::http::verb;
  // Called with the new access token after a successful refresh, so that the caller can store it.
  using TokenSaver = std::function<void(const std::string&)>;

  ApiClient(std::string api, std::string token, std::string refresh_token, TokenSaver on_refresh = {});

  // POST /api/auth/login. Unauthorized on bad credentials, with the API's message.
  static Result<LoginAnswer> Login(const std::string& api, const std::string& user, const std::string& password);

  // One authenticated call answering the parsed JSON body. A 4xx/5xx answer becomes a Status carrying
  // the API's `message`; a transport failure becomes Unavailable("cannot reach the API at URL: ...").
  Result<nlohmann::json> Call(Verb method, const std::string& target, const std::string& body = "");
  Result<nlohmann::json> Get(const std::string& target) { return Call(Verb::get, target); }
  Result<nlohmann::json> Post(const std::string& target, const nlohmann::json& body) {
    return Call(Verb::post, target, body.dump());
  }
  Result<nlohmann::json> Delete(const std::string& target) { return Call(Verb::delete_, target); }

  const std::string& api() const { return api_; }
  const std::string& token() const { return token_; }
  int refreshes() const { return refreshes_; }

 private:
  static Result<ClientResponse> Send(const std::string& api, Verb method, const std::string& target,
                                     const std::string& body, const std::string& bearer);
  Status Refresh();

  std::string api_, token_, refresh_token_;
  TokenSaver on_refresh_;
  int refreshes_ = 0;
};

// Maps an HTTP error answer to a Status with the API's message (or "HTTP <code>" without one).
Status StatusFromAnswer(const ClientResponse& res);

}  // namespace oak::cli
