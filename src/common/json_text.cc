#include "common/json_text.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace oak {

void AppendJsonString(std::string& out, std::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
  });
  if (!plain) {
    out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

void AppendJsonNumber(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  const size_t from = out.size();
  fmt::format_to(std::back_inserter(out), "{}", v);
  // Stays a floating-point number for readers that tell the two apart (5.0, not 5).
  if (out.find_first_of(".eE", from) == std::string::npos) out += ".0";
}

void AppendJsonNumber(std::string& out, int64_t v) { fmt::format_to(std::back_inserter(out), "{}", v); }

}  // namespace oak
