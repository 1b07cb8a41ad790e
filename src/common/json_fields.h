// Typed reads of optional JSON members.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace oak {

// `j[key]` when `j` is an object holding a string there, else `fallback`.
inline std::string StringOr(const nlohmann::json& j, const char* key, std::string fallback = {}) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::move(fallback);
}

}  // namespace oak
