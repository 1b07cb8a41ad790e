// HTTP request/response values shared by the server, the router and handlers.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "common/status.h"

namespace oak {

namespace http = boost::beast::http;
using RawRequest = http::request<http::string_body>;

struct HttpRequest {
  const RawRequest* raw = nullptr;
  http::verb method = http::verb::unknown;
  std::string path;                 // without the query string
  std::string query;                // after '?', undecoded
  std::vector<std::string> params;  // path parameters in pattern order
  std::string remote;               // peer address

  std::string_view Header(http::field f) const;
  // The token of an `Authorization: Bearer <token>` header, or empty.
  std::string_view BearerToken() const;
  const std::string& body() const { return raw->body(); }
  // Value of a query parameter (percent-decoded), or empty.
  std::string QueryParam(std::string_view name) const;
};

struct HttpResponse {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse Json(unsigned status, const nlohmann::json& j);
  // `json_text` must already be valid JSON.
  static HttpResponse RawJson(unsigned status, std::string json_text);
  static HttpResponse Text(unsigned status, std::string body, std::string content_type = "text/plain; version=0.0.4");
  // `{"message": msg}` with the given status.
  static HttpResponse Error(unsigned status, std::string_view msg);
  // Maps a Status to its HTTP code and a `{"message"}` body.
  static HttpResponse FromStatus(const Status& s);
};

unsigned HttpCodeFor(Code code);

// Parses a JSON request body; a syntax error names the position.
Result<nlohmann::json> ParseJsonBody(std::string_view body);

}  // namespace oak
