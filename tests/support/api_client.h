// A blocking JSON client for tests: one call, one answer, parsed.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/http_client.h"

namespace oak::testing {

struct ApiResponse {
  unsigned status = 0;       // 0 when the transport failed
  std::string body;
  nlohmann::json json;       // discarded (is_discarded) when the body is not JSON
  std::string error;         // transport error
  std::string message() const { return json.is_object() ? json.value("message", std::string()) : std::string(); }
};

class ApiClient {
 public:
  explicit ApiClient(std::string base_url) : base_(std::move(base_url)) {}
  void set_token(std::string t) { token_ = std::move(t); }
  const std::string& token() const { return token_; }
  const std::string& base() const { return base_; }

  ApiResponse Call(boost::beast::http::verb method, const std::string& target, const std::string& body = "",
                   const std::string& bearer_override = "") const;
  ApiResponse Get(const std::string& target) const { return Call(boost::beast::http::verb::get, target); }
  ApiResponse Post(const std::string& target, const nlohmann::json& body) const {
    return Call(boost::beast::http::verb::post, target, body.dump());
  }
  ApiResponse Delete(const std::string& target) const { return Call(boost::beast::http::verb::delete_, target); }
  // Logs in and keeps the access token; answers the login response.
  ApiResponse Login(const std::string& user, const std::string& password);

 private:
  std::string base_;
  std::string token_;
};

nlohmann::json ReadJsonFile(const std::string& path);
// The folder with Oakestra's SLA cases, or empty when absent (../shared/compat/oakestra-sla).
std::string CompatDir();

}  // namespace oak::testing
