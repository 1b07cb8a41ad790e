#include "common/http.h"

namespace oak {

unsigned HttpCodeFor(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalid: return 400;
    case Code::kUnauthorized: return 401;
    case Code::kForbidden: return 403;
    case Code::kNotFound: return 404;
    case Code::kConflict: return 409;
    case Code::kTooLarge: return 413;
    case Code::kUnavailable: return 503;
    case Code::kInternal: return 500;
    case Code::kStorage: return 507;  // Insufficient Storage (RFC 4918)
  }
  return 500;
}

HttpResponse HttpResponse::Json(unsigned status, const nlohmann::json& j) {
  HttpResponse r;
  r.status = status;
  // Replace invalid UTF-8 instead of throwing: stored strings came through validation, but a
  // response must never take the process down.
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse HttpResponse::RawJson(unsigned status, std::string json_text) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(json_text);
  return r;
}

HttpResponse HttpResponse::Text(unsigned status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

HttpResponse HttpResponse::Error(unsigned status, std::string_view msg) {
  return Json(status, nlohmann::json{{"message", msg}});
}

HttpResponse HttpResponse::FromStatus(const Status& s) {
  if (s.ok()) return Json(200, nlohmann::json::object());
  return Error(HttpCodeFor(s.code()), s.message());
}

Result<nlohmann::json> ParseJsonBody(std::string_view body) {
  if (body.empty()) return Status::Invalid("body: a JSON document is required");
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Re-parse with exceptions only to get the position; the cost is paid on bad input alone.
    try {
      auto ignored = nlohmann::json::parse(body);
      (void)ignored;
    } catch (const nlohmann::json::parse_error& e) {
      return Status::Invalid("body: malformed JSON at byte " + std::to_string(e.byte));
    }
    return Status::Invalid("body: malformed JSON");
  }
  return j;
}

}  // namespace oak
