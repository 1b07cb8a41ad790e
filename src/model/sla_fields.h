// Internal building blocks of the SLA validator: typed field checks that name the JSON path at fault.
// Every check takes the containing object (already known to be an object) and the path of that
// object; an absent optional field is ok.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace oak::model::sla_detail {

using nlohmann::json;

enum class Need { kOptional, kRequired };

std::string Child(std::string_view path, std::string_view key);  // "a.b", or "b" at the top
std::string Item(std::string_view path, std::size_t index);       // "a[3]"
// JSON-quoted, truncated copy of user text, safe to embed in a message.
std::string Quote(std::string_view text);
oak::Status Fail(std::string_view path, std::string_view reason);

// nullptr when `key` is absent.
const json* Find(const json& obj, const char* key);

// A missing required field, or one of the wrong type, fails; `out` (if given) receives the value.
oak::Status StringField(const json& obj, const char* key, std::string_view path, Need need,
                        std::string_view* out = nullptr);
// JSON integer (not float, not string) in 0..INT64_MAX.
oak::Status CountField(const json& obj, const char* key, std::string_view path, Need need);
// Any finite JSON number; `out` is left untouched when the field is absent.
oak::Status NumberField(const json& obj, const char* key, std::string_view path, Need need,
                        double* out = nullptr);
// NumberField with value >= 0.
oak::Status NonNegativeField(const json& obj, const char* key, std::string_view path, Need need);
oak::Status BoolField(const json& obj, const char* key, std::string_view path, Need need);
// An array of strings. When `no_nul` is set, strings may not contain NUL (they reach exec/env).
oak::Status StringArrayField(const json& obj, const char* key, std::string_view path, Need need,
                             bool no_nul = false);
// Type checks that hand back the value; *out is nullptr when an optional field is absent.
oak::Status ArrayField(const json& obj, const char* key, std::string_view path, Need need, const json** out);
oak::Status ObjectField(const json& obj, const char* key, std::string_view path, Need need, const json** out);

// Checks of the `constraints` and `connectivity` arrays of one microservice (sla_constraints.cc).
oak::Status CheckConstraints(const json& ms, std::string_view ms_path);
oak::Status CheckConnectivity(const json& ms, std::string_view ms_path);

}  // namespace oak::model::sla_detail
